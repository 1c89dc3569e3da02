"""The vocabulary as the policy defines it (core.iam.vocabulary): read from the loaded policy,
no database."""

from __future__ import annotations

import pytest

from core.errors import InvalidRequest
from core.iam.vocabulary import (
    builtin_permissions,
    builtin_roles,
    composable_permissions,
    vocabulary,
)


def test_the_vocabulary_names_each_permission_once() -> None:
    names = [p.name for p in vocabulary()]
    assert len(names) == len(set(names)) > 0
    assert {"account.read", "transfer.create"} <= set(names)


@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        (["statement.read", "account.read"], ["account.read", "statement.read"]),
        (["account.read", "account.read"], ["account.read"]),
    ],
)
def test_a_custom_role_carries_composable_permissions_sorted_once(
    asked: list[str], kept: list[str]
) -> None:
    assert composable_permissions(asked) == kept


@pytest.mark.parametrize("asked", [["tenant.manage"], ["account.read", "no.such"]])
def test_permissions_a_custom_role_may_not_carry_are_refused(asked: list[str]) -> None:
    with pytest.raises(InvalidRequest) as refused:
        composable_permissions(asked)
    assert refused.value.code == "invalid_permission"


def test_only_composable_permissions_are_offered_for_custom_roles() -> None:
    offered = [p.name for p in vocabulary() if p.composable]
    assert composable_permissions(offered) == sorted(offered)


@pytest.mark.parametrize("level", ["bank", "tenant"])
def test_every_built_in_role_carries_known_permissions(level: str) -> None:
    names = {p.name for p in vocabulary()}
    roles = builtin_roles(level)  # type: ignore[arg-type]
    assert roles
    for role in roles:
        assert set(builtin_permissions(role.key)) <= names, role.key
