"""A property of cumulative limits: whatever the mix of currencies and grants a person sends
through in a day, each currency is held to its own cap, counted over all the person's grants,
and the running totals stay equal to the transfers (`mandate ledger check`)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.context import RequestContext
from core.errors import Forbidden
from core.iam import service as iam
from core.ledger import service as ledger
from core.ledger.schemas import AccountCreate, DepositCreate, TransferCreate
from core.models.iam import Grant, GrantAccount, LimitCap, User
from core.models.ledger import Account, Transfer
from tests.factories import World, new_key, staff_context
from tests.ledger_checks import assert_ledger_consistent

CAPS = {"EUR": 1_000_00, "USD": 500_00}


def _account(session: Session, name: str) -> int | None:
    return session.scalar(select(Account.id).where(Account.name == name))


def _prepare(db, world: World, clock) -> dict[tuple[str, str], tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    """Once per test database: per-person daily caps in EUR and USD, and the payer's two
    grants (neither sets limits) over disjoint accounts: grant "a" over the world's accounts
    and a second USD account, grant "b" over a EUR pair and a USD pair of its own. Returns,
    per (currency, grant), the source, the target and the grant's id."""
    manager = RequestContext(actor=staff_context(db, "manager", clock).actor, clock=clock)
    acme = world.tenants["acme"]
    grant_a = world.grants["acme-payer"]
    with db.unit_of_work() as session:
        if _account(session, "usd-a") is None:
            payer = session.get(User, world.user_id("acme-payer"))
            assert payer is not None
            for currency, daily in CAPS.items():
                session.add(
                    LimitCap(
                        bank_id=world.bank.id,
                        tenant_id=acme.id,
                        currency=currency,
                        daily_limit=daily,
                    )
                )
            ids = {}
            for name, currency in (
                ("usd-a", "USD"),
                ("eur-b1", "EUR"),
                ("eur-b2", "EUR"),
                ("usd-b1", "USD"),
                ("usd-b2", "USD"),
            ):
                body = AccountCreate(tenant_id=acme.id, name=name, currency=currency)  # type: ignore[arg-type]
                ids[name] = ledger.open_account(session, manager, body).id
            for name in ("acme-usd", "eur-b1", "usd-b1"):
                account_id = ids.get(name) or world.account_id(name)
                currency = "EUR" if name.startswith("eur") else "USD"
                deposit = DepositCreate(account_id=account_id, amount=100_000_00, currency=currency)
                ledger.create_deposit(session, manager, deposit, new_key())
            role = iam.builtin_role(session, "payer", bank_id=acme.bank_id, tenant_id=acme.id)
            grant_b = iam.grant_role(session, payer, role, now=clock.now(), all_accounts=False)
            scopes = {
                grant_a.id: [
                    world.account_id("acme-operating"),
                    world.account_id("acme-payroll"),
                    world.account_id("acme-usd"),
                    ids["usd-a"],
                ],
                grant_b.id: [ids[n] for n in ("eur-b1", "eur-b2", "usd-b1", "usd-b2")],
            }
            session.get(Grant, grant_a.id).all_accounts = False  # type: ignore[union-attr]
            for grant_id, accounts in scopes.items():
                session.add_all(
                    GrantAccount(grant_id=grant_id, account_id=a, user_id=payer.id)  # type: ignore[arg-type]
                    for a in accounts
                )
        grant_b_id = session.scalar(
            select(Grant.id).where(
                Grant.user_id == world.user_id("acme-payer"), Grant.id != grant_a.id
            )
        )
        named = {n: _account(session, n) for n in ("usd-a", "eur-b1", "eur-b2", "usd-b1", "usd-b2")}
    return {
        ("EUR", "a"): (
            world.account_id("acme-operating"),
            world.account_id("acme-payroll"),
            grant_a.id,
        ),
        ("USD", "a"): (world.account_id("acme-usd"), named["usd-a"], grant_a.id),
        ("EUR", "b"): (named["eur-b1"], named["eur-b2"], grant_b_id),
        ("USD", "b"): (named["usd-b1"], named["usd-b2"], grant_b_id),
    }  # type: ignore[return-value]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    transfers=st.lists(
        st.tuples(
            st.sampled_from(["EUR", "USD"]), st.sampled_from(["a", "b"]), st.integers(1, 600_00)
        ),
        min_size=1,
        max_size=6,
    )
)
def test_each_currency_is_held_to_the_persons_cap_in_that_currency(db, world, clock, transfers):
    accounts = _prepare(db, world, clock)
    # Each example on a day of its own: what earlier examples sent is another day's.
    clock.advance(days=1)
    payer = staff_context(db, "acme-payer", clock)
    sent = dict.fromkeys(CAPS, 0)
    for currency, grant, amount in transfers:
        source, target, grant_id = accounts[(currency, grant)]
        body = TransferCreate(
            from_account_id=source, to_account_id=target, amount=amount, currency=currency
        )
        expected = sent[currency] + amount <= CAPS[currency]
        try:
            posted = db.run(
                lambda s, b=body: ledger.create_transfer(
                    s, RequestContext(actor=payer.actor, clock=clock), b, new_key()
                )
            )
            with db.unit_of_work(write=False) as session:
                # Each pair of accounts is reached by one grant only: both grants are used.
                assert session.get(Transfer, posted.transfer.id).grant_id == grant_id  # type: ignore[union-attr]
            allowed = True
        except Forbidden as refusal:
            assert refusal.code == "limit_daily", refusal
            allowed = False
        assert allowed == expected, (currency, grant, amount, sent)
        if allowed:
            sent[currency] += amount
    with db.unit_of_work(write=False) as session:
        assert_ledger_consistent(session)
