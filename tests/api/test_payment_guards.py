"""A payment's guards ask the policy: the beneficiary is read with beneficiary.read, as every
guard loads its resource with the read permission first. So nobody learns more about a
beneficiary than they may read, and bank staff, who pay no company's beneficiaries, are
answered after the policy was asked (tests/api/test_route_authorization.py)."""

from __future__ import annotations

import pytest

from core.context import RequestContext
from core.iam import access
from core.iam import service as iam
from core.iam.schemas import RoleCreate
from core.models.iam import Role, User, actor_of
from tests.factories import PASSWORD, bearer, new_key, unit_of_work
from tests.payments_world import PaymentsWorld, build_payments_world


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    return build_payments_world(db, app.state.services.passwords, world, clock)


def _blind_payer(app, db, pw: PaymentsWorld, clock) -> User:  # type: ignore[no-untyped-def]
    """A person whose role pays from the company's accounts but reads no beneficiaries."""
    world = pw.world

    def make(session, _ctx):  # type: ignore[no-untyped-def]
        admin = session.get(User, world.user_id("acme-admin"))
        as_admin = RequestContext(actor=actor_of(admin), clock=clock)
        body = RoleCreate(name="Blind payer", permissions=["account.read", "payment.create"])
        role = session.get(Role, access.create_role(session, as_admin, body).id)
        user = iam.create_user(
            session,
            app.state.services.passwords,
            bank_id=world.bank.id,
            tenant_id=world.tenants["acme"].id,
            username="acme-blind-payer",
            display_name="Blind Payer",
            password=PASSWORD,
            now=clock.now(),
        )
        iam.grant_role(session, user, role, now=clock.now())
        return user

    return unit_of_work(db, clock).run(make)


def _body(pw: PaymentsWorld, beneficiary_id: int) -> dict:  # type: ignore[type-arg]
    return {
        "account_id": pw.world.account_id("acme-operating"),
        "beneficiary_id": beneficiary_id,
        "amount": 100_00,
        "currency": "EUR",
    }


def test_a_beneficiary_one_may_not_read_is_not_found(client, app, db, pw, clock):
    """Found here: the beneficiary was looked up without asking the policy, so a person
    without beneficiary.read paid it (201) and told it apart from one that does not exist."""
    blind = bearer(app, _blind_payer(app, db, pw, clock), clock)
    for path in ("/v1/payments", "/v1/payment-previews"):
        supplier = client.post(
            path,
            json=_body(pw, pw.beneficiary_id("supplier")),
            headers={**blind, "Idempotency-Key": new_key()},
        )
        unknown = client.post(
            path, json=_body(pw, 999_999), headers={**blind, "Idempotency-Key": new_key()}
        )
        assert supplier.status_code == unknown.status_code == 404, (path, supplier.text)
        assert supplier.json()["detail"] == (
            f"beneficiary {pw.beneficiary_id('supplier')} not found"
        )


def test_bank_staff_are_answered_by_the_policy(client, app, pw, clock):
    asked: list[int] = []
    app.state.services.observers.append(lambda request, ctx: asked.append(ctx.policy_queries))
    manager = bearer(app, pw.world.users["manager"], clock)
    answer = client.post(
        "/v1/payments",
        json=_body(pw, pw.beneficiary_id("supplier")),
        headers={**manager, "Idempotency-Key": new_key()},
    )
    assert answer.status_code == 404
    assert asked and asked[-1] >= 1
