"""HTTP endpoints: queries."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("queries", __name__, description="queries")
