"""Every money-moving, admin and refused decision is logged and explainable."""

from __future__ import annotations

import pytest

from tests.factories import bearer, new_key


def _limit_the_payer(client, app, world, clock, **limits):  # type: ignore[no-untyped-def]
    admin = bearer(app, world.users["acme-admin"], clock)
    response = client.patch(
        f"/v1/grants/{world.grants['acme-payer'].id}",
        json={"limits": {"currency": "EUR", **limits}},
        headers=admin,
    )
    assert response.status_code == 200, response.text


def test_refusals_and_money_moves_are_in_the_decision_log(client, app, world, clock):
    _limit_the_payer(client, app, world, clock, per_transfer=1_000_00)
    payer = bearer(app, world.users["acme-payer"], clock)
    body = {
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("acme-payroll"),
        "currency": "EUR",
    }
    ok = client.post(
        "/v1/transfers",
        json={**body, "amount": 500_00},
        headers={**payer, "Idempotency-Key": new_key()},
    )
    assert ok.status_code == 201
    refused = client.post(
        "/v1/transfers",
        json={**body, "amount": 5_000_00},
        headers={**payer, "Idempotency-Key": new_key()},
    )
    assert refused.status_code == 403
    peek = client.get(f"/v1/accounts/{world.account_id('globex-main')}", headers=payer)
    assert peek.status_code == 404

    compliance = bearer(app, world.users["compliance"], clock)
    log = client.get(
        "/v1/decisions", params={"actor": world.user_id("acme-payer")}, headers=compliance
    ).json()["items"]
    summary = [(d["action"], d["decision"], d["reason"]) for d in log]
    assert ("transfer.create", "allow", "ok") in summary
    assert ("transfer.create", "deny", "limit_per_transfer") in summary
    # Another tenant's account is out of reach before the policy is asked, as a missing one
    # is (tests/api/test_foreign_ids.py): no decision to log.
    assert ("account.read", "deny", "not_found") not in summary
    refusal = next(d for d in log if d["reason"] == "limit_per_transfer")
    assert refusal["amount"] == 5_000_00
    assert refusal["account_id"] == world.account_id("acme-operating")
    assert refusal["grant_id"] == world.grants["acme-payer"].id
    assert len(refusal["policy_version"]) == 16
    assert refusal["eval_us"] >= 0
    assert "Per-transfer limit 1,000.00 EUR" in refusal["detail"]

    only_denials = client.get(
        "/v1/decisions",
        params={"decision": "deny", "reason": "limit_per_transfer"},
        headers=compliance,
    ).json()["items"]
    assert [d["id"] for d in only_denials] == [refusal["id"]]
    paged = client.get("/v1/decisions", params={"limit": 1}, headers=compliance).json()
    assert len(paged["items"]) == 1 and paged["next_cursor"]
    second = client.get(
        "/v1/decisions", params={"limit": 1, "cursor": paged["next_cursor"]}, headers=compliance
    ).json()
    assert second["items"][0]["id"] < paged["items"][0]["id"]

    # The decision log is compliance's: a corporate admin and a payer cannot read it.
    for username in ("acme-admin", "acme-payer", "manager"):
        assert (
            client.get(
                "/v1/decisions", headers=bearer(app, world.users[username], clock)
            ).status_code
            == 404
        )


