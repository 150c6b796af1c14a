"""Child processes that die with their parent, even when the parent is killed with SIGKILL.

`serve`'s background process and the projection worker's helpers hold projection locks (a
PostgreSQL advisory lock, a lock file on SQLite). One that outlived its parent would keep
holding them, and the runner of a restarted `serve` would stand by behind a process nobody
manages. So the parent starts each child with a pipe on its stdin: the settings as one JSON
line (they may hold secrets that have no place in argv), then nothing more, the pipe held open
for as long as the parent lives. However the parent dies, the kernel closes its end, and the
child reads end-of-file. That works on any POSIX system; on Linux the child also asks for a
SIGTERM when its parent dies (PR_SET_PDEATHSIG), which reaches it even while it is busy.

Either way the child stops as it would on SIGTERM, and exits hard if that takes longer than
`ORPHAN_GRACE_SECONDS` (its projection batches are exactly-once, so dying mid-batch is safe).

Stop requests reach the process's `stop` from a thread of this module, never from a signal
handler. Python runs a handler in the main thread between two of its bytecodes, possibly
inside `threading.Event.set`, whose lock is not reentrant: a second SIGTERM arriving while the
first one's `set` held it blocked the main thread on itself for good, and with it every other
thread calling `stop` (the hard exit's too). Two SIGTERMs close together are the usual case for
a helper: the parent-death signal fires when the *thread* that started the child ends, and a
worker's projections thread ends just before the worker terminates its helpers.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence

from ledger.config import Settings

log = logging.getLogger("projections.lifeline")
ORPHAN_GRACE_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1


def spawn(command: Sequence[str], settings: Settings) -> subprocess.Popen[bytes]:
    """Start `command` as a child that reads `settings` and then watches its stdin."""
    process = subprocess.Popen(list(command), stdin=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write(json.dumps(dataclasses.asdict(settings)).encode() + b"\n")
    process.stdin.flush()
    return process


def release(process: subprocess.Popen[bytes]) -> None:
    """Close the parent's end of an exited child's pipe."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()


def read_settings() -> Settings:
    """The child's side of `spawn`: the settings line its parent wrote."""
    return Settings(**json.loads(sys.stdin.buffer.readline()))


def on_stop_signals(stop: Callable[[int], None]) -> None:
    """Call `stop(signum)` for each SIGTERM and SIGINT, from a thread of its own.

    Call it from the main thread (where Python installs signal handlers)."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)

    def note(signum: int, frame: object) -> None:
        # os.write takes no lock, so it is safe wherever the handler interrupts the main thread
        # (and a full pipe holds requests enough).
        with contextlib.suppress(BlockingIOError):
            os.write(write_end, bytes([signum]))

    for signum in (signal.SIGTERM, signal.SIGINT):  # (Ctrl-C reaches the whole group)
        signal.signal(signum, note)
    threading.Thread(target=_relay, args=(read_end, stop), name="stop-signals", daemon=True).start()


def _relay(read_end: int, stop: Callable[[int], None]) -> None:
    while True:
        for signum in os.read(read_end, 64):
            stop(signum)


def watch_parent(stop: Callable[[], None]) -> None:
    """Call `stop` on SIGTERM or SIGINT, and once the parent is gone (then exit hard after the
    grace period), always from a thread of its own.

    Call it after `read_settings`, from the main thread."""
    parent = os.getppid()
    on_stop_signals(lambda signum: stop())
    # The parent-death signal (Linux) is a SIGTERM: it reaches `stop` as the others do.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    threading.Thread(target=_await_eof, args=(parent, stop), name="lifeline", daemon=True).start()


def _await_eof(parent: int, stop: Callable[[], None]) -> None:
    # The file descriptor, not sys.stdin: a thread blocked in a buffered read holds its lock,
    # and the interpreter's shutdown aborts on that lock.
    with contextlib.suppress(OSError):
        while os.read(sys.stdin.fileno(), 4096):
            pass  # the parent writes nothing more; anything read is ignored
    log.warning("parent process %s is gone; stopping", parent)
    # Counted from before `stop` is called: the bound holds whatever `stop` waits on.
    deadline = threading.Timer(ORPHAN_GRACE_SECONDS, _exit_late)
    deadline.daemon = True
    deadline.start()
    stop()


def _exit_late() -> None:
    log.error("did not stop within %s s of its parent's death; exiting", ORPHAN_GRACE_SECONDS)
    os._exit(1)
