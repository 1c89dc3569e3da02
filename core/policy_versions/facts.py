"""A version of the policy as the policy sees it, for the person asking (policies/decide.polar
documents each fact; conditions.polar decides on them).

Versions are the deployment's: every bank's staff who hold policy_version.read read every
version, since each bank decides under the version in force (the resource is at the asking
person's own bank). Deciding one is held to who proposed it: `proposed_in_actor_bank` (its
author is staff of the asking person's bank; a deploy's version has no author, and any bank's
staff may decide it), `proposed_by_actor`, `approved_by_actor` (its current approval),
`rollback` (it was in force before), and `tied_to_requester`: the asking person is tied to its
author among their bank's staff — or, activating a rollback, to who approved it afresh
(core.policy.ties, within the bank's dual_admin_trust_days)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from core.context import RequestContext
from core.models.iam import Bank, User
from core.models.policy_versions import PolicyVersion
from core.policy import ties
from core.policy.facts import Resource


def version_resource(
    session: Session,
    ctx: RequestContext,
    version: PolicyVersion | None = None,
    *,
    rollback: bool | None = None,
) -> Resource:
    """The version (or, without one, the versions at large) for the policy. A rollback (an
    earlier version put in force again: who approved it is a requester too) is one that was
    in force before, unless `rollback` says otherwise (a step of a tenant's rollout)."""
    actor = ctx.require_actor()
    extra: tuple[tuple[str, bool], ...] = ()
    if version is not None:
        author = session.get(User, version.author_id) if version.author_id else None
        if rollback is None:
            rollback = version.activated_at is not None
        extra = (
            ("proposed_in_actor_bank", author is None or _staff_of(author, actor.bank_id)),
            ("proposed_by_actor", version.author_id == actor.user_id),
            ("approved_by_actor", version.approved_by_id == actor.user_id),
            ("rollback", rollback),
            ("tied_to_requester", _tied_to_requester(session, ctx, version, rollback=rollback)),
        )
    return Resource(
        "policy_version",
        version.id if version is not None else None,
        None,
        actor.bank_id,
        extra=extra,
    )


def _staff_of(user: User, bank_id: int) -> bool:
    return user.tenant_id is None and user.bank_id == bank_id


def _tied_to_requester(
    session: Session, ctx: RequestContext, version: PolicyVersion, *, rollback: bool
) -> bool:
    requesters = [version.author_id] + ([version.approved_by_id] if rollback else [])
    wanted = [user_id for user_id in requesters if user_id is not None]
    if not wanted:
        return False
    person = session.get(User, ctx.require_actor().user_id)
    bank = session.get(Bank, ctx.require_actor().bank_id)
    assert person is not None and bank is not None
    since = ctx.now() - dt.timedelta(days=bank.dual_admin_trust_days)
    return ties.ties_of(session, person, since=since).include_any(wanted)
