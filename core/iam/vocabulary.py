"""The vocabulary of access, as the policy defines it: every permission (policies/
vocabulary.polar), which of them a custom role may carry, and the built-in roles with the
permissions each carries. Python reads it; it never keeps a copy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from oso import Variable

from core.errors import InvalidRequest
from core.iam.schemas import PermissionPublic
from core.policy import engine as policy_engine


def vocabulary() -> list[PermissionPublic]:
    """Every permission, as policies/vocabulary.polar defines it."""
    engine = policy_engine.current()
    answers = engine.query("permission", Variable("name"), Variable("level"), Variable("text"))
    return [
        PermissionPublic(
            name=a["name"],
            level=a["level"],
            description=a["text"],
            composable=engine.holds("composable", a["name"]),
        )
        for a in answers
    ]


def builtin_permissions(key: str) -> list[str]:
    """The permissions the built-in role `key` carries (builtin_carries/2), sorted."""
    engine = policy_engine.current()
    return sorted(a["p"] for a in engine.query("builtin_carries", key, Variable("p")))


@dataclass(frozen=True)
class BuiltinRole:
    key: str
    name: str
    description: str


def builtin_roles(level: Literal["bank", "tenant"]) -> list[BuiltinRole]:
    """The built-in roles of a bank or of a tenant, as the policy lists them in
    builtin_role/4."""
    engine = policy_engine.current()
    answers = engine.query(
        "builtin_role", Variable("key"), level, Variable("name"), Variable("description")
    )
    return [BuiltinRole(a["key"], a["name"], a["description"]) for a in answers]


def composable_permissions(permissions: list[str]) -> list[str]:
    """`permissions`, sorted and without repeats, if a custom role may carry every one;
    otherwise a 422 (invalid_permission) naming those it may not."""
    engine = policy_engine.current()
    unknown = [p for p in permissions if not engine.holds("composable", p)]
    if unknown:
        raise InvalidRequest(
            f"not permissions a custom role can carry: {', '.join(sorted(unknown))} "
            "(see GET /v1/permissions)",
            code="invalid_permission",
        )
    return sorted(set(permissions))
