"""Every list holds exactly the rows a per-item decision lets the caller read: the SQL filters
and the policy agree, for several roles, scoped and expired grants included."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from core.context import RequestContext
from core.iam import access as access_service
from core.iam import service as iam
from core.ledger import service as ledger
from core.models.iam import Grant, Role, User, actor_of
from core.models.ledger import Account, Transfer
from core.models.payments import Beneficiary
from core.payments.beneficiaries import beneficiary_resource, list_beneficiaries
from core.policy.facts import Resource
from core.policy.service import check
from tests.factories import staff_context

ACTORS = [
    "acme-payer",
    "acme-bookkeeper",
    "acme-admin",
    "globex-admin",
    "globex-payer",
    "manager",
    "compliance",
    "scoped-clerk",
    "expired-payer",
]


def _extra_people(db, world, clock):  # type: ignore[no-untyped-def]
    """A clerk whose custom role reaches the payroll account only, and a payer whose grant
    has expired."""
    with db.unit_of_work() as session:
        acme = world.tenants["acme"]
        admin_ctx = RequestContext(actor=actor_of(world.users["acme-admin"]), clock=clock)
        clerk = iam.create_user(
            session,
            _passwords(),
            bank_id=acme.bank_id,
            tenant_id=acme.id,
            username="scoped-clerk",
            display_name="Scoped",
            password="x" * 12,
            now=clock.now(),
        )
        expired = iam.create_user(
            session,
            _passwords(),
            bank_id=acme.bank_id,
            tenant_id=acme.id,
            username="expired-payer",
            display_name="Expired",
            password="x" * 12,
            now=clock.now(),
        )
        from core.iam.schemas import GrantCreate, RoleCreate

        role = access_service.create_role(
            session,
            admin_ctx,
            RoleCreate(name="Clerk", permissions=["account.read", "statement.read"]),
        )
        access_service.create_grant(
            session,
            RequestContext(actor=admin_ctx.actor, clock=clock),
            GrantCreate(
                user_id=clerk.id,
                role_id=role.id,
                all_accounts=False,
                account_ids=[world.account_id("acme-payroll")],
            ),
        )
        payer_role = session.get(Role, world.grants["acme-payer"].role_id)
        iam.grant_role(
            session,
            expired,
            payer_role,
            now=clock.now(),
            valid_until=clock.now() - dt.timedelta(hours=1),
        )


def _passwords():  # type: ignore[no-untyped-def]
    from core.iam.credentials import Passwords
    from core.settings import Settings

    return Passwords(Settings(password_time_cost=1, password_memory_kib=64))


def _ids(page_or_list) -> set[int]:  # type: ignore[no-untyped-def]
    items = page_or_list.items if hasattr(page_or_list, "items") else page_or_list
    return {i.id for i in items}


def test_lists_equal_per_item_decisions(db, world, clock):
    _extra_people(db, world, clock)
    for username in ACTORS:
        ctx = staff_context(db, username, clock)

        def fresh(actor=ctx.actor):  # type: ignore[no-untyped-def]
            return RequestContext(actor=actor, clock=clock)

        with db.unit_of_work(write=False) as session:
            accounts = list(session.scalars(select(Account)))
            readable = {
                a.id
                for a in accounts
                if check(session, fresh(), "account.read", Resource.of_account(a)).allowed
            }
            assert _ids(ledger.list_accounts(session, fresh(), limit=200)) == readable, username

            transfers = list(session.scalars(select(Transfer)))
            by_id = {a.id: a for a in accounts}
            expected_transfers = {
                t.id
                for t in transfers
                if t.debit_account_id in readable or t.credit_account_id in readable
            }
            assert _ids(ledger.list_transfers(session, fresh(), limit=200)) == expected_transfers
            for t in transfers:  # and the per-item read agrees with the list
                try:
                    ledger.get_transfer(session, fresh(), t.id)
                    seen = True
                except Exception:
                    seen = False
                assert seen == (t.id in expected_transfers), (username, t.id)
            assert by_id

            users = list(session.scalars(select(User)))
            readable_users = {
                u.id
                for u in users
                if check(session, fresh(), "user.read", Resource.of_user(u)).allowed
            }
            assert _ids(iam.list_users(session, fresh(), limit=200)) == readable_users, username

            grants = list(session.scalars(select(Grant).where(Grant.revoked_at.is_(None))))
            readable_grants = set()
            for g in grants:
                grantee = session.get(User, g.user_id)
                role = session.get(Role, g.role_id)
                if check(
                    session,
                    fresh(),
                    "grant.read",
                    access_service.grant_resource(g.id, grantee, role),
                ).allowed:
                    readable_grants.add(g.id)
            assert (
                _ids(access_service.list_grants(session, fresh(), limit=200)) == readable_grants
            ), username

            roles = list(session.scalars(select(Role)))
            readable_roles = {
                r.id
                for r in roles
                if check(
                    session,
                    fresh(),
                    "role.read",
                    access_service.role_resource(session, fresh(), r),
                ).allowed
                and (r.tenant_id is not None if ctx.actor.tenant_id else r.tenant_id is None)
            }
            assert _ids(access_service.list_roles(session, fresh())) == readable_roles, username

            payees = list(session.scalars(select(Beneficiary)))
            readable_payees = {
                b.id
                for b in payees
                if check(
                    session, fresh(), "beneficiary.read", beneficiary_resource(fresh(), b)
                ).allowed
            }
            assert _ids(list_beneficiaries(session, fresh(), limit=200)) == readable_payees, (
                username
            )


def test_the_lists_are_not_trivially_empty_or_full(db, world, clock):
    """The equality above would hold for empty lists too: check a few known answers."""
    _extra_people(db, world, clock)
    expectations = {
        "acme-payer": {"acme-operating", "acme-payroll", "acme-usd"},
        "scoped-clerk": {"acme-payroll"},
        "expired-payer": set(),
        "globex-admin": {"globex-main"},
    }
    for username, names in expectations.items():
        ctx = staff_context(db, username, clock)
        with db.unit_of_work(write=False) as session:
            page = ledger.list_accounts(session, RequestContext(actor=ctx.actor, clock=clock))
            assert {a.name for a in page.items} == names, username
    ctx = staff_context(db, "manager", clock)
    with db.unit_of_work(write=False) as session:
        page = ledger.list_accounts(
            session, RequestContext(actor=ctx.actor, clock=clock), limit=200
        )
        assert len(page.items) == len(world.accounts) + len(world.clearing)


def test_statements_and_the_decision_log_follow_the_per_item_decision(db, world, clock):
    """Statements are per account: readable exactly when statement.read is allowed on it. The
    decision log is the bank's: all of it for whoever may decision.read, nothing otherwise."""
    from core.audit import decisions as audit
    from core.audit.decisions import DecisionFilter
    from core.errors import NotFound

    _extra_people(db, world, clock)
    for username in ACTORS:
        ctx = staff_context(db, username, clock)

        def fresh(actor=ctx.actor):  # type: ignore[no-untyped-def]
            return RequestContext(actor=actor, clock=clock)

        with db.unit_of_work(write=False) as session:
            for account in session.scalars(select(Account)):
                allowed = check(
                    session, fresh(), "statement.read", Resource.of_account(account)
                ).allowed
                try:
                    ledger.statement(session, fresh(), account.id, limit=5)
                    listed = True
                except NotFound:
                    listed = False
                assert listed == allowed, (username, account.name)
            bank = Resource.of_bank(world.bank.id)
            may_read_log = check(session, fresh(), "decision.read", bank).allowed
            try:
                audit.decisions(session, fresh(), DecisionFilter(), limit=5)
                log_listed = True
            except NotFound:
                log_listed = False
            assert log_listed == may_read_log, username
            assert may_read_log == (username == "compliance")


