"""The building blocks of `bench.contention` work: its batch clients against a real `serve` on
PostgreSQL, its count of recorded accruals, and the reading of wrk's figures (no timings)."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.contention import accruals_recorded, batch_clients
from bench.http_load import parse_wrk, running_server, seed

# wrk 4.1's summary, as it prints it when stopped by SIGINT.
WRK_SUMMARY = """Running 15m test @ http://127.0.0.1:40000
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    45.12ms   30.01ms 301.20ms   80.00%
    Req/Sec   170.00     40.00   250.00     70.00%
  Latency Distribution
     50%   36.50ms
     75%   50.00ms
     90%   80.00ms
     99%    1.20s
  10110 requests in 30.50s, 8.10MB read
  Non-2xx or 3xx responses: 7
Requests/sec:    331.48
Transfer/sec:    271.94KB
"""


def test_wrk_summary_is_read() -> None:
    assert parse_wrk(WRK_SUMMARY) == {
        "rps": 331.48,
        "requests": 10110.0,
        "p50": 36.5,
        "p99": 1200.0,
        "non2xx": 7.0,
        "socket_errors": 0.0,
    }


@pytest.mark.slow
@pytest.mark.postgres
def test_batch_clients_record_every_accrual(pg_url: str) -> None:
    with running_server(pg_url, workers=1) as (base, _):
        token = seed(base, members=5)
        clients = batch_clients(base, token, ["first", "second"], 2, 10, 5)
        assert accruals_recorded(pg_url) == 0
        for client in clients:
            client.run()
        assert accruals_recorded(pg_url) == 40
    assert [client.statuses for client in clients] == [Counter({201: 20})] * 2
    assert [client.accrued for client in clients] == [20, 20]
    assert [len(client.seconds) for client in clients] == [2, 2]
