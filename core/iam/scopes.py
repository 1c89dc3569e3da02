"""The OAuth 2.0 scopes an API client may ask for, as the policy defines them
(policies/vocabulary.polar: scope/2, scope_covers/2). Python reads them; what a scope covers
is decided in Polar alone."""

from __future__ import annotations

from oso import Variable

from core.policy import engine as policy_engine


def supported_scopes() -> list[str]:
    """Every scope, in the policy's order."""
    engine = policy_engine.current()
    return [a["name"] for a in engine.query("scope", Variable("name"), Variable("text"))]
