"""The Blueprint every API module uses: flask-smorest's, with argument schemas built once.

webargs instantiates a schema class on every request (about a tenth of a write's CPU here);
our schemas keep no per-request state, so one instance per endpoint serves every request.
"""

from __future__ import annotations

from typing import Any

import flask_smorest
from marshmallow import Schema


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    def arguments(self, schema: type[Schema] | Schema, **kwargs: Any) -> Any:
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, **kwargs)
