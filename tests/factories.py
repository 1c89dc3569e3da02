"""Small factories: a bank with two tenants, their people and accounts, built through the
same services the API uses."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.clock import Clock
from core.context import RequestContext
from core.db import Database
from core.iam import service as iam
from core.iam.credentials import Passwords
from core.ledger import service as ledger
from core.ledger.schemas import AccountCreate, DepositCreate
from core.models.audit import DecisionRecord
from core.models.iam import Bank, Grant, Role, Tenant, User, actor_of
from core.models.ledger import Account
from core.models.payments import Beneficiary
from core.policy.facts import Resource
from core.policy.service import check
from core.uow import UnitOfWork

PASSWORD = "correct horse battery staple"
_keys = itertools.count(1)


@dataclass
class World:
    bank: Bank
    tenants: dict[str, Tenant]
    users: dict[str, User]
    accounts: dict[str, Account]
    clearing: dict[str, Account]
    grants: dict[str, Grant] = field(default_factory=dict)
    # A transfer of each tenant (its opening deposit), for URL tests.
    transfer_ids: dict[str, int] = field(default_factory=dict)
    beneficiaries: dict[str, Beneficiary] = field(default_factory=dict)
    # A payment of each tenant waiting for approval, for URL tests (tests/payments_world.py:
    # with_pending_payment); none unless a test asks.
    payment_ids: dict[str, int] = field(default_factory=dict)
    # Only in a world with one (tests/batches_world.py: with_pending_batch).
    batch_ids: dict[str, int] = field(default_factory=dict)
    # A change request of each tenant waiting for a second admin (tests/governance_world.py:
    # with_change_request); none unless a test asks.
    change_request_ids: dict[str, int] = field(default_factory=dict)
    # A decision of each tenant in the decision log, for URL tests (with_logged_decision);
    # none unless a test asks.
    decision_ids: dict[str, int] = field(default_factory=dict)
    # An API client of each tenant (tests/oauth_world.py: with_api_client); none unless asked.
    api_client_ids: dict[str, int] = field(default_factory=dict)
    # A maintenance window the bank manager announced, weeks ahead (tests/operations_world.py:
    # with_maintenance_window); none unless a test asks.
    maintenance_window_id: int | None = None

    def user_id(self, username: str) -> int:
        return self.users[username].id  # type: ignore[return-value]

    def beneficiary_id(self, name: str) -> int:
        return self.beneficiaries[name].id  # type: ignore[return-value]

    def account_id(self, name: str) -> int:
        return self.accounts[name].id  # type: ignore[return-value]


def unit_of_work(db: Database, clock: Clock, *, write: bool = True) -> UnitOfWork:
    """A unit of work for building test data: no one is asking, so nothing is audited."""
    return UnitOfWork(db, RequestContext(actor=None, clock=clock), write=write)


def staff_context(db: Database, username: str, clock: Clock) -> RequestContext:
    def load(session: Session, _ctx: RequestContext) -> RequestContext:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        return RequestContext(actor=actor_of(user), clock=clock)

    return unit_of_work(db, clock, write=False).run(load)


def build_world(db: Database, passwords: Passwords, clock: Clock) -> World:
    now = clock.now()

    def build(session: Session, _ctx: RequestContext) -> World:
        bank = iam.create_bank(session, "Test Bank")
        assert bank.id is not None
        users: dict[str, User] = {}
        grants: dict[str, Grant] = {}

        def person(username: str, tenant: Tenant | None, role_key: str, **conditions: Any) -> User:
            user = iam.create_user(
                session,
                passwords,
                bank_id=bank.id,
                tenant_id=tenant.id if tenant else None,  # type: ignore[arg-type]
                username=username,
                display_name=username.replace("-", " ").title(),
                password=PASSWORD,
                now=now,
            )
            role = iam.builtin_role(
                session,
                role_key,
                bank_id=bank.id,
                tenant_id=tenant.id if tenant else None,  # type: ignore[arg-type]
            )
            grants[username] = iam.grant_role(session, user, role, now=now, **conditions)
            users[username] = user
            return user

        person("manager", None, "bank_manager")
        person("compliance", None, "compliance_officer")
        acme = iam.create_tenant(session, bank.id, "Acme Ltd", "Europe/Berlin")
        globex = iam.create_tenant(session, bank.id, "Globex GmbH", "Europe/Vienna")
        person("acme-admin", acme, "corporate_admin")
        person("acme-bookkeeper", acme, "bookkeeper")
        person("acme-payer", acme, "payer")
        person("globex-admin", globex, "corporate_admin")
        person("globex-payer", globex, "payer")

        ctx = RequestContext(actor=actor_of(users["manager"]), clock=clock)
        accounts: dict[str, Account] = {}
        for name, tenant, currency in (
            ("acme-operating", acme, "EUR"),
            ("acme-payroll", acme, "EUR"),
            ("acme-usd", acme, "USD"),
            ("globex-main", globex, "EUR"),
        ):
            public = ledger.open_account(
                session,
                ctx,
                AccountCreate(tenant_id=tenant.id, name=name, currency=currency),  # type: ignore[arg-type]
            )
            accounts[name] = session.get(Account, public.id)  # type: ignore[assignment]
        transfer_ids: dict[str, int] = {}
        for name, amount in (
            ("acme-operating", 1_000_000_00),
            ("acme-payroll", 100_000_00),
            ("acme-usd", 10_000_00),
            ("globex-main", 50_000_00),
        ):
            account = accounts[name]
            deposit = ledger.create_deposit(
                session,
                ctx,
                DepositCreate(account_id=account.id, amount=amount, currency=account.currency),  # type: ignore[arg-type]
                f"world-{next(_keys)}",
            )
            transfer_ids.setdefault(name.split("-")[0], deposit.transfer.id)
        clearing = {
            a.currency: a
            for a in session.scalars(select(Account).where(Account.kind == "clearing"))
        }
        beneficiaries = _payees(session, {"acme": acme, "globex": globex}, users, now)
        session.flush()
        for a in [*accounts.values(), *clearing.values(), *beneficiaries.values()]:
            session.refresh(a)
        return World(
            bank=bank,
            tenants={"acme": acme, "globex": globex},
            users=users,
            accounts=accounts,
            clearing=clearing,
            grants=grants,
            transfer_ids=transfer_ids,
            beneficiaries=beneficiaries,
        )

    return unit_of_work(db, clock).run(build)


# The IBANs of the world's external payees (schwifty's and the banks' own examples).
SUPPLIER_IBAN = "DE89370400440532013000"
NEW_SUPPLIER_IBAN = "GB33BUKB20201555555555"


def _payees(
    session: Session, tenants: dict[str, Tenant], users: dict[str, User], now: dt.datetime
) -> dict[str, Beneficiary]:
    """Each company's supplier, external, active and added a month ago (no longer new); and
    for acme a new supplier that awaits approval, added by the payer, so that acme-admin (who
    did not add it) may approve it. Globex pays the same supplier: payees are per company."""
    month_ago = now - dt.timedelta(days=30)
    specs = {
        "acme-supplier": (
            "acme",
            "Lieferant GmbH",
            SUPPLIER_IBAN,
            "active",
            "acme-admin",
            month_ago,
        ),
        "acme-new-supplier": (
            "acme",
            "New Supplier Ltd",
            NEW_SUPPLIER_IBAN,
            "pending_approval",
            "acme-payer",
            now,
        ),
        "globex-supplier": (
            "globex",
            "Lieferant GmbH",
            SUPPLIER_IBAN,
            "active",
            "globex-admin",
            month_ago,
        ),
    }
    payees = {}
    for key, (tenant, name, iban, status, added_by, at) in specs.items():
        payees[key] = Beneficiary(
            bank_id=tenants[tenant].bank_id,
            tenant_id=tenants[tenant].id,  # type: ignore[arg-type]
            name=name,
            iban=iban,
            status=status,
            created_by_id=users[added_by].id,  # type: ignore[arg-type]
            created_at=at,
            updated_at=at,
        )
    session.add_all(payees.values())
    return payees


def with_logged_decision(db: Database, world: World, clock: Clock, tenant: str = "acme") -> int:
    """A refusal in the decision log, as the policy service logs it: the tenant's payer asking
    to manage its users (its facts included). Its id goes to world.decision_ids."""
    payer = world.users[f"{'acme' if tenant == 'acme' else 'globex'}-payer"]
    ctx = RequestContext(actor=actor_of(payer), clock=clock)
    resource = Resource.of_tenant(world.tenants[tenant].id, world.bank.id)  # type: ignore[arg-type]

    def ask(session: Session, asking: RequestContext) -> None:
        assert not check(session, asking, "user.manage", resource).allowed

    UnitOfWork(db, ctx).run(ask)

    def newest(session: Session, _ctx: RequestContext) -> int:
        found = session.scalar(select(func.max(DecisionRecord.id)))
        assert found is not None
        return int(found)

    world.decision_ids[tenant] = unit_of_work(db, clock, write=False).run(newest)
    return world.decision_ids[tenant]


def role(db: Database, key: str, tenant: Tenant) -> Role:
    def load(session: Session, _ctx: RequestContext) -> Role:
        return iam.builtin_role(session, key, bank_id=tenant.bank_id, tenant_id=tenant.id)

    return UnitOfWork(db, RequestContext(actor=None), write=False).run(load)


def bearer(app: Any, user: User, clock: Clock) -> dict[str, str]:
    token, _ = app.state.services.tokens.issue(user.id, clock.now())
    return {"Authorization": f"Bearer {token}"}


def new_key() -> str:
    return f"test-key-{next(_keys)}"
