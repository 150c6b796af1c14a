"""Python's cyclic garbage collector held off while a chunk of commands (or a projection
catch-up, `projections.runner`) runs.

A chunk allocates hundreds of thousands of short-lived containers (events, dicts, results),
which triggers the collector hundreds of times, and its occasional full collections walk the
whole heap, including every cached aggregate and its history. Measured on a batch of
accruals that was 20 to 35 µs per command (10 to 15% of the CPU), growing with the cache.
Almost none of it is cyclic garbage: reference counting frees it. So the collector is paused
for the chunk and runs as usual afterwards (its allocation count is then past the threshold).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    # Only the caller that paused it resumes it: a process that turned the collector off
    # for good keeps it off, and overlapping chunks in other threads merely delay it.
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