def test_payments_and_the_inbox_follow_the_per_item_decision(db, world, clock):
    """The payments list holds exactly the payments from accounts the caller may read (as one
    payment is read), and the approvals inbox exactly the waiting payments the policy lets the
    caller approve."""
    from core.errors import NotFound
    from core.models.payments import Payment
    from core.payments import service as payments
    from core.policy.panels import approval_of
    from core.policy.repository import payment_approvals
    from tests.payments_world import with_pending_payment

    _extra_people(db, world, clock)
    with_pending_payment(db, _passwords(), world, clock)
    for username in [*ACTORS, "acme-approver-a", "acme-approver-b"]:
        ctx = staff_context(db, username, clock)

        def fresh(actor=ctx.actor):  # type: ignore[no-untyped-def]
            return RequestContext(actor=actor, clock=clock)

        with db.unit_of_work(write=False) as session:
            rows = list(session.scalars(select(Payment)))
            assert rows
            readable = set()
            for payment in rows:
                account = Resource.of_account(session.get(Account, payment.account_id))
                if check(session, fresh(), "account.read", account).allowed:
                    readable.add(payment.id)
                try:
                    payments.get_payment(session, fresh(), payment.id)
                    seen = True
                except NotFound:
                    seen = False
                assert seen == (payment.id in readable), (username, payment.id)
            listed = payments.list_payments(session, fresh(), limit=200)
            assert _ids(listed) == readable, username
            approvable = {
                p.id
                for p in rows
                if p.status == "pending_approval"
                and check(
                    session,
                    fresh(),
                    "payment.approve",
                    Resource.of_account(session.get(Account, p.account_id)),
                    approval=approval_of(p, payment_approvals(session, p.id)),
                ).allowed
            }
            inbox = {item.payment.id for item in payments.inbox(session, fresh())}
            assert inbox == approvable, username
            assert bool(inbox) == (username in ("acme-approver-a", "acme-approver-b")), username
