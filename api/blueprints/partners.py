"""HTTP endpoints: partners."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("partners", __name__, description="partners")
