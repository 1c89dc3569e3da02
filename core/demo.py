"""The demo bank that `make run` seeds: a bank with staff (two bank managers: the bank's
changes wait for a second one), the tenant Acme Ltd with two corporate admins (dual
administration is on: one's changes wait for the other), a bookkeeper, a payer and two
approvers (signature groups A and B), a decision service (another service of Acme's that asks
Mandate for decisions through AuthZEN), two EUR accounts, two beneficiaries (a supplier at
another bank, and Globex's account here), the bank's EUR clearing account, Acme's approval
rules and the bank's approval minimum: enough to walk a payment under dual control from the
payer through both approvers (README, "Payments under dual control"), and a grant through
both corporate admins (README, "Give someone a limited payer grant"). Globex GmbH, a second
customer, has an admin and a payer: one company's own rules leave the other's alone (README,
"Changing the rules for one customer")."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.clock import Clock, SystemClock
from core.context import RequestContext
from core.iam import service as iam
from core.iam.credentials import Passwords
from core.ledger import service as ledger
from core.ledger.schemas import AccountCreate, DepositCreate
from core.models.iam import Bank, LimitCap, Tenant, User, actor_of
from core.models.payments import ApprovalRule, Beneficiary
from core.payments.beneficiaries import internal_account_id

BANK_NAME = "Mandate Demo Bank"
DEMO_PASSWORD = "demo-password"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    who: str


LOGINS = [
    DemoLogin("manager", "bank manager (Mandate Demo Bank)"),
    DemoLogin("manager-2", "second bank manager: approves the first's change requests"),
    DemoLogin("compliance", "compliance officer (Mandate Demo Bank)"),
    DemoLogin("compliance-b", "a second compliance officer (four eyes on policy versions)"),
    DemoLogin("acme-admin", "corporate admin of Acme Ltd (dual administration: changes wait)"),
    DemoLogin("acme-admin-2", "second corporate admin of Acme Ltd: approves the first's"),
    DemoLogin("acme-bookkeeper", "bookkeeper of Acme Ltd (read-only)"),
    DemoLogin("acme-payer", "payer of Acme Ltd: 200,000.00 EUR per transfer, 500,000.00 EUR a day"),
    DemoLogin("acme-approver-a", "approver of Acme Ltd, group A: up to 500,000.00 EUR"),
    DemoLogin("acme-approver-b", "approver of Acme Ltd, group B: up to 500,000.00 EUR"),
    DemoLogin("acme-decisions", "Acme's decision service: asks Mandate for decisions (AuthZEN)"),
    DemoLogin("globex-admin", "corporate admin of Globex GmbH (another tenant)"),
    DemoLogin("globex-payer", "payer of Globex GmbH: 50,000.00 EUR per transfer"),
]


def seed(session: Session, passwords: Passwords, clock: Clock | None = None) -> bool:
    """Create the demo bank unless it exists. Returns False when it was already there."""
    if session.scalar(select(Bank).where(col(Bank.name) == BANK_NAME)) is not None:
        return False
    clock = clock or SystemClock()
    now = clock.now()
    bank = iam.create_bank(session, BANK_NAME)
    assert bank.id is not None
    bank_id = bank.id
    # Dual administration: a bank manager's changes wait for the second bank manager.
    bank.dual_control = True

    def user(username: str, name: str, tenant_id: int | None) -> iam.User:
        return iam.create_user(
            session,
            passwords,
            bank_id=bank_id,
            tenant_id=tenant_id,
            username=username,
            display_name=name,
            password=DEMO_PASSWORD,
            now=now,
        )

    manager = user("manager", "Maria Manager", None)
    second_manager = user("manager-2", "Max Manager", None)
    compliance = user("compliance", "Carl Compliance", None)
    # A second officer: a policy version one proposes, the other approves and activates.
    compliance_b = user("compliance-b", "Clara Compliance", None)
    for person, key in (
        (manager, "bank_manager"),
        (second_manager, "bank_manager"),
        (compliance, "compliance_officer"),
        (compliance_b, "compliance_officer"),
    ):
        iam.grant_role(
            session,
            person,
            iam.builtin_role(session, key, bank_id=bank.id, tenant_id=None),
            now=now,
        )
    session.add(
        LimitCap(
            bank_id=bank.id,
            tenant_id=None,
            currency="EUR",
            per_transfer_limit=250_000_00,
            daily_limit=1_000_000_00,
            monthly_limit=2_000_000_00,
            updated_by_id=manager.id,
            updated_at=now,
        )
    )
    # The bank's minimum, which every customer inherits: large payments to other banks need
    # two approvals.
    session.add(
        ApprovalRule(
            bank_id=bank.id,
            tenant_id=None,
            currency="EUR",
            min_amount=50_000_00,
            kind="external",
            approvals=2,
            group_a=0,
            updated_by_id=manager.id,
            updated_at=now,
        )
    )

    acme = iam.create_tenant(session, bank.id, "Acme Ltd", "Europe/Berlin")
    assert acme.id is not None
    # Dual administration: a corporate admin's changes wait for the other corporate admin.
    acme.dual_admin = True
    session.add(
        LimitCap(
            bank_id=bank.id,
            tenant_id=acme.id,
            currency="EUR",
            per_transfer_limit=200_000_00,
            daily_limit=500_000_00,
            monthly_limit=1_000_000_00,
            updated_by_id=manager.id,
            updated_at=now,
        )
    )
    admin = user("acme-admin", "Ada Admin", acme.id)
    second_admin = user("acme-admin-2", "Alex Admin", acme.id)
    bookkeeper = user("acme-bookkeeper", "Bob Bookkeeper", acme.id)
    payer = user("acme-payer", "Paula Payer", acme.id)
    approver_a = user("acme-approver-a", "Alice Approver", acme.id)
    approver_b = user("acme-approver-b", "Bruno Approver", acme.id)
    # Another service of Acme (its ERP) that asks Mandate whether people may do something
    # rather than re-implementing the rules (README, "Decisions for other services").
    decisions = user("acme-decisions", "Acme ERP (decisions)", acme.id)

    def role(key: str, tenant_id: int) -> iam.Role:
        return iam.builtin_role(session, key, bank_id=bank_id, tenant_id=tenant_id)

    for corporate_admin in (admin, second_admin):
        iam.grant_role(
            session,
            corporate_admin,
            role("corporate_admin", acme.id),
            created_by=manager.id,
            now=now,
        )
    iam.grant_role(session, bookkeeper, role("bookkeeper", acme.id), created_by=admin.id, now=now)
    iam.grant_role(
        session, decisions, role("decision_service", acme.id), created_by=admin.id, now=now
    )
    iam.grant_role(
        session,
        payer,
        role("payer", acme.id),
        created_by=admin.id,
        now=now,
        limit_currency="EUR",
        per_transfer_limit=200_000_00,
        # Room for every README recipe in one day, in order (payments, a payroll file, ...).
        daily_limit=500_000_00,
    )
    for approver, group in ((approver_a, "A"), (approver_b, "B")):
        iam.grant_role(
            session,
            approver,
            role("approver", acme.id),
            created_by=admin.id,
            now=now,
            approval_group=group,
            limit_currency="EUR",
            approval_limit=500_000_00,
        )
    # Acme's approval panel: one approval from 10,000.00 EUR, two from 100,000.00 EUR (one of
    # them from group A).
    for minimum, approvals, group_a in ((10_000_00, 1, 0), (100_000_00, 2, 1)):
        session.add(
            ApprovalRule(
                bank_id=bank.id,
                tenant_id=acme.id,
                currency="EUR",
                min_amount=minimum,
                approvals=approvals,
                group_a=group_a,
                updated_by_id=admin.id,
                updated_at=now,
            )
        )

    globex = iam.create_tenant(session, bank.id, "Globex GmbH", "Europe/Vienna")
    assert globex.id is not None
    globex_admin = user("globex-admin", "Gina Globex", globex.id)
    iam.grant_role(
        session, globex_admin, role("corporate_admin", globex.id), created_by=manager.id, now=now
    )
    globex_payer = user("globex-payer", "Gert Payer", globex.id)
    iam.grant_role(
        session,
        globex_payer,
        role("payer", globex.id),
        created_by=globex_admin.id,
        now=now,
        limit_currency="EUR",
        per_transfer_limit=50_000_00,
    )

    ctx = RequestContext(actor=actor_of(manager), clock=clock)
    accounts = []
    for tenant_id, name in (
        (acme.id, "Acme Operating"),
        (acme.id, "Acme Payroll"),
        (globex.id, "Globex Main"),
    ):
        accounts.append(
            ledger.open_account(
                session, ctx, AccountCreate(tenant_id=tenant_id, name=name, currency="EUR")
            )
        )
    for account, amount in zip(accounts, (500_000_00, 40_000_00, 75_000_00), strict=True):
        ledger.create_deposit(
            session,
            ctx,
            DepositCreate(
                account_id=account.id, amount=amount, currency="EUR", description="Opening deposit"
            ),
            f"demo-opening-deposit-{account.id}",
        )
    session.flush()
    globex_main = accounts[2].iban
    assert globex_main is not None
    _payees(
        session, acme, admin, {"Lieferant GmbH": SUPPLIER_IBAN, "Globex Main": globex_main}, now
    )
    return True


# A German IBAN at another bank (the example IBAN of the German banks' association).
SUPPLIER_IBAN = "DE89370400440532013000"


def _payees(
    session: Session, tenant: Tenant, added_by: User, ibans: dict[str, str], now: dt.datetime
) -> None:
    """The tenant's beneficiaries, added a month ago by its admin: active, and no longer new,
    so that paying them needs no approval of its own."""
    month_ago = now - dt.timedelta(days=30)
    for name, iban in ibans.items():
        session.add(
            Beneficiary(
                bank_id=tenant.bank_id,
                tenant_id=tenant.id,  # type: ignore[arg-type]
                name=name,
                iban=iban,
                internal_account_id=internal_account_id(session, tenant.bank_id, iban),
                status="active",
                created_by_id=added_by.id,  # type: ignore[arg-type]
                created_at=month_ago,
                updated_at=month_ago,
            )
        )
    session.flush()
