"""The demo bank's payees: Acme pays a supplier at another bank and Globex's account here, both
added long enough ago to be paid without an approval of their own; seeding again adds none."""

from __future__ import annotations

from sqlalchemy import select

from core import demo
from core.models.iam import Tenant
from core.models.ledger import Account
from core.models.payments import Beneficiary
from core.payments.beneficiaries import is_new


def test_acme_pays_a_supplier_elsewhere_and_globex_here(db, app, clock):  # type: ignore[no-untyped-def]
    passwords = app.state.services.passwords
    with db.unit_of_work() as session:
        assert demo.seed(session, passwords, clock)
    with db.unit_of_work() as session:
        assert not demo.seed(session, passwords, clock)
    with db.unit_of_work(write=False) as session:
        payees = {b.name: b for b in session.scalars(select(Beneficiary))}
        assert sorted(payees) == ["Globex Main", "Lieferant GmbH"]
        acme = session.scalar(select(Tenant).where(Tenant.name == "Acme Ltd"))
        globex_main = session.scalar(select(Account).where(Account.name == "Globex Main"))
        assert acme is not None and globex_main is not None
        supplier, partner = payees["Lieferant GmbH"], payees["Globex Main"]
        assert (supplier.iban, supplier.internal_account_id) == ("DE89370400440532013000", None)
        assert (partner.iban, partner.internal_account_id) == (globex_main.iban, globex_main.id)
        for payee in payees.values():
            assert payee.tenant_id == acme.id
            assert payee.status == "active" and payee.deleted_at is None
            assert not is_new(payee, acme, clock.now())
