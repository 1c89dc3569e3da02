"""Payment files as an ERP writes them, with the kept client-side library sepaxml, and a world
of employees to pay: on top of tests.payments_world (approvers, Acme's panel: one approval
from 10,000.00 EUR, two with one from group A from 100,000.00 EUR)."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sepaxml
from schwifty import IBAN
from sepaxml import SepaTransfer
from sqlalchemy.orm import Session

from core.batches import service as batches
from core.clock import Clock
from core.context import RequestContext
from core.db import Database
from core.iam.credentials import Passwords
from core.models.iam import actor_of
from core.models.payments import Beneficiary
from core.uow import UnitOfWork
from tests.factories import SUPPLIER_IBAN, World, new_key, unit_of_work
from tests.payments_world import PaymentsWorld, build_payments_world

# What ERP software writes for "as soon as possible" (a date that has passed).
AS_SOON_AS_POSSIBLE = dt.date(1999, 1, 1)


@dataclass(frozen=True)
class Credit:
    """One payment of a file: to whom, their IBAN, how much (minor units), what for."""

    name: str
    iban: str
    amount: int
    reference: str = "Salary November"


def employee_iban(number: int) -> str:
    """A valid German IBAN of another bank for employee `number` (schwifty computes it)."""
    return str(IBAN.generate("DE", bank_code="37040044", account_code=str(10_000 + number)))


def employees(count: int, amount: int = 1_234_56) -> list[Credit]:
    return [
        Credit(f"Employee {n}", employee_iban(n), amount + n, f"Salary November {n}")
        for n in range(1, count + 1)
    ]


def pain001(
    debtor_iban: str,
    credits: Sequence[Credit],
    *,
    schema: str = "pain.001.001.09",
    execution_date: dt.date = AS_SOON_AS_POSSIBLE,
    currency: str = "EUR",
    validate: bool = True,
) -> bytes:
    """A pain.001 file paying `credits` from `debtor_iban`, made by sepaxml (its own MsgId).
    `currency` is the one each payment's amount is in."""
    transfer = SepaTransfer(
        {
            "name": "Acme Ltd",
            "IBAN": debtor_iban,
            "BIC": "MANDDEB1XXX",
            "batch": True,
            "currency": currency,
        },
        schema=schema,
        clean=True,
    )
    for number, credit in enumerate(credits, start=1):
        transfer.add_payment(
            {
                "name": credit.name,
                "IBAN": credit.iban,
                "amount": credit.amount,
                "execution_date": execution_date,
                "description": credit.reference,
                "endtoend_id": f"E2E-{number}-{uuid.uuid4().hex[:8]}",
            }
        )
    data = bytes(transfer.export(validate=False))
    if validate:
        # sepaxml's own check (its XSD, by xmlschema), with the schema built once: sepaxml
        # builds it for every file, a third of a second each, which the authorization matrix
        # paid over a thousand times.
        _sepaxml_schema(schema).validate(data.decode())
    return data


@functools.cache
def _sepaxml_schema(schema: str) -> Any:
    import xmlschema  # as sepaxml imports it: late (it patches etree when imported)

    return xmlschema.XMLSchema(str(Path(sepaxml.__file__).parent / "schemas" / f"{schema}.xsd"))


def add_payees(db: Database, world: World, clock: Clock, credits: Sequence[Credit]) -> None:
    """The credits' creditors as Acme's beneficiaries, added a month ago (no longer new)."""
    added = clock.now() - dt.timedelta(days=30)

    def add(session: Session, _ctx: RequestContext) -> None:
        session.add_all(
            Beneficiary(
                bank_id=world.bank.id,  # type: ignore[arg-type]
                tenant_id=world.tenants["acme"].id,  # type: ignore[arg-type]
                name=credit.name,
                iban=credit.iban,
                created_by_id=world.user_id("acme-admin"),
                created_at=added,
                updated_at=added,
            )
            for credit in credits
        )

    unit_of_work(db, clock).run(add)


def upload(client, headers: dict[str, str], data: bytes, key: str | None = None):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/payment-batches",
        content=data,
        headers={
            **headers,
            "Content-Type": "application/xml",
            "Idempotency-Key": key or str(uuid.uuid4()),
        },
    )


# The batch of with_pending_batch: 20,000.00 EUR to Acme's supplier elsewhere, in two
# payments; one approval needed (Acme's tier from 10,000.00 EUR).
PENDING_BATCH = [
    Credit("Lieferant GmbH", SUPPLIER_IBAN, 12_000_00),
    Credit("Lieferant GmbH", SUPPLIER_IBAN, 8_000_00),
]


def supplier_file(world: World, amount: int = 1_00) -> bytes:
    """A file paying Acme's supplier `amount` from acme-operating (a new MsgId each time)."""
    iban = world.accounts["acme-operating"].iban or ""
    return pain001(iban, [Credit("Lieferant GmbH", SUPPLIER_IBAN, amount, "Invoice 9")])


def with_pending_batch(
    db: Database, passwords: Passwords, world: World, clock: Clock, pw: PaymentsWorld | None = None
) -> PaymentsWorld:
    """The payments world (unless given), and a batch acme-payer uploaded that waits for one
    approval (world.batch_ids["acme"]), made through the service the API calls."""
    pw = pw or build_payments_world(db, passwords, world, clock)
    ctx = RequestContext(actor=actor_of(world.users["acme-payer"]), clock=clock)
    data = pain001(world.accounts["acme-operating"].iban or "", PENDING_BATCH)
    made = UnitOfWork(db, ctx).run(batches.create_batch, data, new_key())
    assert made.batch.status == "pending_approval", made.batch
    world.batch_ids["acme"] = made.batch.id
    return pw
