"""The README's first calls, run exactly as written against a real `serve`, on both backends.

Every code block of the section "First calls (curl)" runs, in order, in one bash shell in the
directory where `serve` runs (with `.venv` there, as after the README's set-up command). A
command followed by `# → ` lines must print what they show (`...` matches any text, across
lines); any other command must print nothing. So the README cannot promise what the service
does not do.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.system.test_serve_http import Service, start_service

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## First calls (curl)"
SHOWN = "# → "
SHOWN_MORE = "#   "


@dataclass
class Step:
    command: str
    shown: list[str]

    def matches(self, output: str) -> bool:
        pattern = ".*?".join(re.escape(part) for part in "\n".join(self.shown).split("..."))
        return re.fullmatch(pattern, output, re.DOTALL) is not None


def section_blocks(text: str, title: str) -> list[list[str]]:
    """The indented code blocks of a section, each as its lines without the indent."""
    body = text.split(title, 1)[1].split("\n## ", 1)[0]
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in body.splitlines():
        if line.startswith("    "):
            if current is None:
                current = []
                blocks.append(current)
            current.append(line[4:])
        elif line.strip() and current is not None:
            current = None
    return blocks


def steps_of(lines: list[str]) -> list[Step]:
    """Commands (a line, plus the more indented lines that continue it) and what they print;
    other comment lines only explain."""
    steps: list[Step] = []
    for line in lines:
        if line.startswith(SHOWN):
            steps[-1].shown.append(line[len(SHOWN) :])
        elif line.startswith(SHOWN_MORE) and steps and steps[-1].shown:
            steps[-1].shown.append(line[len(SHOWN_MORE) :])
        elif line.startswith("#") or not line.strip():
            continue
        elif line.startswith(" "):
            steps[-1].command += "\n" + line
        else:
            steps.append(Step(line, []))
    return steps


def run_steps(steps: list[Step], service: Service) -> list[tuple[int, str]]:
    """Each step's exit status and standard output, from one shell session."""
    script = "".join(
        f"printf '\\n@@step {i}@@\\n'\n{step.command}\nprintf '\\n@@status %d@@' $?\n"
        for i, step in enumerate(steps)
    )
    port = service.base.rsplit(":", 1)[1]
    env = {**service.env, "API": f"http://localhost:{port}"}
    done = subprocess.run(
        ["bash", "-c", script], cwd=service.cwd, env=env, capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode()
    output = done.stdout.decode().replace("\r\n", "\n")
    results = []
    for i in range(len(steps)):
        chunk = output.split(f"\n@@step {i}@@\n", 1)[1].split("\n@@step ", 1)[0]
        printed, _, status = chunk.rpartition("\n@@status ")
        results.append((int(status.removesuffix("@@")), printed))
    return results


def test_the_readme_promises_what_the_first_calls_show() -> None:
    steps = [
        step for block in section_blocks(README.read_text(), SECTION) for step in steps_of(block)
    ]
    shown = "\n".join(line for step in steps for line in step.shown)
    # The promises this test exists for: they must stay in the README.
    assert shown.count("HTTP/1.1 201 CREATED") == 4 and "HTTP/1.1 409 CONFLICT" in shown
    assert "HTTP/1.1 200 OK" in shown and "Idempotent-Replayed: true" in shown
    assert '"available":22' in shown and '"available":42' in shown


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Service:
    """`serve` in a fresh directory holding `.venv`, as after the README's set-up command;
    on SQLite with the default database URL (./var/ledger.sqlite in that directory)."""
    venv = Path(sys.executable).parent.parent
    assert (venv / "bin" / "loyalty-ledger").exists(), f"no console script in {venv}"
    (tmp_path / ".venv").symlink_to(venv)
    if request.param == "sqlite":
        url = "sqlite:///./var/ledger.sqlite"
    else:
        url = request.getfixturevalue("pg_url")
    return start_service(url, tmp_path)


def test_the_first_calls_run_as_written(served: Service) -> None:
    steps = [
        step for block in section_blocks(README.read_text(), SECTION) for step in steps_of(block)
    ]
    try:
        results = run_steps(steps, served)
    finally:
        served.stop()
    for step, (status, printed) in zip(steps, results, strict=True):
        assert status == 0, (step.command, printed)
        if step.shown:
            assert step.matches(printed.rstrip("\n")), (step.command, step.shown, printed)
        else:
            assert printed == "", (step.command, printed)
    if served.env["LEDGER_DATABASE_URL"].startswith("sqlite:///./"):
        assert (served.cwd / "var" / "ledger.sqlite").exists()
