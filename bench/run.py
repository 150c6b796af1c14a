"""One command, every figure from one run, each beside the reference measured in the same run.

    .venv/bin/python -m bench.run [--seconds 10] [--catchup-events 1000000]

Needs the local PostgreSQL (LEDGER_BENCH_PG_ADMIN_URL), pgbench and wrk.
"""

from __future__ import annotations

import argparse
import platform
import subprocess

from bench import (
    contention,
    http_load,
    import_load,
    ledger_write,
    projections_catchup,
    raw_postgres,
    stock_eventsourcing,
)
from bench.common import Figure


def _machine() -> str:
    cpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    mem = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.split("\n")[1]
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{platform.platform()}, {cpu} cores, {mem.split()[1]} GiB, {pg}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--catchup-events", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=10_000)
    args = parser.parse_args()

    print(f"machine: {_machine()}", flush=True)
    raw = raw_postgres.measure(args.seconds)
    single_ref = raw[0].value
    figures: list[tuple[Figure, str]] = [(f, "reference") for f in raw]
    for figure in stock_eventsourcing.measure(args.seconds):
        figures.append((figure, f"{figure.value / single_ref:.2f} x raw single commits"))
    http = http_load.measure(args.seconds)
    figures.append(
        (http[0], f"{http[0].value / single_ref:.2f} x raw single commits (target >= 0.30)")
    )
    batch = ledger_write.batch_throughput_figure()
    figures.append((batch, f"{batch.value / single_ref:.2f} x raw single commits (target >= 1.5)"))
    for figure in import_load.measure():
        figures.append(
            (figure, f"{figure.value / single_ref:.2f} x raw single commits (target >= 1.5)")
        )
    figures.extend(contention.measure())
    catchup, catchup_rss = projections_catchup.measure(args.catchup_events)
    figures.append((catchup, "target >= 20,000 events/s"))
    figures.append((catchup_rss, "target < 300 MB"))
    figures.append((http[1], "target p99 < 20 ms"))
    figures.append((http[2], "target p99 < 20 ms"))
    for figure in ledger_write.history_figures(args.history):
        figures.append((figure, figure.note))
    figures.append((http[3], "target < 200 MB"))

    width = max(len(f.name) for f, _ in figures)
    print()
    for figure, comparison in figures:
        note = f"  [{figure.note}]" if figure.note and figure.note != comparison else ""
        print(
            f"{figure.name:<{width}}  {figure.value:>12,.1f} {figure.unit:<11} {comparison}{note}",
            flush=True,
        )


if __name__ == "__main__":
    main()
