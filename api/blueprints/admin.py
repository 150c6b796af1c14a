"""HTTP endpoints: admin."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("admin", __name__, description="admin")
