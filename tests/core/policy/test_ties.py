"""The ties between people (core.policy.ties), on a small graph of acme's people and the bank's
staff: chains either way, two puppets of one maker, what is no tie, the trust window, the walk
kept among peers, and the cap failing closed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from core.iam import service as iam
from core.models.iam import User
from core.policy import ties

Tied = Callable[[str, str], bool]


@pytest.fixture
def graph(db, world, clock):  # type: ignore[no-untyped-def]
    """acme-admin made B (who made C) and D, gave F a grant and reset H's password (and K's,
    40 days ago); G was made 40 days ago; E made by nobody; the bank manager made acme's X
    and Y."""
    now = clock.now()
    acme = world.tenants["acme"]
    with db.unit_of_work() as session:
        ids = {name: world.user_id(name) for name in ("acme-admin", "manager", "compliance")}

        def user(name: str, maker: str | None, *, staff: bool = False, days_ago: int = 0) -> None:
            made = iam.create_user(
                session,
                None,
                bank_id=acme.bank_id,
                tenant_id=None if staff else acme.id,
                username=name,
                display_name=name,
                password="",
                password_hash="not a hash",
                now=now - dt.timedelta(days=days_ago),
                created_by_id=ids[maker] if maker else None,
            )
            assert made.id is not None
            ids[name] = made.id

        user("b", "acme-admin")
        user("c", "b")
        user("d", "acme-admin")
        user("e", None)
        user("f", None)
        user("g", "acme-admin", days_ago=40)
        user("x", "manager")
        user("y", "manager")
        for name, days_ago in (("h", 0), ("k", 40)):
            user(name, None)
            reset = session.get(User, ids[name])
            assert reset is not None
            reset.password_reset_by_id = ids["acme-admin"]
            reset.password_reset_at = now - dt.timedelta(days=days_ago)
        role = iam.builtin_role(session, "payer", bank_id=acme.bank_id, tenant_id=acme.id)
        f = session.get(User, ids["f"])
        assert f is not None
        iam.grant_role(session, f, role, created_by=ids["acme-admin"], now=now)

    def tied(person: str, other: str, *, cap: int = ties.MAX_REACHED) -> bool:
        with db.unit_of_work(write=False) as session:
            return _tied(session, ids, person, other, now - dt.timedelta(days=30), cap)

    return tied


def _tied(
    session: Session, ids: dict[str, int], person: str, other: str, since: dt.datetime, cap: int
) -> bool:
    user = session.get(User, ids[person])
    assert user is not None
    return ties.ties_of(session, user, since=since, cap=cap).include_any([ids[other]])


def test_a_chain_ties_both_ways(graph):
    for one, other in [("acme-admin", "b"), ("acme-admin", "c"), ("b", "c")]:
        assert graph(one, other) and graph(other, one), (one, other)


def test_two_puppets_of_one_maker_are_tied(graph):
    assert graph("c", "d") and graph("d", "b")


def test_a_grant_given_ties_like_a_creation(graph):
    assert graph("f", "acme-admin") and graph("f", "d")


def test_a_password_reset_ties_like_a_creation(graph):
    assert graph("h", "acme-admin") and graph("acme-admin", "h") and graph("h", "b")
    assert not graph("k", "acme-admin")  # reset 40 days ago: past the window


def test_who_nobody_reached_lately_is_tied_to_nobody(graph):
    assert not graph("e", "acme-admin") and not graph("acme-admin", "e")
    assert not graph("g", "acme-admin")  # made 40 days ago: past the window


def test_the_walk_stays_among_peers(graph):
    # The manager made X and Y, acme's people: that ties X and Y to nobody in acme ...
    assert not graph("x", "y")
    # ... while a bank manager is tied to whom they made, for the bank's own requests.
    assert graph("manager", "x")
    assert not graph("compliance", "x")


def test_a_walk_past_the_cap_fails_closed(graph):
    assert not graph("e", "c", cap=2)  # C's lineage (B, acme-admin) fits in 2
    assert graph("e", "c", cap=1)  # it does not fit in 1: counted as tied
