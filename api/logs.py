"""Structured JSON logs (filled in by the operations work)."""

from __future__ import annotations

from flask import Flask


def install(app: Flask) -> None:
    """Hook per-request log lines into the app."""