def test_explain_shows_each_grant_and_condition(client, app, world, clock):
    _limit_the_payer(client, app, world, clock, per_transfer=1_000_00, daily=1_500_00)
    admin = bearer(app, world.users["acme-admin"], clock)
    params = {
        "user": world.user_id("acme-payer"),
        "action": "transfer.create",
        "account": world.account_id("acme-operating"),
        "amount": 1_200_00,
    }
    explained = client.get("/v1/authz/explain", params=params, headers=admin)
    assert explained.status_code == 200, explained.text
    body = explained.json()
    assert body["decision"] == "deny"
    assert body["reason"] == "limit_per_transfer"
    assert body["status"] == 403
    [grant] = body["grants"]
    conditions = {c["name"]: c["passed"] for c in grant["conditions"]}
    assert conditions["permission"] is True
    assert conditions["per_transfer_limit"] is False
    assert conditions["daily_limit"] is True
    limits = {limit["kind"]: limit for limit in grant["effective_limits"]}
    assert limits["per_transfer"]["amount"] == 1_000_00
    assert limits["daily"]["remaining"] == 1_500_00

    allowed = client.get("/v1/authz/explain", params={**params, "amount": 900_00}, headers=admin)
    assert allowed.json()["decision"] == "allow"
    weekend = client.get(
        "/v1/authz/explain",
        params={**params, "amount": 900_00, "at": "2026-11-28T10:00:00+01:00"},
        headers=admin,
    ).json()
    assert weekend["decision"] == "allow"  # no window on this grant: weekends too
    # Nothing was moved by asking.
    payer = bearer(app, world.users["acme-payer"], clock)
    assert client.get("/v1/activity", headers=payer).json()["items"] == []

    # Only those who may explain may ask, and only about their own tenant.
    payer_asks = client.get("/v1/authz/explain", params=params, headers=payer)
    assert payer_asks.status_code == 404  # a payer may not read users: none is there
    globex = bearer(app, world.users["globex-admin"], clock)
    assert client.get("/v1/authz/explain", params=params, headers=globex).status_code == 404


def test_capabilities_list_what_a_person_can_do_now(client, app, world, clock):
    _limit_the_payer(client, app, world, clock, per_transfer=1_000_00, daily=1_500_00)
    admin = bearer(app, world.users["acme-admin"], clock)
    payer = bearer(app, world.users["acme-payer"], clock)
    sent = client.post(
        "/v1/transfers",
        json={
            "from_account_id": world.account_id("acme-operating"),
            "to_account_id": world.account_id("acme-payroll"),
            "amount": 600_00,
            "currency": "EUR",
        },
        headers={**payer, "Idempotency-Key": new_key()},
    )
    assert sent.status_code == 201
    rows = client.get(f"/v1/users/{world.user_id('acme-payer')}/capabilities", headers=admin).json()
    operating = next(r for r in rows if r["account_id"] == world.account_id("acme-operating"))
    assert operating["actions"] == {
        "account.read": True,
        "statement.read": True,
        "transfer.create": True,
    }
    daily = next(limit for limit in operating["limits"] if limit["kind"] == "daily")
    assert daily["remaining"] == 900_00
    usd = next(r for r in rows if r["account_id"] == world.account_id("acme-usd"))
    assert usd["actions"]["transfer.create"] is False
    assert usd["refusals"]["transfer.create"] == "limit_currency_mismatch"


# Every time parameter of the API, and a valid value for what else the request needs.
TIME_PARAMETERS = [
    ("GET", "/v1/authz/explain", "at", {"action": "account.read"}),
    ("GET", "/v1/decisions", "since", {}),
    ("GET", "/v1/decisions", "until", {}),
    ("POST", "/v1/grants", "valid_from", {}),
    ("POST", "/v1/grants", "valid_until", {}),
    ("PATCH", "/v1/grants/{grant}", "valid_from", {}),
    ("PATCH", "/v1/grants/{grant}", "valid_until", {}),
]


@pytest.mark.parametrize("method,path,name,rest", TIME_PARAMETERS)
def test_a_time_without_an_offset_is_refused_everywhere(
    client, app, world, clock, method, path, name, rest
):
    """One rule: a time carries its offset. Reading 10:00 as UTC when the person meant Berlin
    would answer a different question, silently."""
    headers = bearer(app, world.users["compliance" if "decisions" in path else "acme-admin"], clock)
    path = path.replace("{grant}", str(world.grants["acme-bookkeeper"].id))
    fields = dict(rest)
    if path == "/v1/authz/explain":
        fields["user"] = world.user_id("acme-payer")
    if path == "/v1/grants":
        fields |= {
            "user_id": world.user_id("acme-bookkeeper"),
            "role_id": world.grants["acme-payer"].role_id,
        }
    answers = {}
    for typed in ("2026-12-02T10:00:00", "2026-12-02T10:00:00+01:00"):
        given = {**fields, name: typed}
        if method == "GET":
            answers[typed] = client.get(path, params=given, headers=headers)
        else:
            answers[typed] = client.request(method, path, json=given, headers=headers)
    naive = answers["2026-12-02T10:00:00"]
    assert (naive.status_code, naive.json()["error"]) == (422, "naive_datetime"), naive.text
    assert "+01:00" in naive.json()["detail"]
    aware = answers["2026-12-02T10:00:00+01:00"]
    assert aware.status_code in (200, 201), aware.text


