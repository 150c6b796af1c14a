"""The write side is complete on its own: a process that imports only `ledger` writes, and
answers a replay with the original's log position, without loading projections/, api/ or
Flask."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import json, sys
from ledger.application import Ledger
from ledger.commands import Enroll
from ledger.config import Settings

ledger = Ledger(settings=Settings(database_url=sys.argv[1], log_level="WARNING"))
first = ledger.execute(Enroll(member_id="m1"))
again = ledger.execute(Enroll(member_id="m1"))
ledger.close()
loaded = {name.partition(".")[0] for name in sys.modules}
print(json.dumps({
    "answers": [[first.replayed, first.position], [again.replayed, again.position]],
    "loaded": sorted(loaded & {"projections", "api", "flask"}),
}))
"""


def test_a_ledger_writes_and_answers_a_replay_without_the_read_side(database_url: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", WRITER, database_url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    # The enrollment's events, then its transaction key at position 2, which answers both.
    assert json.loads(run.stdout.splitlines()[-1]) == {
        "answers": [[False, 2], [True, 2]],
        "loaded": [],
    }
