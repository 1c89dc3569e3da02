"""Roles, grants and caps: who may do what, for how much, and when. What they mean is in
policies/; the operations check input, ask the policy, and record every change.

The facade the API and the console call: each job has its module (roles, grants, caps, the
vocabulary; the pure parts in conditions and public), and this one names them in one place."""

from __future__ import annotations

from core.iam.caps import list_caps, set_cap
from core.iam.grants import (
    create_grant,
    get_grant,
    grant_resource,
    list_grants,
    revoke_grant,
    update_grant,
)
from core.iam.roles import (
    create_role,
    delete_role,
    get_role,
    list_roles,
    role_resource,
    update_role,
)
from core.iam.vocabulary import vocabulary

__all__ = [
    "create_grant",
    "create_role",
    "delete_role",
    "get_grant",
    "get_role",
    "grant_resource",
    "list_caps",
    "list_grants",
    "list_roles",
    "revoke_grant",
    "role_resource",
    "set_cap",
    "update_grant",
    "update_role",
    "vocabulary",
]
