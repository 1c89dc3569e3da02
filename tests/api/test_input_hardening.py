"""Client input that was a 500: forged cursors, NUL characters, long names, and creating the
same name twice at once. Each is a specific 4xx now."""

from __future__ import annotations

import base64
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select

from core.audit.service import TARGET_LENGTH
from core.models.audit import ActivityRecord
from tests.api.routes import fill, ids_of, queries
from tests.factories import bearer
from tests.ledger_checks import snapshot


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


FORGED = [
    "v1:2147483648",  # past INTEGER: PostgreSQL refused the parameter
    "v1:9223372036854775808",  # 2^63: past SQLite's integers
    "v1:" + "9" * 40,
    "v1:-1",
    "v1:+5",
    "v1: 5",
    "v1:١٢",
    "v2:5",
]


BIGINT_LISTS = {
    "/v1/accounts/{account_id}/entries",
    "/v1/decisions",
    "/v1/changes",
    "/v1/activity",
    "/v1/audit/checkpoints",
}


def _list_routes(app) -> list[str]:  # type: ignore[no-untyped-def]
    document = app.openapi()
    return [
        path
        for path, item in document["paths"].items()
        if "get" in item and any(p["name"] == "cursor" for p in item["get"].get("parameters", []))
    ]


COMPLIANCE_LISTS = {"/v1/decisions", "/v1/changes", "/v1/audit/checkpoints"}


def test_a_forged_cursor_is_422_invalid_cursor_on_every_list(client, app, world, clock):
    routes = _list_routes(app)
    assert len(routes) >= 6, routes
    ids = ids_of(world, "acme")
    query = queries(world, "acme")
    headers = bearer(app, world.users["manager"], clock)
    compliance = bearer(app, world.users["compliance"], clock)
    for template in routes:
        path = fill(template, ids)
        # The bank's logs and evidence are compliance's to read; the rest the manager's.
        who = compliance if template in COMPLIANCE_LISTS else headers
        params = dict(query.get(("GET", template), {}))
        assert client.get(path, params=params, headers=who).status_code == 200, path
        for forged in FORGED:
            if template in BIGINT_LISTS and forged == "v1:2147483648":
                continue  # in range there: see the next test
            response = client.get(path, params={**params, "cursor": _cursor(forged)}, headers=who)
            assert response.status_code == 422, (path, forged, response.text)
            assert response.json()["error"] == "invalid_cursor", (path, forged)


def test_a_cursor_past_int32_is_valid_where_the_key_is_bigint(client, app, world, clock):
    # Entries, decisions, changes and activity have BIGINT keys: their ids grow past 2^31.
    headers = bearer(app, world.users["compliance"], clock)
    big = _cursor("v1:2147483648")
    account = world.account_id("acme-operating")
    for path in (f"/v1/accounts/{account}/entries", "/v1/decisions", "/v1/changes", "/v1/activity"):
        response = client.get(path, params={"cursor": big}, headers=headers)
        assert response.status_code == 200, (path, response.text)


