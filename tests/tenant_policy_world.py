"""Per-tenant policy for tests: Acme's extension (no payments on a Friday to a beneficiary
younger than 7 days), its cases, and young beneficiaries to pay on a Friday."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from core.clock import Clock
from core.context import RequestContext
from core.db import Database
from core.models.payments import Beneficiary
from tests.factories import World, unit_of_work

# 2026-11-27 is a Friday: 10:00 in Berlin, 10:00 in Vienna.
FRIDAY = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
REASON = "tenant_rule:new_beneficiary_friday"
SENTENCE = "No payments on a Friday to a beneficiary added less than 7 days ago."
FRIDAY_RULE = f"""# Acme asked for it (their fraud team): a payee slipped in this week is never paid on a
# Friday, when fewer people look.
tenant_refuses(request, "{REASON}",
               "{SENTENCE}") if
    request.action = "payment.create" and
    request.local_time.weekday = 4 and
    request.beneficiary.age_days < 7;
"""
FRIDAY_CASES = """title: Acme's own rules
defaults:
  action: payment.create
  counterparty: clearing
  at: "2026-11-27T10:00:00+01:00"
grants:
  payer: {role: payer}
cases:
  - {name: a new beneficiary on a Friday, grants: [payer], beneficiary_age_days: 2, expect: "deny: tenant_rule:new_beneficiary_friday"}
  - {name: an old one on a Friday, grants: [payer], beneficiary_age_days: 30, expect: allow}
  - {name: a new one on a Thursday, grants: [payer], beneficiary_age_days: 2, at: "2026-11-26T10:00:00+01:00", expect: allow}
"""


def friday_extension(
    tenant_id: int, note: str = "Acme: no new payees on Fridays"
) -> dict[str, Any]:
    """The proposal of Acme's extension (POST /v1/policy/versions with a tenant)."""
    return {
        "tenant_id": tenant_id,
        "files": {"acme.polar": FRIDAY_RULE},
        "cases": {"acme.yaml": FRIDAY_CASES},
        "note": note,
    }


def with_young_beneficiaries(db: Database, world: World, clock: Clock) -> dict[str, int]:
    """For acme and globex each, an active beneficiary inside the bank (the other company's
    account) added 2 days before `clock`'s now. Answers their ids by tenant."""
    now = clock.now()
    targets = {"acme": "globex-main", "globex": "acme-payroll"}

    def build(session: Session, _ctx: RequestContext) -> dict[str, int]:
        ids = {}
        for tenant, account in targets.items():
            iban = world.accounts[account].iban
            assert iban is not None
            row = Beneficiary(
                bank_id=world.bank.id,  # type: ignore[arg-type]
                tenant_id=world.tenants[tenant].id,  # type: ignore[arg-type]
                name=f"New payee of {tenant}",
                iban=iban,
                status="active",
                created_by_id=world.user_id(f"{tenant}-admin"),
                created_at=now - dt.timedelta(days=2),
                updated_at=now - dt.timedelta(days=2),
            )
            session.add(row)
            session.flush()
            assert row.id is not None
            ids[tenant] = row.id
        return ids

    return unit_of_work(db, clock).run(build)
