"""What the schemathesis run (test_fuzz.py) found, kept as ordinary tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_fuzz import openapi_document
from tests.factories import bearer
from tests.ledger_checks import snapshot


def _transfer(world):  # type: ignore[no-untyped-def]
    return {
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("acme-payroll"),
        "amount": 100_00,
        "currency": "EUR",
    }


def test_405_lists_every_method_of_the_path(client, app, world, clock):
    # Starlette named only the first route's methods (FastAPI has a route per method), and the
    # error handler dropped the Allow header altogether; RFC 9110 requires it.
    headers = bearer(app, world.users["manager"], clock)
    for method, path, allowed in (
        ("DELETE", "/v1/users", {"GET", "POST"}),
        ("TRACE", "/healthz", {"GET"}),
        ("PUT", "/v1/grants/1", {"GET", "PATCH", "DELETE"}),
        ("GET", "/v1/deposits", {"POST"}),
    ):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 405
        assert response.json()["error"] == "method_not_allowed"
        assert set(response.headers["Allow"].split(", ")) - {"HEAD"} == allowed, path


def test_a_body_that_cannot_be_parsed_is_400_malformed_json(client, app, world, clock):
    # Not UTF-8: FastAPI's "There was an error parsing the body" came out as `http_error`.
    headers = {
        **bearer(app, world.users["acme-admin"], clock),
        "Content-Type": "application/json",
    }
    for path in ("/v1/roles", "/v1/users", "/v1/grants"):
        response = client.post(path, content=b'\xdf\xb3"\xff', headers=headers)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"] == "malformed_json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


def test_every_operation_with_a_body_documents_400_and_413(document):
    # Malformed JSON (400) and oversized bodies (413) are refused before any route runs; the
    # document said so for some operations only.
    with_body = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]
    assert len(with_body) > 10
    for path, method, operation in with_body:
        assert {"400", "413"} <= set(operation["responses"]), (method, path)


def test_every_operation_that_reads_the_database_documents_503(document):
    # database_unavailable (tests/faults) and contention can answer any of them.
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path.startswith("/v1/") or path == "/readyz":
                assert "503" in operation["responses"], (method, path)


def test_idempotency_key_is_documented_as_required(document):
    # It was documented as optional while every money-moving request without one was refused.
    for path in ("/v1/transfers", "/v1/deposits", "/v1/withdrawals"):
        (parameter,) = [
            p
            for p in document["paths"][path]["post"]["parameters"]
            if p["name"] == "Idempotency-Key"
        ]
        assert parameter["required"] is True
        assert parameter["schema"]["maxLength"] == 255


def test_a_missing_or_bad_idempotency_key_is_400_and_moves_nothing(client, app, db, world, clock):
    for key, error in (
        (None, "idempotency_key_required"),
        ("", "idempotency_key_required"),
        ("x" * 256, "idempotency_key_invalid"),
        ("tab\there", "idempotency_key_invalid"),
    ):
        headers = bearer(app, world.users["acme-payer"], clock)
        if key is not None:
            headers["Idempotency-Key"] = key
        with db.unit_of_work(write=False) as session:
            before = snapshot(session)
        response = client.post("/v1/transfers", json=_transfer(world), headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == error
        with db.unit_of_work(write=False) as session:
            assert snapshot(session) == before


def test_a_bad_body_without_a_key_is_still_422(client, app, world, clock):
    headers = bearer(app, world.users["acme-payer"], clock)
    response = client.post("/v1/transfers", json={"amount": "lots"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


def test_a_streamed_body_over_the_limit_is_413(client, app, world, clock):
    # No Content-Length to trust: the limit is counted as the body arrives.
    headers = {
        **bearer(app, world.users["acme-payer"], clock),
        "Idempotency-Key": "streamed",
        "Content-Type": "application/json",
    }

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"description": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    response = client.post("/v1/transfers", content=chunks(), headers=headers)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
