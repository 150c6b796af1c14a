"""A regular (non-editable) install carries everything `serve` and `migrate` read from disk."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_every_migration(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("loyalty_ledger-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    in_repository = {
        path.relative_to(ROOT).as_posix() for path in (ROOT / "migrations").rglob("*.sql")
    }
    assert {"migrations/postgresql/0001_events.sql", "migrations/sqlite/0001_events.sql"} <= (
        in_repository
    )
    assert {name for name in names if name.startswith("migrations/")} == in_repository | {
        "migrations/__init__.py"
    }
