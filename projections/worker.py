"""The projection worker that `serve` and `loyalty-ledger project` run.

Interface used by the API and the command line:
    worker = ProjectionWorker(settings); worker.start(); ...; worker.stop()
    worker.wait_for(position, timeout) -> bool   # True once every projection applied it
"""

from __future__ import annotations

from ledger.config import Settings


class ProjectionWorker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def start(self) -> None:
        raise NotImplementedError("projection worker not built yet")

    def stop(self) -> None:
        raise NotImplementedError("projection worker not built yet")

    def wait_for(self, position: int, timeout: float) -> bool:
        raise NotImplementedError("projection worker not built yet")
