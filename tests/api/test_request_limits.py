"""What a request may amount to before any route runs: bodies on every method, headers, and
the headers the answers carry (redirects, HSTS, no server banner, docs off in production)."""

from __future__ import annotations

import asyncio
import select
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.middleware import MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_HEADER_COUNT
from core.cli import UVICORN_OPTIONS
from tests.factories import bearer

CHUNK = 16 * 1024
# Far past the limit: a server that reads it all has been made to hold it.
HUGE = 64 * 1024 * 1024


class StreamedBody:
    """An ASGI receive that streams `total` bytes in chunks (no Content-Length, as a chunked
    upload), counting what the app took."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.consumed = 0

    async def __call__(self) -> dict[str, Any]:
        if self.consumed >= self.total:
            # Everything was read (the limit was not kept): the client goes away.
            return {"type": "http.disconnect"}
        self.consumed += CHUNK
        return {"type": "http.request", "body": b"\0" * CHUNK, "more_body": True}


def _call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: StreamedBody):  # type: ignore[no-untyped-def]
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"transfer-encoding", b"chunked"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    asyncio.run(asyncio.wait_for(app(scope, body, send), timeout=30))
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert starts, f"no answer; the app read {body.consumed} bytes"
    start = starts[0]
    return start["status"], b"".join(
        m.get("body", b"") for m in sent if m["type"] == "http.response.body"
    )


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "DELETE", "POST", "PATCH"])
def test_a_streamed_body_past_the_limit_is_413_on_every_method_and_read_no_further(app, method):
    # GET/HEAD/OPTIONS skipped the limit, and the contention retry buffered the whole body:
    # 1 GiB to /healthz took a worker from 138 MB to 2.1 GB and answered 200.
    for path in ("/healthz", "/v1/transfers", "/console/sign-in"):
        body = StreamedBody(HUGE)
        status, content = _call(app, method, path, [], body)
        assert status == 413, (method, path)
        if method != "HEAD":
            assert b"payload_too_large" in content
        assert body.consumed <= MAX_BODY_BYTES + CHUNK, (method, path, body.consumed)


def test_a_get_with_a_small_body_is_still_answered(client):
    response = client.request("GET", "/healthz", content=b"{}")
    assert response.status_code == 200


def _stream_to_live_server(port: int, head: bytes) -> tuple[bytes, int]:
    """Send `head`, then a chunked body of zeros until the server answers (or HUGE is sent):
    the answer and how many body bytes went out."""
    sent = 0
    answer = b""
    chunk = f"{CHUNK:x}\r\n".encode() + b"\0" * CHUNK + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head)
        conn.setblocking(False)
        while sent < HUGE:
            readable, writable, _ = select.select([conn], [conn], [], 10)
            if readable:
                break
            if not writable:
                break
            try:
                sent += max(conn.send(chunk) - 8, 0)
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        conn.setblocking(True)
        try:
            while b"\r\n\r\n" not in answer:
                data = conn.recv(65536)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    return answer, sent


def test_a_live_server_answers_a_huge_chunked_get_with_413_early(live_server):
    head = (
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    answer, sent = _stream_to_live_server(live_server.port, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # What the client could push into socket buffers before the answer, not the whole body.
    assert sent < HUGE // 2, sent


def test_too_many_or_too_large_headers_are_431(client):
    many = {f"x-filler-{n}": "1" for n in range(MAX_HEADER_COUNT + 1)}
    response = client.get("/healthz", headers=many)
    assert response.status_code == 431
    assert response.json()["error"] == "headers_too_large"
    large = {"x-filler": "a" * (MAX_HEADER_BYTES + 1)}
    response = client.get("/healthz", headers=large)
    assert response.status_code == 431
    assert response.json()["error"] == "headers_too_large"
    assert client.get("/healthz", headers={"x-filler": "a" * 4096}).status_code == 200


def test_uvicorn_bounds_the_request_head_just_above_the_apps_limit():
    # httptools has no limit on the head; h11's is what uvicorn enforces before the app runs.
    assert UVICORN_OPTIONS["http"] == "h11"
    assert UVICORN_OPTIONS["h11_max_incomplete_event_size"] > MAX_HEADER_BYTES
    assert UVICORN_OPTIONS["server_header"] is False


def test_a_live_server_sends_no_server_header_and_answers_431_for_huge_headers(live_server):
    import httpx

    response = httpx.get(f"{live_server.url}/healthz")
    assert response.status_code == 200
    assert "server" not in response.headers
    response = httpx.get(
        f"{live_server.url}/healthz", headers={"x-filler": "a" * (MAX_HEADER_BYTES + 1)}
    )
    assert response.status_code == 431
    assert "server" not in response.headers


@pytest.mark.parametrize(
    "path", ["/console", "/console/users/", "/v1/accounts/", "/healthz/", "/docs/"]
)
def test_no_redirect_echoes_the_host_header(client, path):
    # /console answered 307 to http://evil.example/console/: Starlette's trailing-slash
    # redirect builds its Location from the Host header a client chose.
    response = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert "evil.example" not in response.headers.get("location", "")
    assert "evil.example" not in response.text


def test_console_redirects_to_its_home_relatively(client):
    response = client.get("/console", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/console/"


def test_hsts_over_https_and_in_production_only(app, settings, db, clock):
    with TestClient(app, base_url="https://testserver") as secure:
        hsts = secure.get("/healthz").headers["strict-transport-security"]
        assert "max-age=" in hsts and int(hsts.split("max-age=")[1].split(";")[0]) >= 31536000
    with TestClient(app) as plain:
        assert "strict-transport-security" not in plain.get("/healthz").headers
    production = create_app(
        settings.model_copy(update={"environment": "production"}), database=db, clock=clock
    )
    with TestClient(production) as plain:
        assert "strict-transport-security" in plain.get("/healthz").headers


@pytest.fixture
def app_without_docs(settings, db, clock) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    app = create_app(settings.model_copy(update={"docs_enabled": False}), database=db, clock=clock)
    with TestClient(app) as client:
        yield client


def test_docs_can_be_turned_off(app_without_docs):
    for path in ("/docs", "/redoc", "/openapi.json", "/docs-assets/swagger-ui.css"):
        assert app_without_docs.get(path).status_code == 404, path
    assert app_without_docs.get("/healthz").status_code == 200


def test_docs_are_off_by_default_in_production_only(settings, tmp_path):
    from core.settings import Settings

    assert Settings(environment="development").docs_enabled is True
    assert Settings(environment="test").docs_enabled is True
    # Production starts only with its keys provisioned: here, files where it looks for them
    # (this test's own, so no other test meets an empty key).
    keys = {
        "token_key_path": tmp_path / "token-signing-key.pem",
        "second_factor_key_path": tmp_path / "second-factor-key",
        "audit_key_path": tmp_path / "audit-signing-key.pem",
    }
    for key in keys.values():
        key.touch()
    fields = {**settings.model_dump(exclude={"docs_enabled"}), **keys}
    in_production = {
        **fields,
        "environment": "production",
        "database_url": "postgresql://db/mandate",
        "public_url": "https://mandate.example",
    }
    production = Settings(**in_production)
    assert production.docs_enabled is False
    assert Settings(**in_production, docs_enabled=True).docs_enabled is True
    # Client assertions are made for the token endpoint production names, never a Host header.
    assert production.token_endpoint == "https://mandate.example/v1/auth/token"
    with pytest.raises(ValueError, match="MANDATE_PUBLIC_URL or MANDATE_TOKEN_ENDPOINT_URL"):
        Settings(**{**in_production, "public_url": None})


@pytest.mark.parametrize("value", ["no", "off", "f", 0, 1, "true", "yes", "on", None])
def test_booleans_in_bodies_are_json_booleans(client, app, world, clock, value):
    # "no", 0, "off" and "f" were read as false (and "yes", 1, "on" as true).
    headers = bearer(app, world.users["acme-admin"], clock)
    user_id = world.user_id("acme-bookkeeper")
    response = client.patch(f"/v1/users/{user_id}", json={"is_active": value}, headers=headers)
    if value is None:
        # null: leave it as it is (the field is optional).
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 422, (value, response.text)
    assert response.json()["error"] == "invalid_request"
    assert client.get(f"/v1/users/{user_id}", headers=headers).json()["is_active"] is True


@pytest.mark.parametrize("value", ["no", "off", "f", "0", "1", "yes", "on"])
def test_boolean_query_parameters_are_true_or_false(client, app, world, clock, value):
    headers = bearer(app, world.users["acme-admin"], clock)
    user_id = world.user_id("acme-payer")
    response = client.get(
        "/v1/grants", params={"user_id": user_id, "include_revoked": value}, headers=headers
    )
    assert response.status_code == 422, (value, response.text)
    for ok in ("true", "false"):
        response = client.get(
            "/v1/grants", params={"user_id": user_id, "include_revoked": ok}, headers=headers
        )
        assert response.status_code == 200, response.text


def test_every_boolean_a_request_schema_takes_is_strict():
    # Written down where it is enforced: a new bool field on an input schema must be strict.
    import typing

    from pydantic import BaseModel

    from core.iam import schemas as iam_schemas
    from core.ledger import schemas as ledger_schemas

    inputs = [
        model
        for module in (iam_schemas, ledger_schemas)
        for model in vars(module).values()
        if isinstance(model, type)
        and issubclass(model, BaseModel)
        and model.model_config.get("extra") == "forbid"
    ]
    assert len(inputs) > 5

    def loose_bool(annotation: Any, strict: bool) -> bool:
        if annotation is bool:
            return not strict
        if typing.get_origin(annotation) is typing.Annotated:
            base, *metadata = typing.get_args(annotation)
            return loose_bool(base, strict or any(getattr(m, "strict", False) for m in metadata))
        return any(loose_bool(arg, strict) for arg in typing.get_args(annotation))

    loose = [
        f"{model.__name__}.{name}"
        for model in inputs
        for name, info in model.model_fields.items()
        if loose_bool(info.annotation, any(getattr(m, "strict", False) for m in info.metadata))
    ]
    assert not loose, loose