def test_nul_characters_are_refused_everywhere(client, app, db, world, clock):
    headers = bearer(app, world.users["acme-admin"], clock)
    with db.unit_of_work(write=False) as session:
        before = snapshot(session)
    answers = [
        client.post(
            "/v1/users",
            json={"username": "nul-user", "display_name": "a\x00b", "password": "x" * 16},
            headers=headers,
        ),
        client.post(
            "/v1/roles",
            content=b'{"name": "Clerk\\u0000", "permissions": ["account.read"]}',
            headers={**headers, "Content-Type": "application/json"},
        ),
        client.patch(
            f"/v1/users/{world.user_id('acme-payer')}",
            content=b'{"display_name": "x\x00y"}',
            headers={**headers, "Content-Type": "application/json"},
        ),
        # The unauthenticated token endpoint, as a form.
        client.post("/v1/auth/token", data={"username": "acme-payer\x00", "password": "x"}),
        client.post(
            "/v1/auth/token",
            content=b"username=%00&password=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        client.get("/v1/changes", params={"entity": "user\x00"}, headers=headers),
        client.get("/v1/decisions", params={"reason": "\x00"}, headers=headers),
        # The console's sign-in form.
        client.post("/console/sign-in", data={"username": "\x00", "password": "x"}),
    ]
    for response in answers:
        assert response.status_code == 422, (response.request.url, response.text)
        assert response.json()["error"] == "invalid_text"
    with db.unit_of_work(write=False) as session:
        assert snapshot(session) == before
    # An escaped backslash before u0000 is the text "\u0000", not a NUL.
    named = client.post(
        "/v1/roles",
        content=b'{"name": "Clerk \\\\u0000", "permissions": ["account.read"]}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert named.status_code == 201, named.text
    assert named.json()["name"] == "Clerk \\u0000"


def test_names_as_long_as_allowed_are_accepted_and_their_activity_recorded(
    client, app, db, world, clock
):
    # A tenant name of 90+ or a role name of 92+ characters overflowed the activity target.
    manager = bearer(app, world.users["manager"], clock)
    admin = bearer(app, world.users["acme-admin"], clock)
    tenant = client.post("/v1/tenants", json={"name": "T" * 100}, headers=manager)
    assert tenant.status_code == 201, tenant.text
    role = client.post(
        "/v1/roles", json={"name": "R" * 100, "permissions": ["account.read"]}, headers=admin
    )
    assert role.status_code == 201, role.text
    too_long = client.post("/v1/tenants", json={"name": "T" * 101}, headers=manager)
    assert too_long.status_code == 422
    with db.unit_of_work(write=False) as session:
        targets = list(session.scalars(select(ActivityRecord.target)))
    assert "new tenant " + "T" * (TARGET_LENGTH - len("new tenant ") - 1) + "…" in targets
    assert all(t is None or len(t) <= TARGET_LENGTH for t in targets)
    assert ActivityRecord.__table__.c.target.type.length == TARGET_LENGTH  # type: ignore[attr-defined]


CREATES = [
    (
        "manager",
        "/v1/users",
        {"username": "twin", "display_name": "Twin", "password": "x" * 16, "tenant_id": None},
        "username_taken",
    ),
    (
        "acme-admin",
        "/v1/roles",
        {"name": "Twin role", "permissions": ["account.read"]},
        "role_exists",
    ),
    ("manager", "/v1/tenants", {"name": "Twin Ltd"}, "tenant_exists"),
]


@pytest.mark.postgres_only
@pytest.mark.parametrize("username,path,body,code", CREATES, ids=[c[1] for c in CREATES])
def test_creating_the_same_name_at_once_is_one_201_and_the_rest_409(
    backend, app, world, clock, live_server, username, path, body, code
):
    if backend != "postgresql":
        pytest.skip("a race between check and insert: PostgreSQL only (SQLite serializes writers)")
    threads = 10
    if "tenant_id" in body:
        body = {**body, "tenant_id": world.tenants["acme"].id}
    headers = bearer(app, world.users[username], clock)
    start = threading.Barrier(threads)

    def create(_: int) -> tuple[int, str | None]:
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
            start.wait()
            response = http.post(path, json=body)
            error = response.json().get("error") if response.status_code != 201 else None
            return response.status_code, error

    with ThreadPoolExecutor(threads) as pool:
        outcomes = Counter(pool.map(create, range(threads)))
    assert outcomes == Counter({(201, None): 1, (409, code): threads - 1}), outcomes


@pytest.mark.parametrize(
    "amount,status,code",
    [
        ("9" * 5000, 400, "malformed_json"),  # past Python's int-from-text digit limit
        ("9" * 40, 422, "amount_too_large"),
        ("1e999", 422, "invalid_request"),
        ("1e1000000", 422, "invalid_request"),
        ("NaN", 422, "invalid_request"),
        ("-0", 422, "invalid_amount"),
    ],
    ids=lambda v: str(v)[:12],
)
def test_api_amounts_are_bounded_integers(client, app, db, world, clock, amount, status, code):
    headers = {
        **bearer(app, world.users["acme-payer"], clock),
        "Content-Type": "application/json",
        "Idempotency-Key": f"amount-{amount[:12]}",
    }
    body = (
        f'{{"from_account_id": {world.account_id("acme-operating")}, '
        f'"to_account_id": {world.account_id("acme-payroll")}, "amount": {amount}, '
        '"currency": "EUR"}'
    )
    with db.unit_of_work(write=False) as session:
        before = snapshot(session)
    response = client.post("/v1/transfers", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    with db.unit_of_work(write=False) as session:
        assert snapshot(session) == before
