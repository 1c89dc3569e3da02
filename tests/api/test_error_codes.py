"""The OpenAPI document lists, per operation, exactly the error codes it can answer with.

Two halves keep the lists true:
- nothing unlisted: every error answer of the whole test run is recorded at the ASGI
  boundary (tests/answers.py); the last test fails on an (operation, status, code) that the
  operation does not list under that status;
- nothing impossible: every listed code is raisable from the operation's own code (read
  from the source, tests/error_reach.py), or follows from the operation's shape
  (api.errors.common_codes: a body can be malformed or too large, parameters invalid, the
  database away or too busy), which holds for that shape whatever the route does.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.errors import CODES_KEY, common_codes, documented_as
from core.errors import ERROR_CODES
from core.policy.reasons import REASONS, TENANT_RULES
from core.settings import Settings
from tests.answers import ANSWERS, operation_of
from tests.api.routes import api_routes
from tests.error_reach import raisable_codes
from tests.factories import World, bearer

# What the shape of an operation gives, outside any route's code: FastAPI's parsing and
# validation, api.middleware.BodyLimits, and the database's failures (api.errors).
SHAPE_ONLY = {"malformed_json", "payload_too_large", "invalid_request", "contention"}
SHAPE_ONLY |= {"database_unavailable", "idempotency_key_required", "idempotency_key_invalid"}
SHAPE_ONLY |= {"headers_too_large", "invalid_text"}
# A maintenance window in force (api.maintenance), whatever the route.
SHAPE_ONLY |= {"maintenance"}


def _app() -> FastAPI:
    keys = tempfile.mkdtemp()
    settings = Settings(
        environment="test",
        database_url=f"sqlite:///{keys}/unused.db",  # never connected to
        token_key_path=Path(keys) / "key.pem",
    )
    return create_app(settings, check_migrations=False)


APP = _app()
DOCUMENT = APP.openapi()


def listed(method: str, path: str) -> dict[int, list[str]]:
    responses = DOCUMENT["paths"][path][method.lower()]["responses"]
    return {int(s): r[CODES_KEY] for s, r in responses.items() if CODES_KEY in r}


def operations() -> list[tuple[str, str, Any]]:
    out = []
    for route in api_routes(APP):
        if route.path in DOCUMENT["paths"]:
            for method in sorted(route.methods - {"HEAD"}):
                out.append((method, route.path, route.route.endpoint))
    return out


def test_an_operation_lists_its_own_codes_only() -> None:
    create_user = listed("POST", "/v1/users")
    everything = {code for codes in create_user.values() for code in codes}
    assert "insufficient_funds" not in everything
    assert "username_taken" in create_user[409]
    assert "self_change_forbidden" in create_user[403]
    # A token for enrolment only opens nothing but setting up one's second factor.
    assert set(create_user[401]) == {
        "unauthenticated",
        "invalid_token",
        "token_expired",
        "mfa_enrolment_required",
    }
    # A read has nothing to refuse but its absence; a body-less GET has no 400, and its 413
    # is only a body sent where none belongs, past the limit every method has.
    get_account = listed("GET", "/v1/accounts/{account_id}")
    assert get_account[404] == ["not_found"]
    assert 403 not in get_account and 400 not in get_account
    assert get_account[413] == ["payload_too_large"]
    transfer = listed("POST", "/v1/transfers")
    assert {"limit_daily", "outside_time_window"} <= set(transfer[403])
    assert "idempotency_key_required" in transfer[400]
    # A step-up is a 401, with the RFC 9470 challenge documented beside it.
    assert "step_up_required" in transfer[401]
    challenge = DOCUMENT["paths"]["/v1/transfers"]["post"]["responses"]["401"]["headers"]
    assert "max_age" in challenge["WWW-Authenticate"]["description"]


def test_every_error_response_has_the_error_shape_and_known_codes() -> None:
    known = set(ERROR_CODES) | set(REASONS) | {TENANT_RULES}
    for method, path, _endpoint in operations():
        responses = DOCUMENT["paths"][path][method.lower()]["responses"]
        for status, response in responses.items():
            if int(status) < 400:
                continue
            assert CODES_KEY in response, (method, path, status)
            assert set(response[CODES_KEY]) <= known, (method, path, status)
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)


def test_every_listed_code_can_be_raised_by_its_operation() -> None:
    impossible = []
    for method, path, endpoint in operations():
        operation = DOCUMENT["paths"][path][method.lower()]
        by_shape = set(common_codes(path, operation)) & SHAPE_ONLY
        possible = raisable_codes(endpoint) | by_shape
        for status, codes in listed(method, path).items():
            impossible += [(method, path, status, c) for c in codes if c not in possible]
    assert impossible == [], impossible


def test_the_reach_finds_what_a_route_cannot_raise() -> None:
    """The static half can fail: POST /v1/users cannot run out of funds, a transfer can."""
    by_path = {(m, p): e for m, p, e in operations()}
    assert "insufficient_funds" not in raisable_codes(by_path[("POST", "/v1/users")])
    assert "insufficient_funds" in raisable_codes(by_path[("POST", "/v1/transfers")])
    assert "limit_daily" not in raisable_codes(by_path[("POST", "/v1/users")])


def test_some_answers_for_the_record(client: TestClient, world: World, app, clock) -> None:  # type: ignore[no-untyped-def]
    """A few answers of this module's own, so that the last test judges something even when
    this file runs alone."""
    payer = bearer(app, world.users["acme-payer"], clock)
    refused = client.post(
        "/v1/users",
        headers=payer,
        json={"username": "new-person", "display_name": "New", "password": "x" * 16},
    )
    assert refused.status_code in (403, 404)
    assert client.get("/v1/me").json()["error"] == "unauthenticated"
    assert client.get("/v1/accounts/999999", headers=payer).json()["error"] == "not_found"


@pytest.mark.after_all_requests
def test_every_answered_code_is_listed() -> None:
    """Every (operation, status, code) answered during the whole run is listed."""
    assert ANSWERS, "no error answer was recorded"
    unlisted: dict[tuple[str, str], set[tuple[int, str]]] = defaultdict(set)
    for answer in ANSWERS:
        path = operation_of(DOCUMENT, answer.method, answer.path)
        if path is None:
            continue  # not an operation of the API (the console, an unknown path, a 405)
        # A company's own reason (tenant_rule:<name>) is listed as its family.
        if documented_as(answer.code) not in listed(answer.method, path).get(answer.status, []):
            unlisted[(answer.method, path)].add((answer.status, answer.code))
    assert dict(unlisted) == {}
