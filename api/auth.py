"""Bearer API keys and roles. A view names the roles it admits; `g.principal` is the caller."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import current_app, g, request

from api.problems import Problem

F = TypeVar("F", bound=Callable[..., Any])


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
    ledger = current_app.extensions["ledger"]
    admin_key = ledger.settings.admin_key
    if admin_key and hmac.compare_digest(token.encode(), admin_key.encode()):
        return Principal(key_id="bootstrap-admin", role="admin", partner_id=None)
    key = ledger.authenticate(token)
    if key is None:
        raise Problem("unauthorized", "Unknown or revoked API key.")
    return Principal(key_id=key.key_id, role=key.role, partner_id=key.partner_id)


def require_roles(*roles: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = _authenticate()
            g.principal = principal
            if principal.role not in roles:
                raise Problem("forbidden", f"Role {principal.role} may not do this.")
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def acting_partner(body_partner_id: str | None) -> str:
    """The partner a write is for: a partner key's own, or the one an admin names."""
    principal: Principal = g.principal
    if principal.role == "partner":
        assert principal.partner_id is not None
        if body_partner_id is not None and body_partner_id != principal.partner_id:
            raise Problem("forbidden", "A partner key may act only for its own partner.")
        return principal.partner_id
    if body_partner_id is None:
        raise Problem(
            "validation-error",
            "An admin key must name the partner it acts for.",
            {"partner_id": ["Missing data for required field."]},
        )
    return body_partner_id
