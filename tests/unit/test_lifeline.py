"""projections.lifeline: SIGTERM and SIGINT reach `stop` from a thread of their own.

Each case runs in a process of its own (it installs signal handlers for the whole process).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The main thread holds the lock that `stop` takes (as it holds `threading.Event`'s inside
# `set`) when the signals come: a handler that called `stop` itself would wait for it forever.
SIGNALLED_INSIDE_STOPS_LOCK = """
import os, signal, threading, time
from projections import lifeline

guard = threading.Lock()
stopped = threading.Event()
calls = []

def stop(signum):
    with guard:
        calls.append((signal.Signals(signum).name, threading.current_thread().name))
        stopped.set()

lifeline.on_stop_signals(stop)
with guard:
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.2)  # the handlers run in this thread before the sleep ends
print(stopped.wait(10), sorted(calls))
"""


def test_signals_reach_stop_outside_the_handler_while_the_main_thread_holds_its_lock() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SIGNALLED_INSIDE_STOPS_LOCK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "True [('SIGINT', 'stop-signals'), ('SIGTERM', 'stop-signals')]\n"
