"""Corporate admins shape roles and grants through the API; the policy enforces the result."""

from __future__ import annotations

import datetime as dt

from tests.factories import bearer, new_key


def _post_transfer(client, headers, world, amount, source="acme-operating", to="acme-payroll"):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/transfers",
        json={
            "from_account_id": world.account_id(source),
            "to_account_id": world.account_id(to),
            "amount": amount,
            "currency": "EUR",
        },
        headers={**headers, "Idempotency-Key": new_key()},
    )


def test_admin_builds_a_custom_role_and_a_windowed_limited_grant(client, app, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    manager = bearer(app, world.users["manager"], clock)
    cap = client.put(
        f"/v1/tenants/{world.tenants['acme'].id}/caps/EUR",
        json={"per_transfer": 5_000_00, "daily": 20_000_00},
        headers=manager,
    )
    assert cap.status_code == 200, cap.text

    vocabulary = {p["name"]: p for p in client.get("/v1/permissions", headers=admin).json()}
    assert vocabulary["transfer.create"]["composable"] is True
    assert vocabulary["grant.manage"]["composable"] is False

    role = client.post(
        "/v1/roles",
        json={"name": "Payroll clerk", "permissions": ["account.read", "transfer.create"]},
        headers=admin,
    )
    assert role.status_code == 201, role.text
    assert role.json()["permissions"] == ["account.read", "transfer.create"]

    refused = client.post(
        "/v1/roles",
        json={"name": "Sneaky", "permissions": ["account.read", "grant.manage"]},
        headers=admin,
    )
    assert refused.status_code == 422
    assert refused.json()["error"] == "invalid_permission"

    # The bookkeeper becomes a payroll clerk: payroll account only, weekdays 09-17 Berlin,
    # 1,000.00 per transfer, 1,500.00 a day.
    grant_body = {
        "user_id": world.user_id("acme-bookkeeper"),
        "role_id": role.json()["id"],
        "all_accounts": False,
        "account_ids": [world.account_id("acme-payroll")],
        "limits": {"currency": "EUR", "per_transfer": 1_000_00, "daily": 1_500_00},
        "window": {
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "start": "09:00",
            "end": "17:00",
            "time_zone": "Europe/Berlin",
        },
    }
    over_cap = client.post(
        "/v1/grants",
        json={**grant_body, "limits": {"currency": "EUR", "daily": 25_000_00}},
        headers=admin,
    )
    assert over_cap.status_code == 403
    assert over_cap.json()["error"] == "exceeds_cap"
    assert "20,000.00 EUR" in over_cap.json()["detail"]
    grant = client.post("/v1/grants", json=grant_body, headers=admin)
    assert grant.status_code == 201, grant.text
    assert grant.json()["window"]["days"] == ["mon", "tue", "wed", "thu", "fri"]

    clerk = bearer(app, world.users["acme-bookkeeper"], clock)
    # Wednesday 10:00 Berlin (the fixture's clock): inside the window.
    ok = _post_transfer(client, clerk, world, 900_00, source="acme-payroll", to="acme-operating")
    assert ok.status_code == 201, ok.text
    over = _post_transfer(client, clerk, world, 700_00, source="acme-payroll", to="acme-operating")
    assert over.status_code == 403
    assert over.json()["error"] == "limit_daily"
    assert over.json()["detail"] == (
        "Daily limit 1,500.00 EUR (set by your grant): 900.00 EUR already sent today, "
        "this transfer needs 700.00 EUR."
    )
    # The operating account is outside the grant's scope: the clerk can see it (bookkeeper)
    # but the custom grant does not reach it.
    scope = _post_transfer(client, clerk, world, 10_00, source="acme-operating")
    assert scope.status_code == 403
    assert scope.json()["error"] == "missing_permission"

    clock.advance(hours=9)  # 19:00 Berlin
    clerk = bearer(app, world.users["acme-bookkeeper"], clock)
    late = _post_transfer(client, clerk, world, 10_00, source="acme-payroll", to="acme-operating")
    assert late.status_code == 403
    assert late.json()["error"] == "outside_time_window"
    assert "Mon–Fri 09:00–17:00 Europe/Berlin" in late.json()["detail"]

    clock.advance(hours=14)  # Thursday 09:00: a new day and a new daily total
    clerk = bearer(app, world.users["acme-bookkeeper"], clock)
    next_day = _post_transfer(
        client, clerk, world, 700_00, source="acme-payroll", to="acme-operating"
    )
    assert next_day.status_code == 201, next_day.text


def test_no_one_changes_their_own_access(client, app, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    payer_role = world.grants["acme-payer"].role_id
    own = client.post(
        "/v1/grants",
        json={"user_id": world.user_id("acme-admin"), "role_id": payer_role},
        headers=admin,
    )
    assert own.status_code == 403
    assert own.json()["error"] == "self_change_forbidden"
    own_grant = world.grants["acme-admin"].id
    edit = client.patch(f"/v1/grants/{own_grant}", json={"clear_validity": True}, headers=admin)
    assert edit.status_code == 403
    assert edit.json()["error"] == "self_change_forbidden"
    deactivate = client.patch(
        f"/v1/users/{world.user_id('acme-admin')}", json={"is_active": False}, headers=admin
    )
    assert deactivate.status_code == 403


def test_builtin_roles_are_read_only_and_listed_from_the_policy(client, app, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    roles = client.get("/v1/roles", headers=admin).json()
    by_key = {r["key"]: r for r in roles}
    assert set(by_key) >= {"bookkeeper", "payer", "approver", "corporate_admin"}
    assert by_key["bookkeeper"]["permissions"] == [
        "account.read",
        "beneficiary.read",
        "statement.read",
    ]
    assert all(r["tenant_id"] == world.tenants["acme"].id for r in roles)
    change = client.patch(
        f"/v1/roles/{by_key['payer']['id']}", json={"description": "mine now"}, headers=admin
    )
    assert change.status_code in (403, 409)


def test_revoking_a_grant_takes_effect_at_once_and_is_logged(client, app, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    payer = bearer(app, world.users["acme-payer"], clock)
    assert _post_transfer(client, payer, world, 100).status_code == 201
    revoke = client.delete(f"/v1/grants/{world.grants['acme-payer'].id}", headers=admin)
    assert revoke.status_code == 200
    assert revoke.json()["revoked_at"] is not None
    after = _post_transfer(client, payer, world, 100)
    assert after.status_code == 404  # without any grant the account is out of reach
    compliance = bearer(app, world.users["compliance"], clock)
    log = client.get("/v1/changes", params={"entity": "grant"}, headers=compliance).json()["items"]
    assert log[0]["change"] == "revoke"
    assert log[0]["actor_id"] == world.user_id("acme-admin")
    assert log[0]["before"]["role_key"] == "payer"


def test_grant_validity_is_enforced(client, app, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    start = (clock.now() + dt.timedelta(days=1)).isoformat()
    grant = client.post(
        "/v1/grants",
        json={
            "user_id": world.user_id("acme-bookkeeper"),
            "role_id": world.grants["acme-payer"].role_id,
            "valid_from": start,
        },
        headers=admin,
    )
    assert grant.status_code == 201, grant.text
    bookkeeper = bearer(app, world.users["acme-bookkeeper"], clock)
    early = _post_transfer(client, bookkeeper, world, 100)
    assert early.status_code == 403
    assert early.json()["error"] == "grant_not_yet_valid"
    clock.advance(days=1)
    bookkeeper = bearer(app, world.users["acme-bookkeeper"], clock)
    assert _post_transfer(client, bookkeeper, world, 100).status_code == 201


def test_bad_grant_input_is_a_clear_422(client, app, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    base = {
        "user_id": world.user_id("acme-bookkeeper"),
        "role_id": world.grants["acme-payer"].role_id,
    }
    cases = [
        (
            {
                "window": {
                    "days": ["mon"],
                    "start": "09:00",
                    "end": "09:00",
                    "time_zone": "Europe/Berlin",
                }
            },
            "invalid_window",
        ),
        (
            {
                "window": {
                    "days": ["mon"],
                    "start": "9am",
                    "end": "17:00",
                    "time_zone": "Europe/Berlin",
                }
            },
            "invalid_time",
        ),
        (
            {
                "window": {
                    "days": ["mon"],
                    "start": "09:00",
                    "end": "17:00",
                    "time_zone": "Mars/Olympus",
                }
            },
            "unknown_time_zone",
        ),
        (
            {"window": {"days": ["someday"], "start": "09:00", "end": "17:00", "time_zone": "UTC"}},
            "invalid_request",
        ),
        ({"all_accounts": False}, "invalid_scope"),
        (
            {"all_accounts": False, "account_ids": [world.account_id("globex-main")]},
            "invalid_scope",
        ),
        (
            {"valid_from": "2026-12-01T00:00:00+00:00", "valid_until": "2026-11-01T00:00:00+00:00"},
            "invalid_validity",
        ),
        ({"valid_from": "2026-12-01T00:00:00"}, "naive_datetime"),
        ({"limits": {"currency": "EUR", "daily": 0}}, "invalid_request"),
        ({"limits": {"currency": "XXX", "daily": 10}}, "unknown_currency"),
    ]
    for change, code in cases:
        response = client.post("/v1/grants", json={**base, **change}, headers=admin)
        assert response.status_code == 422, (change, response.text)
        assert response.json()["error"] == code, (change, response.text)


def test_a_deleted_role_is_gone_for_every_purpose_but_the_record(client, app, world, clock):
    """Deleting a role still granted is refused (role_in_use: revoking people's access is a
    decision of its own); once deleted it cannot be read, changed, granted, listed or deleted
    again, its name is free, and the change log still names it."""
    admin = bearer(app, world.users["acme-admin"], clock)
    role = client.post(
        "/v1/roles",
        json={"name": "Payroll clerk", "permissions": ["account.read", "transfer.create"]},
        headers=admin,
    ).json()
    grant = client.post(
        "/v1/grants",
        json={"user_id": world.user_id("acme-bookkeeper"), "role_id": role["id"]},
        headers=admin,
    )
    assert grant.status_code == 201, grant.text
    in_use = client.delete(f"/v1/roles/{role['id']}", headers=admin)
    assert (in_use.status_code, in_use.json()["error"]) == (409, "role_in_use")
    assert client.delete(f"/v1/grants/{grant.json()['id']}", headers=admin).status_code == 200

    assert client.delete(f"/v1/roles/{role['id']}", headers=admin).status_code == 204
    missing = {"error": "not_found", "detail": f"role {role['id']} not found"}
    for method, body in (("GET", None), ("PATCH", {"description": "back"}), ("DELETE", None)):
        answer = client.request(method, f"/v1/roles/{role['id']}", json=body, headers=admin)
        assert (answer.status_code, answer.json()) == (404, missing), method
    regrant = client.post(
        "/v1/grants",
        json={"user_id": world.user_id("acme-bookkeeper"), "role_id": role["id"]},
        headers=admin,
    )
    assert (regrant.status_code, regrant.json()) == (404, missing)
    listed = client.get("/v1/roles", headers=admin).json()
    assert role["id"] not in [r["id"] for r in listed]

    # The name is free again; the old grant and the change log still name the old role.
    again = client.post(
        "/v1/roles", json={"name": "Payroll clerk", "permissions": ["account.read"]}, headers=admin
    )
    assert again.status_code == 201, again.text
    old_grant = client.get(f"/v1/grants/{grant.json()['id']}", headers=admin).json()
    assert (old_grant["role_id"], old_grant["role_name"]) == (role["id"], "Payroll clerk")
    manager = bearer(app, world.users["compliance"], clock)
    changes = client.get("/v1/changes", params={"entity": "role"}, headers=manager).json()
    deletions = [c for c in changes["items"] if c["change"] == "delete"]
    assert [c["entity_id"] for c in deletions] == [role["id"]]


def test_a_window_may_end_at_24_00_the_end_of_the_day(client, app, world, clock):
    """The end is excluded, so 00:00-23:59 would refuse 23:59:30: 24:00 says "to the end of
    the day". 24:00 is no start, and 00:00-00:00 is refused with the way to say it."""
    admin = bearer(app, world.users["acme-admin"], clock)
    payer_grant = world.grants["acme-payer"].id
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    whole_day = {"days": every_day, "start": "00:00", "end": "24:00", "time_zone": "Europe/Berlin"}
    changed = client.patch(f"/v1/grants/{payer_grant}", json={"window": whole_day}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["window"]["end"] == "24:00"
    assert client.get(f"/v1/grants/{payer_grant}", headers=admin).json()["window"] == whole_day

    clock.at = dt.datetime(2026, 11, 25, 23, 59, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    payer = bearer(app, world.users["acme-payer"], clock)
    admin = bearer(app, world.users["acme-admin"], clock)
    late = _post_transfer(client, payer, world, 100)
    assert late.status_code == 201, late.text

    evening = {**whole_day, "start": "22:00"}
    assert (
        client.patch(f"/v1/grants/{payer_grant}", json={"window": evening}, headers=admin)
    ).status_code == 200
    clock.at = dt.datetime(2026, 11, 26, 0, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    payer = bearer(app, world.users["acme-payer"], clock)
    after_midnight = _post_transfer(client, payer, world, 100)
    assert after_midnight.json()["error"] == "outside_time_window", after_midnight.text

    for window, code, hint in (
        ({**whole_day, "start": "24:00"}, "invalid_time", "00:00 to 23:59"),
        ({**whole_day, "end": "24:01"}, "invalid_time", "24:00 for the end of the day"),
        ({**whole_day, "end": "00:00"}, "invalid_window", "00:00-24:00"),
    ):
        refused = client.patch(f"/v1/grants/{payer_grant}", json={"window": window}, headers=admin)
        assert (refused.status_code, refused.json()["error"]) == (422, code), window
        assert hint in refused.json()["detail"], refused.text


def test_the_openapi_document_says_a_windows_end_is_excluded(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    window = next(s for name, s in schemas.items() if name.startswith("TimeWindow"))
    end = window["properties"]["end"]["description"]
    assert "excluded" in end and "24:00" in end
