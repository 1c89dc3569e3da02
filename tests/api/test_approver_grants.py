"""An approver's terms through the grants API: the signature group and the approval limit are
given, changed, kept and cleared like a grant's other parts, refused where they would mean
nothing, written to the change log and the activity, and held by the policy when the
approver approves."""

from __future__ import annotations

from typing import Any

import pytest

from core.money import MAX_AMOUNT
from tests.factories import bearer, new_key, unit_of_work
from tests.payments_world import PaymentsWorld, add_approver, build_payments_world


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    return build_payments_world(db, app.state.services.passwords, world, clock)


def _role_id(client, admin, key: str) -> int:  # type: ignore[no-untyped-def]
    return next(r["id"] for r in client.get("/v1/roles", headers=admin).json() if r["key"] == key)


def _new_person(client, admin, username: str) -> int:  # type: ignore[no-untyped-def]
    created = client.post(
        "/v1/users",
        json={"username": username, "display_name": username.title(), "password": "x" * 16},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _bearer_of(app, user_id: int, clock) -> dict[str, str]:  # type: ignore[no-untyped-def]
    token, _ = app.state.services.tokens.issue(user_id, clock.now())
    return {"Authorization": f"Bearer {token}"}


def _grant_changes(client, app, world, clock, grant_id: int) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    compliance = bearer(app, world.users["compliance"], clock)
    log = client.get("/v1/changes", params={"entity": "grant"}, headers=compliance)
    assert log.status_code == 200, log.text
    return [c for c in log.json()["items"] if c["entity_id"] == grant_id]


def test_an_approvers_terms_are_given_changed_kept_and_cleared(client, app, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    person = _new_person(client, admin, "ann-approver")
    created = client.post(
        "/v1/grants",
        json={
            "user_id": person,
            "role_id": _role_id(client, admin, "approver"),
            "limits": {"currency": "EUR"},
            "approval_group": "A",
            "approval_limit": 1_000_00,
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    grant = created.json()
    assert (grant["approval_group"], grant["approval_limit"]) == ("A", 1_000_00)
    assert grant["limits"] == {
        "currency": "EUR",
        "per_transfer": None,
        "daily": None,
        "monthly": None,
    }
    grant_id = grant["id"]
    assert client.get(f"/v1/grants/{grant_id}", headers=admin).json()["approval_limit"] == 1_000_00

    def patch(body: dict[str, Any]) -> dict[str, Any]:
        answer = client.patch(f"/v1/grants/{grant_id}", json=body, headers=admin)
        assert answer.status_code == 200, (body, answer.text)
        shown = answer.json()
        assert client.get(f"/v1/grants/{grant_id}", headers=admin).json() == shown
        return shown

    def terms(shown: dict[str, Any]) -> tuple[Any, Any]:
        return shown["approval_group"], shown["approval_limit"]

    assert terms(patch({"approval_limit": 2_500_00})) == ("A", 2_500_00)
    assert terms(patch({"approval_group": "B"})) == ("B", 2_500_00)
    # Left out, or null: kept (a null never widens what the approver may approve).
    assert terms(patch({"window": None})) == ("B", 2_500_00)
    assert terms(patch({"approval_group": None, "approval_limit": None})) == ("B", 2_500_00)
    # Another currency for the limits: the approval limit is counted in it from now on.
    assert patch({"limits": {"currency": "USD"}})["limits"]["currency"] == "USD"
    assert terms(patch({"clear_approval_limit": True})) == ("B", None)
    # With no approval limit left, the limits may go too.
    assert patch({"clear_limits": True})["limits"] is None
    assert terms(patch({"clear_approval_group": True})) == (None, None)

    changes = _grant_changes(client, app, world, clock, grant_id)
    created_entry = changes[-1]
    assert created_entry["change"] == "create" and created_entry["before"] is None
    assert created_entry["after"]["approval_group"] == "A"
    assert created_entry["after"]["approval_limit"] == 1_000_00
    first_update = changes[-2]
    assert first_update["change"] == "update"
    assert first_update["before"]["approval_limit"] == 1_000_00
    assert first_update["after"]["approval_limit"] == 2_500_00
    cleared = changes[0]
    assert (cleared["before"]["approval_group"], cleared["after"]["approval_group"]) == ("B", None)

    activity = client.get("/v1/activity", headers=admin).json()["items"]
    done = [a["detail"] for a in activity if a["outcome"] == "succeeded"]
    assert done[-1] == "created user ann-approver (Ann-Approver)"
    assert done[-2] == (
        "gave ann-approver the role Approver over all accounts, signature group A, "
        "approving up to 1,000.00 EUR a payment"
    )
    assert done[-3] == (
        f"changed grant {grant_id} of ann-approver: over all accounts, signature group A, "
        "approving up to 2,500.00 EUR a payment"
    )


def test_approval_terms_that_would_mean_nothing_are_a_clear_422(client, app, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    approver_role = _role_id(client, admin, "approver")
    payer_role = world.grants["acme-payer"].role_id
    person = _new_person(client, admin, "bob-approver")
    base = {"user_id": person, "role_id": approver_role, "limits": {"currency": "EUR"}}
    cases: list[tuple[dict[str, Any], str]] = [
        # An approval limit is counted in the grant's limit currency: none, no limit.
        ({"limits": None, "approval_limit": 1_000_00}, "approval_limit: an approval limit is"),
        # Terms on a role that approves nothing are refused, never kept unused.
        (
            {"role_id": payer_role, "approval_group": "A"},
            "approval_group: the role Payer does not carry payment.approve",
        ),
        (
            {"role_id": payer_role, "approval_limit": 1_00},
            "approval_limit: the role Payer does not carry payment.approve",
        ),
        ({"approval_group": "C"}, "approval_group"),
        ({"approval_group": "a"}, "approval_group"),
        ({"approval_group": 1}, "approval_group"),
        ({"approval_limit": 0}, "approval_limit"),
        ({"approval_limit": -5}, "approval_limit"),
        ({"approval_limit": 10.5}, "approval_limit"),
        ({"approval_limit": "100"}, "approval_limit"),
        ({"approval_limit": True}, "approval_limit"),
        ({"approval_limit": MAX_AMOUNT + 1}, "approval_limit"),
    ]
    for change, detail in cases:
        answer = client.post("/v1/grants", json={**base, **change}, headers=admin)
        assert answer.status_code == 422, (change, answer.text)
        assert answer.json()["error"] == "invalid_request", (change, answer.text)
        assert answer.json()["detail"].startswith(detail), (change, answer.text)
    assert client.get("/v1/grants", params={"user_id": person}, headers=admin).json()["items"] == []

    given = client.post(
        "/v1/grants", json={**base, "approval_group": "B", "approval_limit": 5_00}, headers=admin
    )
    assert given.status_code == 201, given.text
    grant_id = given.json()["id"]
    payer_grant = world.grants["acme-payer"].id
    patches: list[tuple[int, dict[str, Any], str]] = [
        # Clearing the limits would leave the approval limit without its currency.
        (grant_id, {"clear_limits": True}, "approval_limit: an approval limit is"),
        (grant_id, {"approval_limit": 0}, "approval_limit"),
        (grant_id, {"approval_group": "Z"}, "approval_group"),
        (grant_id, {"clear_approval_limit": "yes"}, "clear_approval_limit"),
        (payer_grant, {"approval_group": "A"}, "approval_group: the role Payer does not"),
        (payer_grant, {"approval_limit": 1_00}, "approval_limit: the role Payer does not"),
    ]
    for target, body, detail in patches:
        answer = client.patch(f"/v1/grants/{target}", json=body, headers=admin)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"] == "invalid_request", (body, answer.text)
        assert answer.json()["detail"].startswith(detail), (body, answer.text)
    kept = client.get(f"/v1/grants/{grant_id}", headers=admin).json()
    assert (kept["approval_group"], kept["approval_limit"], kept["limits"]["currency"]) == (
        "B",
        5_00,
        "EUR",
    )
    assert [c["change"] for c in _grant_changes(client, app, world, clock, grant_id)] == ["create"]
    # Clearing terms a role does not use is always possible (nothing is given).
    cleared = client.patch(
        f"/v1/grants/{payer_grant}", json={"clear_approval_group": True}, headers=admin
    )
    assert cleared.status_code == 200, cleared.text


def test_nobody_gives_themselves_approval_terms(client, app, pw, clock):
    # An approver who also manages grants may not raise their own approval limit.
    admin_grant = pw.world.grants["acme-admin"].id
    admin = bearer(app, pw.world.users["acme-admin"], clock)
    own = client.patch(
        f"/v1/grants/{admin_grant}", json={"approval_limit": MAX_AMOUNT}, headers=admin
    )
    assert own.status_code == 403 and own.json()["error"] == "self_change_forbidden"
    # An approver without grant.manage changes no grant at all, their own included.
    approver = bearer(app, pw.approvers["acme-approver-b"], clock)
    mine = pw.world.grants["acme-approver-b"].id
    raised = client.patch(
        f"/v1/grants/{mine}", json={"approval_limit": MAX_AMOUNT}, headers=approver
    )
    assert raised.status_code in (403, 404)
    assert client.get(f"/v1/grants/{mine}", headers=admin).json()["approval_limit"] == 500_000_00


def test_an_approval_limit_given_through_the_api_is_held_by_the_policy(client, app, pw, clock):
    world = pw.world
    admin = bearer(app, world.users["acme-admin"], clock)
    person = _new_person(client, admin, "carl-approver")
    given = client.post(
        "/v1/grants",
        json={
            "user_id": person,
            "role_id": _role_id(client, admin, "approver"),
            "limits": {"currency": "EUR"},
            "approval_group": "B",
            "approval_limit": 1_000_00,
        },
        headers=admin,
    )
    assert given.status_code == 201, given.text

    payer = bearer(app, world.users["acme-payer"], clock)
    made = client.post(
        "/v1/payments",
        json={
            "account_id": world.account_id("acme-operating"),
            "beneficiary_id": pw.beneficiary_id("supplier"),
            "amount": 20_000_00,
            "currency": "EUR",
            "reference": "Invoice 77",
        },
        headers={**payer, "Idempotency-Key": new_key()},
    )
    assert made.status_code == 202, made.text
    payment = made.json()
    assert payment["status"] == "pending_approval"

    approver = _bearer_of(app, person, clock)
    refused = client.post(
        f"/v1/payments/{payment['id']}/approve",
        headers={**approver, "Idempotency-Key": new_key()},
    )
    assert refused.status_code == 403, refused.text
    assert refused.json() == {
        "error": "approval_limit_exceeded",
        "detail": "Your approval limit is 1,000.00 EUR; this payment is 20,000.00 EUR.",
    }
    # Nor does the limit let them veto what they could not approve.
    vetoed = client.post(
        f"/v1/payments/{payment['id']}/reject", json={"reason": "no"}, headers=approver
    )
    assert vetoed.status_code == 403, vetoed.text
    assert vetoed.json() == refused.json()

    raised = client.patch(
        f"/v1/grants/{given.json()['id']}", json={"approval_limit": 20_000_00}, headers=admin
    )
    assert raised.status_code == 200, raised.text
    approved = client.post(
        f"/v1/payments/{payment['id']}/approve",
        headers={**approver, "Idempotency-Key": new_key()},
    )
    assert approved.status_code == 201, approved.text
    assert approved.json()["status"] == "sent"


def test_an_approver_below_the_amount_cannot_reject_it_either(client, app, db, pw, clock):
    """A veto is held to what approving is: the approval limit per payment covers the amount.
    acme-approver-low (1,000.00 EUR) neither approves nor rejects 100,000.00 EUR; an approver
    whose limit covers it rejects it."""
    world = pw.world
    unit_of_work(db, clock).run(
        lambda session, _ctx: add_approver(
            session,
            app.state.services.passwords,
            world,
            "acme-approver-low",
            group="A",
            limit=1_000_00,
            now=clock.now(),
        )
    )
    made = client.post(
        "/v1/payments",
        json={
            "account_id": world.account_id("acme-operating"),
            "beneficiary_id": pw.beneficiary_id("supplier"),
            "amount": 100_000_00,
            "currency": "EUR",
        },
        headers={**bearer(app, world.users["acme-payer"], clock), "Idempotency-Key": new_key()},
    )
    assert made.status_code == 202, made.text
    payment_id = made.json()["id"]
    low = bearer(app, world.users["acme-approver-low"], clock)
    vetoed = client.post(
        f"/v1/payments/{payment_id}/reject", json={"reason": "too much"}, headers=low
    )
    assert vetoed.status_code == 403, vetoed.text
    assert vetoed.json() == {
        "error": "approval_limit_exceeded",
        "detail": "Your approval limit is 1,000.00 EUR; this payment is 100,000.00 EUR.",
    }
    payer = bearer(app, world.users["acme-payer"], clock)
    assert client.get(f"/v1/payments/{payment_id}", headers=payer).json()["status"] == (
        "pending_approval"
    )
    rejected = client.post(
        f"/v1/payments/{payment_id}/reject",
        json={"reason": "unknown invoice"},
        headers=bearer(app, world.users["acme-approver-a"], clock),
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"


def test_the_openapi_document_adds_the_approval_terms_as_optional_fields(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("GrantCreate", "GrantUpdate"):
        assert "approval_group" in schemas[name]["properties"]
        assert "approval_limit" in schemas[name]["properties"]
        assert not {"approval_group", "approval_limit"} & set(schemas[name].get("required", []))
    assert {"clear_approval_group", "clear_approval_limit"} <= set(
        schemas["GrantUpdate"]["properties"]
    )
    assert {"approval_group", "approval_limit"} <= set(schemas["GrantPublic"]["required"])
