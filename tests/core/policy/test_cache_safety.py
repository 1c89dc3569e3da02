"""The compiled-decision cache never changes a decision: not across time, not across limit or
grant edits, not across a policy reload. (The equivalence with direct evaluation for random
facts is tests/core/policy/test_compiled.py.)"""

from __future__ import annotations

import datetime as dt
import shutil

from core.context import RequestContext
from core.iam import access
from core.iam.schemas import GrantUpdate, LimitSet, TimeWindow
from core.models.ledger import Account
from core.policy import engine as policy_engine
from core.policy.facts import Money, Resource
from core.policy.service import check
from core.settings import REPO_ROOT
from tests.factories import staff_context


def _decide(db, world, clock, amount=100_00):  # type: ignore[no-untyped-def]
    ctx = staff_context(db, "acme-payer", clock)
    with db.unit_of_work(write=False) as session:
        account = session.get(Account, world.account_id("acme-operating"))
        counterparty = session.get(Account, world.account_id("acme-payroll"))
        verdict = check(
            session,
            RequestContext(actor=ctx.actor, clock=clock),
            "transfer.create",
            Resource.of_account(account),
            money=Money(amount, "EUR", counterparty),
            record=False,
        )
        return verdict.decision


def _admin_update(db, world, clock, body: GrantUpdate) -> None:
    ctx = staff_context(db, "acme-admin", clock)
    with db.unit_of_work() as session:
        access.update_grant(
            session,
            RequestContext(actor=ctx.actor, clock=clock),
            world.grants["acme-payer"].id,
            body,
        )


def test_limit_and_grant_edits_take_effect_through_a_warm_cache(db, world, clock):
    for _ in range(3):
        assert _decide(db, world, clock).allowed  # warm
    _admin_update(
        db, world, clock, GrantUpdate(limits=LimitSet(currency="EUR", per_transfer=50_00))
    )
    assert _decide(db, world, clock).reason == "limit_per_transfer"
    _admin_update(
        db, world, clock, GrantUpdate(limits=LimitSet(currency="EUR", per_transfer=100_00))
    )
    assert _decide(db, world, clock).allowed
    _admin_update(
        db,
        world,
        clock,
        GrantUpdate(
            window=TimeWindow(days=["sat"], start="09:00", end="17:00", time_zone="Europe/Berlin")
        ),
    )
    assert _decide(db, world, clock).reason == "outside_time_window"
    _admin_update(db, world, clock, GrantUpdate(clear_window=True))
    assert _decide(db, world, clock).allowed


def test_time_moves_through_a_warm_cache(db, world, clock):
    _admin_update(db, world, clock, GrantUpdate(valid_until=clock.now() + dt.timedelta(minutes=5)))
    assert _decide(db, world, clock).allowed
    misses = policy_engine.current().cache_misses
    clock.advance(minutes=5)
    assert _decide(db, world, clock).reason == "grant_expired"
    assert policy_engine.current().cache_misses == misses  # same compiled program, new time


def test_a_policy_reload_is_a_new_engine_with_new_answers(db, world, clock, tmp_path):
    assert _decide(db, world, clock).allowed
    altered = tmp_path / "policies"
    shutil.copytree(REPO_ROOT / "policies", altered)
    vocabulary = altered / "vocabulary.polar"
    vocabulary.write_text(
        vocabulary.read_text().replace(
            '"account.read", "statement.read", "transfer.create", "beneficiary.read",',
            '"account.read", "statement.read", "beneficiary.read",',
        )
    )
    original = policy_engine.current()
    try:
        reloaded = policy_engine.load(altered)
        assert reloaded.version != original.version
        assert _decide(db, world, clock).reason == "missing_permission"
    finally:
        policy_engine.load(REPO_ROOT / "policies")
    assert _decide(db, world, clock).allowed
