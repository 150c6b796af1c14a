"""The Blueprint every API module uses: flask-smorest's, with argument schemas built once,
strict JSON bodies, the query parameters each endpoint accepts, and the problems every route
may answer documented where they arise.

webargs instantiates a schema class on every request (about a tenth of a write's CPU here);
our schemas keep no per-request state, so one instance per endpoint serves every request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import flask
import flask_smorest
from marshmallow import Schema
from webargs import core
from webargs.flaskparser import FlaskParser

from api import json_body
from api.problems import Problem, documented_problems

JSON = "application/json"
V = TypeVar("V", bound=Callable[..., Any])


class StrictParser(FlaskParser):
    """webargs' Flask parser, reading a body only as strict JSON (`api.json_body`).

    A body in another media type is 415, not a 422 that lists every field as missing; an
    empty body is no body, for the schema to judge (an action without parameters).
    """

    def _raw_load_json(self, req: flask.Request) -> Any:
        data = req.get_data(cache=True)
        if not data:
            return core.missing
        if req.mimetype != JSON:
            raise Problem(
                "unsupported-media-type",
                f"The body must be {JSON}, not {req.mimetype or 'without a Content-Type'}.",
            )
        return json_body.loads(data)


# ------------------------------------------------------------ query parameters

_QUERY_PARAMETERS = "query_parameters"


def accepts_query(*names: str) -> Callable[[V], V]:
    """Declare the query parameters a view accepts; any other is refused with 422 (a typo
    such as `?days=30` for `within_days` must not answer as if it were not there). A view
    that declares none accepts none. `Blueprint.arguments(..., location="query")` declares
    its schema's parameters through this."""

    def decorate(view: V) -> V:
        declared: frozenset[str] = getattr(view, _QUERY_PARAMETERS, frozenset())
        setattr(view, _QUERY_PARAMETERS, declared | frozenset(names))
        return view

    return decorate


def accepted_query(view: Callable[..., Any] | None) -> frozenset[str]:
    return frozenset(getattr(view, _QUERY_PARAMETERS, frozenset()))


def check_query_parameters() -> None:
    """The request's query parameters are all ones its endpoint accepts (else 422)."""
    if not flask.request.args or flask.request.endpoint is None:
        return
    view = flask.current_app.view_functions.get(flask.request.endpoint)
    unknown = sorted(set(flask.request.args) - accepted_query(view))
    if unknown:
        raise Problem(
            "validation-error",
            f"Unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.",
            {name: ["Unknown query parameter."] for name in unknown},
        )


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    ARGUMENTS_PARSER = StrictParser()

    def arguments(self, schema: type[Schema] | Schema, **kwargs: Any) -> Any:
        if isinstance(schema, type):
            schema = schema()
        parse = super().arguments(schema, **kwargs)
        location = kwargs.get("location", "json")
        slugs = ["validation-error"]
        if location == "json":
            slugs += ["malformed-request", "unsupported-media-type"]
        if "min_position" in schema.fields:  # the view may wait for the projections
            slugs.append("projection-lagging")
        names = [field.data_key or name for name, field in schema.load_fields.items()]

        def decorate(view: Callable[..., Any]) -> Any:
            parsed = parse(view)
            if location == "query":
                accepts_query(*names)(parsed)
            documented_problems(parsed, *slugs)
            return parsed

        return decorate

    def route(self, rule: str, **kwargs: Any) -> Any:
        register = super().route(rule, **kwargs)

        def decorate(view: Callable[..., Any]) -> Any:
            if "<" in rule:  # the path names a resource, which may not exist
                documented_problems(view, "not-found")
            documented_problems(view, "validation-error")  # an unknown query parameter
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
