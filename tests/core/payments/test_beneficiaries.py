"""What payments ask of beneficiaries (core.payments.beneficiaries): whether one is new (pure,
no database) and whether one may be paid now (usable_beneficiary, on both databases)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.context import RequestContext
from core.errors import Forbidden, NotFound
from core.models.iam import Tenant, User, actor_of
from core.models.payments import Beneficiary
from core.payments.beneficiaries import is_new, new_until, usable_beneficiary

ADDED = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.UTC)


def _beneficiary(created_at: dt.datetime = ADDED) -> Beneficiary:
    return Beneficiary(
        id=1,
        bank_id=1,
        tenant_id=1,
        name="Lieferant GmbH",
        iban="DE89370400440532013000",
        created_by_id=7,
        created_at=created_at,
    )


def _tenant(hours: int = 24) -> Tenant:
    return Tenant(id=1, bank_id=1, name="Acme Ltd", new_beneficiary_hours=hours)


def test_a_beneficiary_is_new_for_exactly_the_tenants_hours():
    beneficiary, tenant = _beneficiary(), _tenant(24)
    assert is_new(beneficiary, tenant, ADDED)
    assert is_new(beneficiary, tenant, ADDED + dt.timedelta(hours=24, microseconds=-1))
    # "Added less than 24 hours ago": at 24 hours it is no longer new.
    assert not is_new(beneficiary, tenant, ADDED + dt.timedelta(hours=24))
    assert not is_new(beneficiary, tenant, ADDED + dt.timedelta(days=30))
    assert new_until(beneficiary, tenant) == ADDED + dt.timedelta(hours=24)


def test_with_zero_hours_no_beneficiary_is_ever_new():
    assert not is_new(_beneficiary(), _tenant(0), ADDED)


@given(hours=st.integers(0, 720), seconds=st.integers(-10_000, 3_000_000))
def test_new_means_added_less_than_the_hours_ago(hours: int, seconds: int) -> None:
    now = ADDED + dt.timedelta(seconds=seconds)
    assert is_new(_beneficiary(), _tenant(hours), now) == (now - ADDED < dt.timedelta(hours=hours))


def _as(db, world, clock, username: str, work):  # type: ignore[no-untyped-def]
    """`work(session, ctx)` in a transaction, as `username`."""
    with db.unit_of_work() as session:
        user = session.get(User, world.user_id(username))
        assert user is not None
        return work(session, RequestContext(actor=actor_of(user), clock=clock))


def test_a_payment_may_go_only_to_the_companys_own_active_beneficiaries(db, world, clock):
    supplier = world.beneficiary_id("acme-supplier")
    found = _as(db, world, clock, "acme-payer", lambda s, c: usable_beneficiary(s, c, supplier))
    assert (found.id, found.iban, found.internal_account_id) == (
        supplier,
        "DE89370400440532013000",
        None,
    )

    pending = world.beneficiary_id("acme-new-supplier")
    with pytest.raises(Forbidden) as refused:
        _as(db, world, clock, "acme-payer", lambda s, c: usable_beneficiary(s, c, pending))
    assert refused.value.code == "beneficiary_not_approved"
    assert refused.value.status == 403
    assert "awaits a second person's approval" in refused.value.detail

    # Another company's, a missing one, and any for bank staff: not there, all alike.
    theirs = world.beneficiary_id("globex-supplier")
    for username, target in (
        ("acme-payer", theirs),
        ("acme-payer", 999_999),
        ("manager", supplier),
        ("globex-payer", pending),
    ):
        with pytest.raises(NotFound) as missing:
            _as(db, world, clock, username, lambda s, c, t=target: usable_beneficiary(s, c, t))
        assert missing.value.detail == f"beneficiary {target} not found"


def test_a_deleted_beneficiary_cannot_be_paid(db, world, clock):
    supplier = world.beneficiary_id("acme-supplier")
    with db.unit_of_work() as session:
        row = session.get(Beneficiary, supplier)
        assert row is not None
        row.deleted_at = clock.now()
    with pytest.raises(NotFound):
        _as(db, world, clock, "acme-payer", lambda s, c: usable_beneficiary(s, c, supplier))


def test_the_worlds_supplier_is_no_longer_new_and_the_new_one_is(db, world, clock):
    with db.unit_of_work(write=False) as session:
        tenant = session.get(Tenant, world.tenants["acme"].id)
        old = session.get(Beneficiary, world.beneficiary_id("acme-supplier"))
        new = session.get(Beneficiary, world.beneficiary_id("acme-new-supplier"))
        assert tenant is not None and old is not None and new is not None
        assert not is_new(old, tenant, clock.now())
        assert is_new(new, tenant, clock.now())
