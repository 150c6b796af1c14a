"""HTTP endpoints: finance."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("finance", __name__, description="finance")
