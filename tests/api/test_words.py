"""What people read: explanations, refusals, logs and activity say things in words, beside
the data a machine reads."""

from __future__ import annotations

import csv
import io

from oso import Variable

from core.policy import engine as policy_engine
from tests.admin.console import sign_in
from tests.factories import bearer, new_key

# Saturday 28 November 2026, 10:00 in Berlin.
SATURDAY = "2026-11-28T10:00:00+01:00"
WINDOW = {
    "days": ["mon", "tue", "wed", "thu", "fri"],
    "start": "09:00",
    "end": "17:00",
    "time_zone": "Europe/Berlin",
}


def _limit_the_payer(client, app, world, clock):  # type: ignore[no-untyped-def]
    admin = bearer(app, world.users["acme-admin"], clock)
    response = client.patch(
        f"/v1/grants/{world.grants['acme-payer'].id}",
        json={
            "limits": {"currency": "EUR", "per_transfer": 1_000_00, "daily": 5_000_00},
            "window": WINDOW,
        },
        headers=admin,
    )
    assert response.status_code == 200, response.text
    return admin


def test_explain_gives_each_condition_in_words_beside_its_data(client, app, world, clock):
    admin = _limit_the_payer(client, app, world, clock)
    params = {
        "user": world.user_id("acme-payer"),
        "action": "transfer.create",
        "account": world.account_id("acme-operating"),
        "amount": 900_00,
        "at": SATURDAY,
    }
    body = client.get("/v1/authz/explain", params=params, headers=admin).json()
    assert body["reason"] == "outside_time_window"
    [grant] = body["grants"]
    conditions = {c["name"]: c for c in grant["conditions"]}
    window = conditions["time_window"]
    assert window["passed"] is False
    assert window["detail"]["days"] == [0, 1, 2, 3, 4]  # the data stays
    assert window["detail"]["start"] == 540 and window["detail"]["end"] == 1020
    assert window["text"] == (
        "Allowed Mon–Fri 09:00–17:00 Europe/Berlin; it is Sat 10:00 there: outside it."
    )
    assert conditions["per_transfer_limit"]["text"] == (
        "Up to 1,000.00 EUR per transfer (set by the grant); this transfer is 900.00 EUR."
    )
    assert conditions["daily_limit"]["text"] == (
        "Up to 5,000.00 EUR a day (set by the grant); today with this transfer: 900.00 EUR."
    )
    assert conditions["permission"]["text"].startswith(
        "The role carries transfer.create (Move money between the company's own accounts"
    )
    assert conditions["valid_until"]["text"] == "No end date."
    assert {c["name"]: c["text"] for c in body["checks"]}["visible"] == (
        "The account is within their reach."
    )
    weekday = client.get(
        "/v1/authz/explain", params={**params, "at": "2026-11-25T10:00:00+01:00"}, headers=admin
    ).json()
    [grant] = weekday["grants"]
    window = {c["name"]: c for c in grant["conditions"]}["time_window"]
    assert window["passed"] is True
    assert window["text"] == "Allowed Mon–Fri 09:00–17:00 Europe/Berlin; it is Wed 10:00 there."


def test_a_missing_permission_is_refused_in_words(client, app, world, clock):
    bookkeeper = bearer(app, world.users["acme-bookkeeper"], clock)
    refused = client.post(
        "/v1/transfers",
        json={
            "from_account_id": world.account_id("acme-operating"),
            "to_account_id": world.account_id("acme-payroll"),
            "amount": 400_00,
            "currency": "EUR",
        },
        headers={**bookkeeper, "Idempotency-Key": new_key()},
    )
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "missing_permission",
        "detail": "Your roles do not let you send money from this account.",
    }


def test_every_permission_has_words_for_its_refusal() -> None:
    engine = policy_engine.current()
    permissions = {
        str(a["name"])
        for a in engine.query("permission", Variable("name"), Variable("level"), Variable("text"))
    }
    # Actions that go with a permission (payment.reject with payment.approve) need a grant too.
    going_with = {
        str(a["name"]) for a in engine.query("goes_with", Variable("name"), Variable("permission"))
    }
    worded = {
        str(a["name"]) for a in engine.query("refusal_text", Variable("name"), Variable("text"))
    }
    assert permissions and worded == permissions | going_with


def test_a_success_in_the_activity_says_what_was_done(client, app, world, clock):
    admin = _limit_the_payer(client, app, world, clock)
    payer = bearer(app, world.users["acme-payer"], clock)
    sent = client.post(
        "/v1/transfers",
        json={
            "from_account_id": world.account_id("acme-operating"),
            "to_account_id": world.account_id("acme-payroll"),
            "amount": 400_00,
            "currency": "EUR",
        },
        headers={**payer, "Idempotency-Key": new_key()},
    )
    assert sent.status_code == 201, sent.text
    [entry] = client.get("/v1/activity", headers=payer).json()["items"]
    assert entry["outcome"] == "succeeded"
    assert entry["detail"] == "sent 400.00 EUR from acme-operating to acme-payroll"

    created = client.post(
        "/v1/users",
        json={"username": "new-clerk", "display_name": "New Clerk", "password": "x" * 16},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    activity = client.get("/v1/activity", headers=admin).json()["items"]
    assert activity[0]["detail"] == "created user new-clerk (New Clerk)"
    assert activity[1]["detail"] == (
        "changed grant "
        f"{world.grants['acme-payer'].id} of acme-payer: over all accounts, up to 1,000.00 EUR "
        "per transfer, up to 5,000.00 EUR a day, Mon–Fri 09:00–17:00 Europe/Berlin"
    )


def test_the_logs_name_the_actor(client, app, world, clock):
    _limit_the_payer(client, app, world, clock)
    compliance = bearer(app, world.users["compliance"], clock)
    [change] = client.get("/v1/changes", params={"entity": "grant"}, headers=compliance).json()[
        "items"
    ]
    assert change["actor_id"] == world.user_id("acme-admin")
    assert change["actor_username"] == "acme-admin"
    decisions = client.get(
        "/v1/decisions", params={"actor": world.user_id("acme-admin")}, headers=compliance
    ).json()["items"]
    assert decisions and {d["actor_username"] for d in decisions} == {"acme-admin"}

    sign_in(client, "compliance")
    exported = client.get("/console/decisions.csv", params={"actor": world.user_id("acme-admin")})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows and {r["actor_username"] for r in rows} == {"acme-admin"}
    assert {r["actor_id"] for r in rows} == {str(world.user_id("acme-admin"))}
    assert "acme-admin" in client.get("/console/changes").text
