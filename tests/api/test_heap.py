"""A serving process collects garbage rarely, with what the app loaded frozen."""

from __future__ import annotations

import subprocess
import sys


def test_settling_freezes_the_loaded_app_and_raises_the_thresholds(tmp_path: object) -> None:
    script = (
        "import gc\n"
        "from api.app import create_app\n"
        "from api.heap import settle_for_serving\n"
        "from ledger.config import Settings\n"
        f"create_app(Settings(database_url='sqlite:///{tmp_path}/ledger.sqlite'))\n"
        "settle_for_serving()\n"
        "print(gc.get_threshold(), gc.get_freeze_count() > 10000)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "(2000, 50, 100) True"
