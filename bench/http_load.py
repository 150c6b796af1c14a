"""`loyalty-ledger serve` on PostgreSQL under wrk: accruals/s, latency, reads under load, RSS."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import requests

from bench.common import Figure, fresh_database
from bench.cpu import backend_cpu_seconds, process_cpu_seconds, tree_cpu_seconds

ADMIN = "bench-admin-key"
BALANCE_ROUTE = "/v1/members/<member_id>/balance"
_BUCKET = re.compile(r"ledger_http_request_duration_seconds_bucket\{([^}]*)\} (\S+)")
HERE = Path(__file__).parent
CLI = str(Path(sys.executable).parent / "loyalty-ledger")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(url: str, workers: int) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": url,
        "LEDGER_ADMIN_KEY": ADMIN,
        "LEDGER_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [CLI, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(base + "/readyz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.1)
    try:
        yield base, process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def seed(base: str, members: int) -> str:
    admin = _headers(ADMIN)
    requests.post(
        base + "/v1/partners",
        headers=admin,
        timeout=10,
        json={
            "partner_id": "bench-shop",
            "name": "Bench Shop",
            "currency": "EUR",
            "earn_rate": "1",
            "funding_rate": "0.01",
            "reimbursement_rate": "0.008",
            "pending_days": 0,
        },
    ).raise_for_status()
    key = requests.post(
        base + "/v1/keys",
        headers=admin,
        timeout=10,
        json={"role": "partner", "partner_id": "bench-shop", "name": "bench"},
    ).json()["key"]
    for start in range(0, members, 5000):
        ops = [
            {"op": "enroll", "member_id": f"bm{i}"}
            for i in range(start, min(members, start + 5000))
        ]
        requests.post(
            base + "/v1/batches", headers=_headers(key), json={"operations": ops}, timeout=300
        ).raise_for_status()
    return str(key)


def wrk_command(base: str, script: str, seconds: int, connections: int) -> list[str]:
    return [
        "wrk",
        "-t",
        str(min(2, connections)),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--latency",
        "-s",
        str(HERE / "wrk" / script),
        base,
    ]


def wrk_env(token: str, members: int, run: str, delay_ms: int) -> dict[str, str]:
    return {
        **os.environ,
        "BENCH_TOKEN": token,
        "BENCH_MEMBERS": str(members),
        "BENCH_OCCURRED_AT": datetime.now(UTC).isoformat(),
        "BENCH_RUN": run,
        "BENCH_DELAY_MS": str(delay_ms),
    }


def wrk(
    base: str,
    script: str,
    token: str,
    members: int,
    seconds: int,
    connections: int,
    run: str,
    delay_ms: int = 0,
) -> dict[str, float]:
    out = subprocess.run(
        wrk_command(base, script, seconds, connections),
        env=wrk_env(token, members, run, delay_ms),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> dict[str, float]:
    figures = {"rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))}  # type: ignore[union-attr]
    figures["requests"] = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    for label, key in (("50%", "p50"), ("99%", "p99")):
        match = re.search(rf"{re.escape(label)}\s+([0-9.]+)(us|ms|s)", out)
        assert match, out
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        figures[key] = float(match.group(1)) * scale
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non2xx"] = float(non2xx.group(1)) if non2xx else 0.0
    errors = re.search(r"Socket errors: (.*)", out)
    figures["socket_errors"] = (
        0.0 if not errors else float(sum(int(n) for n in re.findall(r"\d+", errors.group(1))))
    )
    return figures


def _handler_buckets(base: str, route: str) -> dict[float, float]:
    """The server's own request-duration histogram for one route: cumulative count by bound."""
    buckets: dict[float, float] = {}
    for labels, value in _BUCKET.findall(requests.get(base + "/metrics", timeout=10).text):
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if pairs.get("route") == route:
            buckets[float(pairs["le"])] = float(value)
    return buckets


def _handler_p99_ms(before: dict[float, float], after: dict[float, float]) -> float:
    """The bucket bound under which 99% of the requests between two readings were answered."""
    total = after[float("inf")] - before.get(float("inf"), 0.0)
    return next(
        bound * 1000
        for bound in sorted(after)
        if after[bound] - before.get(bound, 0.0) >= 0.99 * total
    )


