"""An unexpected error (a bug) answers 500 internal_error through the middleware like every
other answer: with the security headers, logged with the request id the answer carries, and
without raising into the server, so a kept-alive connection serves the next request."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from core.ledger import service as ledger
from tests.admin.console import sign_in
from tests.answers import ANSWERS
from tests.conftest import LiveServer
from tests.factories import bearer

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


class Bug(RuntimeError):
    pass


@pytest.fixture
def broken(monkeypatch) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """The service the API's and the console's account pages call fails unexpectedly."""

    def get_account(*_args: object, **_kwargs: object) -> None:
        raise Bug("a bug in the service")

    monkeypatch.setattr(ledger, "get_account", get_account)
    before = set(ANSWERS)
    yield
    # These 500s are made on purpose; any other fails test_every_answered_code_is_listed.
    ANSWERS.difference_update(a for a in ANSWERS - before if a.code == "internal_error")


def _has_security_headers(response) -> None:  # type: ignore[no-untyped-def]
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, dict(response.headers))
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_an_api_500_carries_the_security_headers_and_its_request_id(
    app, world, clock, broken, caplog
):
    headers = bearer(app, world.users["acme-payer"], clock)
    account = world.account_id("acme-operating")
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        response = client.get(f"/v1/accounts/{account}", headers=headers)
        after = client.get("/healthz")
    assert response.status_code == 500, response.text
    assert response.json()["error"] == "internal_error"
    _has_security_headers(response)
    assert response.headers["cache-control"] == "no-store"
    request_id = response.headers["x-request-id"]
    assert request_id in response.json()["detail"]
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info and logged[0].exc_info[0] is Bug
    assert after.status_code == 200


def test_a_console_500_is_the_error_page_with_the_security_headers(app, world, broken, caplog):
    account = world.account_id("acme-operating")
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        sign_in(client, "acme-payer")
        page = client.get(f"/console/accounts/{account}")
    assert page.status_code == 500, page.text
    assert page.headers["content-type"].startswith("text/html")
    _has_security_headers(page)
    request_id = page.headers["x-request-id"]
    assert request_id in page.text
    assert any(request_id in r.getMessage() for r in caplog.records)


def test_a_kept_alive_connection_serves_the_request_after_a_500(app, world, clock, broken):
    headers = bearer(app, world.users["acme-payer"], clock)
    account = world.account_id("acme-operating")
    with LiveServer(app) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            connection.request("GET", f"/v1/accounts/{account}", headers=headers)
            first = connection.getresponse()
            first.read()
            assert first.status == 500
            assert first.getheader("connection") != "close"
            socket = connection.sock
            connection.request("GET", "/healthz")
            second = connection.getresponse()
            second.read()
            assert second.status == 200
            assert connection.sock is socket  # the same connection, not a new one
        finally:
            connection.close()
