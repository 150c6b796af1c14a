"""The Blueprint every API module uses: flask-smorest's, with argument schemas built once and
the problems every route may answer documented where they arise.

webargs instantiates a schema class on every request (about a tenth of a write's CPU here);
our schemas keep no per-request state, so one instance per endpoint serves every request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest
from marshmallow import Schema

from api.problems import documented_problems

V = TypeVar("V", bound=Callable[..., Any])


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    def arguments(self, schema: type[Schema] | Schema, **kwargs: Any) -> Any:
        if isinstance(schema, type):
            schema = schema()
        parse = super().arguments(schema, **kwargs)
        slugs = ["validation-error"]
        if kwargs.get("location", "json") == "json":
            slugs.append("malformed-request")
        if "min_position" in schema.fields:  # the view may wait for the projections
            slugs.append("projection-lagging")

        def decorate(view: Callable[..., Any]) -> Any:
            parsed = parse(view)
            documented_problems(parsed, *slugs)
            return parsed

        return decorate

    def route(self, rule: str, **kwargs: Any) -> Any:
        register = super().route(rule, **kwargs)

        def decorate(view: Callable[..., Any]) -> Any:
            if "<" in rule:  # the path names a resource, which may not exist
                documented_problems(view, "not-found")
            return register(view)

        return decorate

    @staticmethod
    def problems(*slugs: str) -> Callable[[V], V]:
        """Document the problems a view's own rules may answer (besides those of its route,
        arguments and roles, which document themselves)."""

        def decorate(view: V) -> V:
            documented_problems(view, *slugs)
            return view

        return decorate
