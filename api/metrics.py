"""Prometheus metrics (filled in by the operations work)."""

from __future__ import annotations

from flask import Flask


def install(app: Flask) -> None:
    """Hook request metrics into the app."""
