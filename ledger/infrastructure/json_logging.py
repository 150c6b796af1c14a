"""Structured logs for every process of the service: one JSON object per line, secrets
scrubbed before anything is written.

Extra fields travel in `extra={"fields": {...}}`; a process may add context to every line
with a logging filter that sets `record.context` (the API adds the request id and route).
API keys, key hashes and database passwords never reach a line: they are never put in one,
and the formatter also masks bearer tokens, URL passwords and the configured secrets wherever
they might appear (an exception message, say).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ledger.config import Settings

MASK = "***"
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+(@)")
_HEX_DIGEST = re.compile(r"\b[0-9a-f]{64}\b")
_API_TOKEN = re.compile(r"llk_[A-Za-z0-9_-]+")
_MANAGED_MARK = "_ledger_json"


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "context", None) or {})
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return self.scrub(json.dumps(line, default=str))

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
        text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(2), text)
        text = _API_TOKEN.sub(MASK, text)
        return _HEX_DIGEST.sub(MASK, text)


def secrets_of(settings: Settings) -> list[str]:
    env = settings.persistence_env() if settings.backend == "postgres" else {}
    return [s for s in (settings.admin_key, env.get("POSTGRES_PASSWORD")) if s]


def configure(settings: Settings, *filters: logging.Filter) -> None:
    """Route every log line through one JSON handler on stderr (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _MANAGED_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets_of(settings)))
    for log_filter in filters:
        handler.addFilter(log_filter)
    setattr(handler, _MANAGED_MARK, True)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
