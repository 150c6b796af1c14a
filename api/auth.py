"""Bearer API keys and roles. A view names the roles it admits; `g.principal` is the caller."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import current_app, g, request

from api.problems import Problem, documented_problems
from ledger.access import ROLES

F = TypeVar("F", bound=Callable[..., Any])
SECURITY_SCHEME = "bearerAuth"


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: str
    partner_id: str | None


def _authenticate() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem("unauthorized", "Send Authorization: Bearer <api key>.")
    token = token.strip()
    admin_key = current_app.extensions["ledger"].settings.admin_key
    if admin_key and hmac.compare_digest(token.encode(), admin_key.encode()):
        return Principal(key_id="bootstrap-admin", role="admin", partner_id=None)
    key = current_app.extensions["api_keys"].authenticate(token)
    if key is None:
        raise Problem("unauthorized", "Unknown or revoked API key.")
    return Principal(key_id=key.key_id, role=key.role, partner_id=key.partner_id)


def require_roles(*roles: str) -> Callable[[F], F]:
    """Admit only these roles (401 without a valid key, 403 for another role).

    Put it above `blp.arguments` so a caller is authenticated before its body is judged.
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = _authenticate()
            g.principal = principal
            if principal.role not in roles:
                raise Problem(
                    "forbidden",
                    f"Role {principal.role} may not do this; roles that may: {', '.join(roles)}.",
                )
            return view(*args, **kwargs)

        # Documented in /openapi.json the way flask-smorest's Blueprint.doc records it.
        apidoc = wrapper.__dict__.setdefault("_apidoc", {})
        apidoc["manual_doc"] = {
            **apidoc.get("manual_doc", {}),
            "security": [{SECURITY_SCHEME: []}],
            "x-roles": list(roles),
        }
        documented_problems(wrapper, "unauthorized", "unavailable")
        if set(roles) != set(ROLES):
            documented_problems(wrapper, "forbidden")
        return cast(F, wrapper)

    return decorate


def acting_partner(body_partner_id: str | None) -> str:
    """The partner a write is for: a partner key's own, or the one an admin names."""
    principal: Principal = g.principal
    if principal.role == "partner":
        assert principal.partner_id is not None
        return check_partner(body_partner_id, principal.partner_id)
    if body_partner_id is None:
        raise Problem(
            "validation-error",
            "An admin key must name the partner it acts for.",
            {"partner_id": ["Missing data for required field."]},
        )
    return body_partner_id


def enrolling_partner(body_partner_id: str | None) -> str | None:
    """Like `acting_partner`, but an admin naming no partner enrolls as the operator (None)."""
    if g.principal.role != "partner" and body_partner_id is None:
        return None
    return acting_partner(body_partner_id)


def check_partner(body_partner_id: str | None, partner_id: str) -> str:
    """A body may repeat the partner it is sent for, but not name another (403)."""
    if body_partner_id is not None and body_partner_id != partner_id:
        raise Problem("forbidden", f"This request acts for partner {partner_id} only.")
    return partner_id
