"""One thread that takes whatever callers have handed over and processes it as one group.

Callers block until their own item is done. While a group is being processed the next
callers queue up, so groups grow with load by themselves: one caller alone is processed at
once, a hundred concurrent ones share one round trip. Used for commits
(`ledger/infrastructure/group_commit.py`) and whole commands
(`ledger/infrastructure/group_execution.py`).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")


@dataclass
class Waiting(Generic[Item]):
    item: Item
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self.done.set()


class Grouper(Generic[Item]):
    thread_name = "grouper"

    def __init__(self, max_group: int) -> None:
        self._max_group = max_group
        self._queue: queue.SimpleQueue[Waiting[Item]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def _submit(self, item: Item) -> Any:
        """Hand `item` over and block until its group is processed; its result or error."""
        waiting = Waiting(item)
        self._ensure_thread()
        self._queue.put(waiting)
        waiting.done.wait()
        if waiting.error is not None:
            raise waiting.error
        return waiting.result

    def _process(self, group: list[Waiting[Item]]) -> None:
        """Finish every member of the group."""
        raise NotImplementedError

    def _ensure_thread(self) -> None:
        # Started on first use, so a process forked after construction gets its own thread.
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name=self.thread_name, daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]
            while len(group) < self._max_group:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._process(group)
            except BaseException as error:  # e.g. the store is down: every waiter hears it
                for waiting in group:
                    if not waiting.done.is_set():
                        waiting.finish(error=error)
