"""HTTP endpoints: operations."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("operations", __name__, description="operations")
