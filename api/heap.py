"""The garbage collector of a serving process, tuned for a heap of long-lived aggregates.

An HTTP worker keeps thousands of cached aggregates alive, and every request leaves a few
dozen objects in reference cycles (werkzeug's router and its request/environ pair make some
on every request), which only the collector frees. With the default thresholds the collector
ran about 200 times per worker in a 25 s `bench.http_load` run, and its frequent full
collections walked the whole cache: 50 to 180 ms with every thread of the worker stopped. So
what the app loaded is frozen, and the older generations are collected rarely.

The young generation is collected every 2,000 net allocations: a young collection walks what
was allocated since the last one, so its pause grows with the threshold. At 20,000 the
pauses under `bench.http_load` were 14 to 240 ms of wall time with the CPU saturated, at
2,000 they are 6 to 33 ms, for about the same collector CPU in all.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 2_000
MIDDLE_THRESHOLD = 50
OLD_THRESHOLD = 100


def settle_for_serving() -> None:
    """Call once the app is loaded, in the process that serves it."""
    gc.collect()
    gc.freeze()  # modules, schemas and routes live as long as the process
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
