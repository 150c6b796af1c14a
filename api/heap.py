"""The garbage collector of a serving process, tuned for a heap of long-lived aggregates.

An HTTP worker keeps thousands of cached aggregates alive, and every request allocates a few
thousand short-lived containers that reference counting frees. With the default thresholds
the collector ran about 200 times per worker in a 25 s `bench.http_load` run (0.4-0.5 s in
all), and its full collections walked the whole cache: 50 to 180 ms with every thread of the
worker stopped, which is what a request's p99 sees. With what the app loaded frozen and the
young generation collected less often, it ran 5 or 6 times (0.2-0.3 s in all). Young cyclic
garbage (an exception and its traceback, say) is still found by the young collections.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000
MIDDLE_THRESHOLD = 50
OLD_THRESHOLD = 100


def settle_for_serving() -> None:
    """Call once the app is loaded, in the process that serves it."""
    gc.collect()
    gc.freeze()  # modules, schemas and routes live as long as the process
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
