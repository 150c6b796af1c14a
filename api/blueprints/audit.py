"""HTTP endpoints: audit."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("audit", __name__, description="audit")
