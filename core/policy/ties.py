"""Who is tied to whom: the facts behind "no puppet is a second person" (the policy decides
on them: approver_tied_to_requester and grantee_tied_to_approver in conditions.polar).

An edge X -> Y is something X did lately that may give X a hold over Y: X created Y
(users.created_by_id), gave Y a grant (grants.created_by_id), or was the last to reset Y's
password (users.password_reset_by_id: whoever set a password knows it, a takeover as good as
creating the user). "Lately" is within the trust window: the edge's own time
(users.created_at, grants.created_at, users.password_reset_at) is at or after `since`; an
older edge does not count.

A user's *lineage* is the user and everyone who reaches them along such edges, through any
number of steps (A created B, B created C: A and B are in C's lineage). Two users are *tied*
when their lineages meet: one reaches the other (A created B, or B created A: the direction
does not matter), or someone reaches both (A created B and C: B and C are both A's, and
neither is a second person for the other).

Closed by it: a puppet approving its maker's requests, the maker approving its puppet's,
chains of puppets either way, two puppets of one maker, a password reset standing in for a
creation, and new rights for anyone tied to the approver. Not a tie: two people who each did
something to the same third person (two admins who both gave one payer a grant): neither got
a hold over the other by it, and counting it would deadlock every company whose two admins
share their work.

The walk stays among peers: it passes only through users of the same company (for a
company's people), or only through the same bank's staff (for bank staff). A bank manager who
onboarded a company's two admins ties them to nobody: bank staff act on a company under the
bank's own dual control, not as the company's second person.

Bounded: one query per step, and at most MAX_REACHED users reached beyond those a walk starts
from. A walk that would reach more stops and counts as tied (fails closed): a lineage that
large means hundreds of people created or empowered one another within the window, which no
ordinary company or bank does.

Queries only, beside the policy's other fact queries (core.policy.repository), below the
services that ask: core.governance (change requests) and core.policy_versions (versions of the
policy, decided among the author's bank's staff)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, select, union
from sqlalchemy.orm import Session
from sqlmodel import col

from core.models.iam import Grant, User

# The most users one walk reaches beyond those it starts from; past it, "tied" (fails closed).
MAX_REACHED = 500


@dataclass(frozen=True)
class Peers:
    """Whom a walk may pass through: one company's people, or one bank's staff."""

    bank_id: int
    tenant_id: int | None

    @classmethod
    def of(cls, user: User) -> Peers:
        return cls(bank_id=user.bank_id, tenant_id=user.tenant_id)

    def admits(self) -> ColumnElement[bool]:
        if self.tenant_id is None:
            return (col(User.bank_id) == self.bank_id) & col(User.tenant_id).is_(None)
        return col(User.tenant_id) == self.tenant_id


@dataclass(frozen=True)
class Lineage:
    """The users a walk started from and everyone reaching them; `complete` is False when
    the walk stopped at MAX_REACHED (then it counts as meeting every other lineage)."""

    users: frozenset[int]
    complete: bool

    def meets(self, other: Lineage) -> bool:
        return not (self.complete and other.complete) or bool(self.users & other.users)


def lineage(
    session: Session,
    starting: Iterable[int],
    *,
    peers: Peers,
    since: dt.datetime,
    cap: int = MAX_REACHED,
) -> Lineage:
    """`starting` and every peer who reached one of them, directly or through others, by an
    edge at or after `since` (the module's docstring)."""
    start = frozenset(starting)
    reached: set[int] = set(start)
    frontier = set(start)
    while frontier:
        found = {i for i in session.scalars(_reaching(frontier, peers, since)) if i} - reached
        if len(reached) + len(found) - len(start) > cap:
            return Lineage(frozenset(reached | found), complete=False)
        reached |= found
        frontier = found
    return Lineage(frozenset(reached), complete=True)


@dataclass(frozen=True)
class Ties:
    """One person's lineage, to ask who is tied to them (walking among their peers)."""

    session: Session
    peers: Peers
    since: dt.datetime
    cap: int
    own: Lineage

    def include_any(self, others: Iterable[int]) -> bool:
        """Whether any of `others` is tied to the person."""
        wanted = set(others)
        if not wanted:
            return False
        theirs = lineage(self.session, wanted, peers=self.peers, since=self.since, cap=self.cap)
        return self.own.meets(theirs)


def ties_of(session: Session, person: User, *, since: dt.datetime, cap: int = MAX_REACHED) -> Ties:
    """Who is tied to `person` by edges at or after `since`."""
    assert person.id is not None
    peers = Peers.of(person)
    own = lineage(session, [person.id], peers=peers, since=since, cap=cap)
    return Ties(session=session, peers=peers, since=since, cap=cap, own=own)


def _reaching(frontier: set[int], peers: Peers, since: dt.datetime) -> Select[int | None]:
    """The peers with an edge since `since` into a user of `frontier`: who created them, gave
    them a grant, or reset their password last."""
    ids = sorted(frontier)
    creators = select(col(User.created_by_id)).where(
        col(User.id).in_(ids), col(User.created_at) >= since
    )
    grantors = select(col(Grant.created_by_id)).where(
        col(Grant.user_id).in_(ids), col(Grant.created_at) >= since
    )
    resetters = select(col(User.password_reset_by_id)).where(
        col(User.id).in_(ids), col(User.password_reset_at) >= since
    )
    edges = union(creators, grantors, resetters).subquery()
    return select(col(User.id)).where(col(User.id).in_(select(edges.c[0])), peers.admits())
