"""`loyalty-ledger import`: a partner's batch file, streamed in chunks through the ledger.

The file is read line by line (millions of lines never sit in memory), each chunk goes
through the same path as `POST /v1/batches`, and each input line gets one result line: a
line that is not valid JSON, nested too deep or that repeats a key is a result with its
problem, like an operation the ledger refused, and the other lines still apply.

Lines are read as request bodies are (`api.json_body`: orjson for a flat object, strictly)
and results written with orjson where it gives exactly what the json module gives.

The progress bar counts operations. Each command's log line is at DEBUG here: the results
file has every outcome, and a line per operation on the terminal would bury the bar; any
other log line is written above the bar (`logging_redirect_tqdm`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from api import json_body
from api.fields import ascii_json
from api.problems import Problem
from api.writes import numbered, run_batch
from ledger.application import Ledger

_BLOCK = 1 << 20


@dataclass
class ImportSummary:
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def rejected(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 400)

    def describe(self) -> str:
        by_status = ", ".join(f"{n} x {status}" for status, n in sorted(self.statuses.items()))
        return f"{self.total} operations ({by_status or 'none'})"


def parse_line(line: bytes, index: int) -> Any:
    """The line's JSON value, or the Problem that refuses it (naming the line's index)."""
    try:
        return json_body.loads(line)
    except Problem as problem:
        return Problem(problem.slug, f"Line at index {index}: {problem.detail}", problem.errors)


def result_line(result: dict[str, Any]) -> bytes:
    """`json.dumps(result, separators=(",", ":"))` and a newline, as UTF-8."""
    return ascii_json(result) + b"\n"


def count_operations(source: Path) -> int:
    """The file's non-blank lines (the bar's total), counted before the import."""
    with source.open("rb") as stream:
        return sum(1 for line in stream if line.strip())


def read_operations(stream: BinaryIO) -> Iterator[tuple[int, Any]]:
    """(line index, parsed object or the Problem of an unreadable line); blank lines skipped."""
    for index, line in enumerate(stream):
        if line.strip():
            yield index, parse_line(line, index)


def import_file(
    ledger: Ledger, partner_id: str, source: Path, results: Path, chunk_size: int = 1000
) -> ImportSummary:
    summary = ImportSummary()
    total = count_operations(source)
    with (
        source.open("rb", buffering=_BLOCK) as stream,
        results.open("wb") as out,
        logging_redirect_tqdm(),
        tqdm(total=total, unit=" operations", desc=source.name) as bar,
    ):
        operations = read_operations(stream)
        while chunk := list(islice(operations, chunk_size)):
            outcomes = run_batch(ledger, [raw for _, raw in chunk], partner_id, logging.DEBUG)
            for result in numbered(outcomes, [index for index, _ in chunk]):
                summary.statuses[result["status"]] += 1
                out.write(result_line(result))
            bar.update(len(chunk))
    return summary