def test_the_openapi_document_says_times_need_an_offset(client):
    document = client.get("/openapi.json").json()
    explain = document["paths"]["/v1/authz/explain"]["get"]["parameters"]
    decisions = document["paths"]["/v1/decisions"]["get"]["parameters"]
    for parameter in [*explain, *decisions]:
        if parameter["name"] in ("at", "since", "until"):
            assert "naive_datetime" in parameter["description"], parameter
    assert "naive_datetime" in str(document["components"]["schemas"]["GrantCreate"])


def test_one_decision_is_read_with_its_facts_and_another_banks_is_not_found(
    client, app, world, db, clock
):
    """GET /v1/decisions/{id}: the decision as the log lists it, with the facts it was made
    on (ids and codes only); another bank's decision, like a missing one, is not found."""
    from core.context import RequestContext
    from core.iam import service as iam
    from core.models.audit import DecisionRecord
    from tests.factories import unit_of_work, with_logged_decision

    decision_id = with_logged_decision(db, world, clock)
    compliance = bearer(app, world.users["compliance"], clock)
    one = client.get(f"/v1/decisions/{decision_id}", headers=compliance)
    assert one.status_code == 200, one.text
    body = one.json()
    (listed,) = [
        d
        for d in client.get("/v1/decisions", headers=compliance).json()["items"]
        if d["id"] == decision_id
    ]
    assert {k: v for k, v in body.items() if k not in ("facts", "fact_values")} == listed
    assert (body["action"], body["decision"], body["reason"]) == (
        "user.manage",
        "deny",
        "missing_permission",
    )
    facts = body["facts"]
    assert facts["actor"] == {
        "id": world.user_id("acme-payer"),
        "kind": "customer",
        "bank": world.bank.id,
        "tenant": world.tenants["acme"].id,
        "scoped": False,
        "scopes": [],
    }
    assert [g["id"] for g in facts["grants"]] == [world.grants["acme-payer"].id]
    assert set(body["fact_values"]) == {"now"}
    # Only compliance reads the log: anyone else finds nothing there.
    manager = bearer(app, world.users["manager"], clock)
    assert client.get(f"/v1/decisions/{decision_id}", headers=manager).status_code == 404

    def other_bank(session, _ctx: RequestContext) -> int:  # type: ignore[no-untyped-def]
        bank = iam.create_bank(session, "Other Bank")
        person = iam.create_user(
            session,
            None,
            bank_id=bank.id,  # type: ignore[arg-type]
            tenant_id=None,
            username="other-officer",
            display_name="Other Officer",
            password="",
            password_hash="not a hash: nobody signs in as this person",
            now=clock.now(),
        )
        record = DecisionRecord(
            at=clock.now(),
            actor_id=person.id,  # type: ignore[arg-type]
            bank_id=bank.id,  # type: ignore[arg-type]
            action="decision.read",
            resource_type="bank",
            decision="allow",
            reason="ok",
            policy_version="0" * 16,
            eval_us=1,
        )
        session.add(record)
        session.flush()
        return record.id  # type: ignore[return-value]

    foreign = unit_of_work(db, clock).run(other_bank)
    missing = foreign + 1000
    answers = [client.get(f"/v1/decisions/{i}", headers=compliance) for i in (foreign, missing)]
    assert [a.status_code for a in answers] == [404, 404]
    assert [a.json() for a in answers] == [
        {"error": "not_found", "detail": f"decision {i} not found"} for i in (foreign, missing)
    ]
