"""Days and instants at the ends of the calendar are a 422, never a 500: a time the server turns
into UTC (or a company's zone) past year 9999 or before year 1 cannot be computed, so every
date and date-time the API takes is kept a day away from both ends (core.fields). Found by the
outsider attack: each case below was a 500 (OverflowError)."""

from __future__ import annotations

import pytest

from tests.factories import bearer
from tests.ledger_checks import snapshot

EDGES = [
    "9999-12-31T23:59:59-12:00",  # 10000-01-01 in UTC
    "0001-01-01T00:00:00+14:00",  # year 0 in UTC
    "9999-12-31T23:59:59Z",  # a day in the company's zone (Berlin) past year 9999
    "0001-01-01T00:00:00Z",
]
EDGE_DAYS = ["9999-12-31", "0001-01-01"]


def _refused(answer) -> None:  # type: ignore[no-untyped-def]
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "date_out_of_range", answer.text


@pytest.mark.parametrize("day", EDGE_DAYS)
@pytest.mark.parametrize("format", ["csv", "camt053"])
def test_a_statement_at_the_calendars_ends_is_422(client, app, world, clock, day, format):  # type: ignore[no-untyped-def]
    headers = bearer(app, world.users["acme-bookkeeper"], clock)
    account_id = world.account_id("acme-operating")
    answer = client.get(
        f"/v1/accounts/{account_id}/statements",
        params={"from": day, "to": day, "format": format},
        headers=headers,
    )
    _refused(answer)


@pytest.mark.parametrize("edge", EDGES)
@pytest.mark.parametrize("bound", ["since", "until"])
def test_the_decision_log_at_the_calendars_ends_is_422(client, app, world, clock, edge, bound):  # type: ignore[no-untyped-def]
    headers = bearer(app, world.users["acme-admin"], clock)
    _refused(client.get("/v1/decisions", params={bound: edge}, headers=headers))


@pytest.mark.parametrize("edge", EDGES)
def test_explain_at_the_calendars_ends_is_422(client, app, world, clock, edge):  # type: ignore[no-untyped-def]
    headers = bearer(app, world.users["acme-admin"], clock)
    params = {
        "user": world.user_id("acme-payer"),
        "action": "transfer.create",
        "account": world.account_id("acme-operating"),
        "amount": 100,
        "at": edge,
    }
    _refused(client.get("/v1/authz/explain", params=params, headers=headers))


@pytest.mark.parametrize("edge", EDGES)
@pytest.mark.parametrize("bound", ["valid_from", "valid_until"])
def test_a_grant_valid_at_the_calendars_ends_is_422_and_nothing_changes(  # type: ignore[no-untyped-def]
    client, app, db, world, clock, edge, bound
):
    headers = bearer(app, world.users["acme-admin"], clock)
    grant = {
        "user_id": world.user_id("acme-bookkeeper"),
        "role_id": world.grants["acme-payer"].role_id,
        bound: edge,
    }
    with db.unit_of_work(write=False) as session:
        before = snapshot(session)
    _refused(client.post("/v1/grants", json=grant, headers=headers))
    with db.unit_of_work(write=False) as session:
        assert snapshot(session) == before


def test_a_grant_valid_until_the_calendars_last_day_is_taken_and_decided(client, app, world, clock):  # type: ignore[no-untyped-def]
    headers = bearer(app, world.users["acme-admin"], clock)
    grant = {
        "user_id": world.user_id("acme-bookkeeper"),
        "role_id": world.grants["acme-payer"].role_id,
        "valid_from": "1900-01-01T00:00:00Z",
        "valid_until": "9998-12-31T23:59:59Z",
    }
    made = client.post("/v1/grants", json=grant, headers=headers)
    assert made.status_code == 201, made.text
    params = {
        "user": world.user_id("acme-bookkeeper"),
        "action": "transfer.create",
        "account": world.account_id("acme-operating"),
        "amount": 100,
    }
    for at in ("9998-12-31T23:59:59Z", "1900-01-01T00:00:00Z", None):
        explained = client.get(
            "/v1/authz/explain", params={**params, "at": at} if at else params, headers=headers
        )
        assert explained.status_code == 200, (at, explained.text)


@pytest.mark.parametrize("edge", EDGES)
def test_a_maintenance_window_at_the_calendars_ends_is_422(client, app, world, clock, edge):  # type: ignore[no-untyped-def]
    headers = bearer(app, world.users["manager"], clock)
    window = {
        "starts_at": "2026-12-24T22:00:00+01:00",
        "ends_at": edge,
        "mode": "read_only",
        "message": "Year-end upgrade",
    }
    _refused(client.post("/v1/maintenance-windows", json=window, headers=headers))