def _reads_while_writing(
    base: str,
    token: str,
    members: int,
    seconds: int,
    write_delay_ms: int,
    read_delay_ms: int,
) -> tuple[dict[str, float], dict[str, float]]:
    """Balance reads (8 connections, or 4 when paced) beside accruals (8 connections).

    The reads' figures include `handler_p99_ms` from the server's histogram: wrk's latency
    also holds the time a request waits, outside the handler, for a core or a thread."""
    handled = _handler_buckets(base, BALANCE_ROUTE)
    writes = subprocess.Popen(
        wrk_command(base, "accruals.lua", seconds + 2, 8),
        env=wrk_env(token, members, f"w{write_delay_ms}", write_delay_ms),
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)  # reads start once writes are under way, and end before them
    reads = wrk(
        base, "balances.lua", ADMIN, members, seconds, 4 if read_delay_ms else 8, "r", read_delay_ms
    )
    out, _ = writes.communicate()
    reads["handler_p99_ms"] = _handler_p99_ms(handled, _handler_buckets(base, BALANCE_ROUTE))
    return reads, parse_wrk(out)


def worker_rss_mb(server: subprocess.Popen[bytes]) -> float:
    children = subprocess.run(
        ["pgrep", "-P", str(server.pid)], capture_output=True, text=True
    ).stdout.split()
    peak = 0.0
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        if match:
            peak = max(peak, int(match.group(1)) / 1024)
    return peak


def _cpu_by_process_kind(server: subprocess.Popen[bytes], url: str) -> dict[str, float]:
    """CPU seconds so far of the HTTP workers, the projection processes and PostgreSQL."""
    children = subprocess.run(
        ["pgrep", "-P", str(server.pid)], capture_output=True, text=True
    ).stdout.split()
    background = [
        int(pid) for pid in children if "api.serve" in Path(f"/proc/{pid}/cmdline").read_text()
    ]
    http = [int(pid) for pid in children if int(pid) not in background]
    return {
        "http": sum(process_cpu_seconds(pid) for pid in http),
        "projections": sum(tree_cpu_seconds(pid) for pid in background),
        "postgres": sum(backend_cpu_seconds(url.rsplit("/", 1)[1]).values()),
    }


def measure(
    seconds: int = 10, members: int = 1000, workers: int = 2, connections: int = 16
) -> list[Figure]:
    with fresh_database() as url, running_server(url, workers) as (base, server):
        token = seed(base, members)
        time.sleep(2)  # let the projections take in the seeding
        before = _cpu_by_process_kind(server, url)
        writes = wrk(base, "accruals.lua", token, members, seconds, connections, "a")
        after = _cpu_by_process_kind(server, url)
        accruals = writes["rps"] * seconds
        cpu_ms = {kind: (after[kind] - before[kind]) / accruals * 1000 for kind in after}
        # As many reads and writes as 8 connections each can push: the CPU is saturated.
        reads, reads_writes = _reads_while_writing(base, token, members, seconds, 0, 0)
        # Reads and writes at a steady rate the machine sustains: 8 write connections pausing
        # 40 ms between requests, 4 read connections pausing 20 ms.
        paced, paced_writes = _reads_while_writing(base, token, members, seconds, 40, 20)
        rss = worker_rss_mb(server)
    return [
        Figure(
            f"POST /v1/accruals via serve ({connections} connections)",
            writes["rps"],
            "accruals/s",
            f"p50 {writes['p50']:.1f} ms, p99 {writes['p99']:.1f} ms, "
            f"non-2xx {writes['non2xx']:.0f}, socket errors {writes['socket_errors']:.0f}; "
            "CPU ms per accrual: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu_ms.items()),
        ),
        Figure(
            "GET balance p99 while accruals run (saturated)",
            reads["p99"],
            "ms",
            f"p50 {reads['p50']:.1f} ms, handler p99 <= {reads['handler_p99_ms']:.0f} ms, "
            f"{reads['rps']:.0f} reads/s beside "
            f"{reads_writes['rps']:.0f} accruals/s, non-2xx "
            f"{reads['non2xx'] + reads_writes['non2xx']:.0f}",
        ),
        Figure(
            "GET balance p99 while accruals run (steady rate)",
            paced["p99"],
            "ms",
            f"p50 {paced['p50']:.1f} ms, handler p99 <= {paced['handler_p99_ms']:.0f} ms, "
            f"{paced['rps']:.0f} reads/s beside "
            f"{paced_writes['rps']:.0f} accruals/s, non-2xx "
            f"{paced['non2xx'] + paced_writes['non2xx']:.0f}",
        ),
        Figure("peak RSS of an HTTP worker", rss, "MB"),
    ]


if __name__ == "__main__":
    for figure in measure():
        print(json.dumps(figure.__dict__))
