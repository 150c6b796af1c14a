"""What strict JSON (`api.json_body`: nesting limit, repeated keys named) costs against the
json module, which read request bodies before, and orjson, which read import lines.

Two bodies: a POST /v1/batches body of 10,000 accruals, and one `import` line.

    .venv/bin/python -m bench.json_body [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import orjson

from api import json_body
from bench.common import Figure


def _accrual(i: int) -> dict[str, str]:
    return {
        "op": "accrue",
        "transaction_id": f"t{i}",
        "member_id": f"m{i % 100}",
        "amount": "12.50",
        "currency": "EUR",
        "occurred_at": "2026-11-22T13:45:01.123456Z",
    }


def _microseconds(read: Callable[[bytes], object], data: bytes, seconds: float) -> float:
    calls = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        read(data)
        calls += 1
    return elapsed / calls * 1e6


def measure(seconds: float = 3.0) -> list[Figure]:
    batch = json.dumps({"operations": [_accrual(i) for i in range(10_000)]}).encode()
    line = json.dumps(_accrual(0)).encode()
    readers: list[tuple[str, Callable[[bytes], object]]] = [
        ("json_body.loads", json_body.loads),
        ("json.loads", json.loads),
        ("orjson.loads", orjson.loads),
    ]
    figures = []
    for body_name, data, unit, scale in (
        ("10,000-operation batch body", batch, "ms", 1e-3),
        ("import line", line, "us", 1.0),
    ):
        for reader_name, read in readers:
            value = _microseconds(read, data, seconds) * scale
            figures.append(Figure(f"{reader_name}, {body_name}", value, unit))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    for figure in measure(args.seconds):
        print(f"{figure.name:<45} {figure.value:>10,.2f} {figure.unit}", flush=True)


if __name__ == "__main__":
    main()
