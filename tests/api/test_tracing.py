"""Traces (api.tracing): off by default; when on, a request's server span is named by its
route's template with a child span per SQL statement, and no span carries a secret."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from api import tracing
from api.app import create_app
from tests.factories import PASSWORD, bearer

OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)


@pytest.fixture
def no_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced_app(settings, db, clock, exporter):  # type: ignore[no-untyped-def]
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return create_app(settings, database=db, clock=clock, tracer_provider=provider)


@pytest.fixture
def traced_client(traced_app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(traced_app) as client:
        yield client


def _attribute(span: ReadableSpan, *names: str) -> object:
    """The first of `names` the span carries (the old and the stable semantic conventions)."""
    attributes = span.attributes or {}
    return next((attributes[name] for name in names if name in attributes), None)


def _texts(spans: tuple[ReadableSpan, ...]) -> str:
    """Everything a span exporter would send of these spans, as one text."""
    return "\n".join(span.to_json() for span in spans)


def test_a_request_is_a_server_span_named_by_its_route_with_its_statements(
    traced_app, traced_client, world, clock, exporter
):
    account = world.account_id("acme-operating")
    headers = bearer(traced_app, world.users["acme-payer"], clock)
    exporter.clear()
    answer = traced_client.get(f"/v1/accounts/{account}", headers=headers)
    assert answer.status_code == 200, answer.text
    spans = exporter.get_finished_spans()
    servers = [span for span in spans if span.kind is SpanKind.SERVER]
    assert [span.name for span in servers] == ["GET /v1/accounts/{account_id}"]
    server = servers[0]
    assert _attribute(server, "http.route") == "/v1/accounts/{account_id}"
    assert _attribute(server, "http.status_code", "http.response.status_code") == 200
    statements = [span for span in spans if span.kind is SpanKind.CLIENT]
    assert statements, [span.name for span in spans]
    ran = []
    for span in statements:
        assert span.parent is not None and span.parent.trace_id == server.context.trace_id
        ran.append(_attribute(span, "db.statement", "db.query.text"))
    assert all(isinstance(statement, str) for statement in ran), ran
    # The statements as sent, their values bound apart: placeholders (SQLite's ?, psycopg's
    # %(name)s), not the account's id.
    assert any("?" in statement or "%(" in statement for statement in ran), ran
    # Each statement once: one set of listeners on the engine, however many apps use it.
    db = traced_app.state.services.db
    again = create_app(
        traced_app.state.services.settings, database=db, tracer_provider=TracerProvider()
    )
    assert again.state.tracing
    exporter.clear()
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 42"))
    ran = [
        _attribute(span, "db.statement", "db.query.text") for span in exporter.get_finished_spans()
    ]
    assert ran.count("SELECT 42") == 1, ran


def test_no_span_carries_a_password_a_token_or_a_bound_value(traced_client, world, exporter):
    signed = traced_client.post(
        "/v1/auth/token", data={"username": "acme-payer", "password": PASSWORD}
    )
    assert signed.status_code == 200, signed.text
    token = signed.json()["access_token"]
    account = world.account_id("acme-operating")
    seen = traced_client.get(
        f"/v1/accounts/{account}", headers={"Authorization": f"Bearer {token}"}
    )
    assert seen.status_code == 200, seen.text
    spans = exporter.get_finished_spans()
    assert any(span.name == "POST /v1/auth/token" for span in spans)
    text = _texts(spans)
    # The username is bound to the sign-in's SELECT: a value, so never in its span.
    for secret in (PASSWORD, token, token.split(".")[-1], "Bearer", "acme-payer"):
        assert secret not in text
    assert "authorization" not in text.lower()


def test_the_operators_routes_are_not_traced(traced_client, exporter):
    assert traced_client.get("/healthz").status_code == 200
    traced_client.get("/metrics")
    traced_client.get("/readyz")
    assert not [span for span in exporter.get_finished_spans() if span.kind is SpanKind.SERVER]


def test_off_by_default(settings, db, clock, no_otel_variables):
    app = create_app(settings, database=db, clock=clock)
    assert app.state.tracing is False
    with TestClient(app) as client:
        assert client.get("/v1/status").status_code == 200
    layer = app.middleware_stack
    while layer is not None:
        assert not isinstance(layer, OpenTelemetryMiddleware)
        layer = getattr(layer, "app", None)


def test_without_the_packages_nothing_is_imported_and_asking_warns_once(
    settings, db, clock, no_otel_variables, monkeypatch, caplog
):
    # A module set to None in sys.modules cannot be imported: as if the extra were missing.
    for name in [m for m in sys.modules if m.startswith("opentelemetry")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with caplog.at_level(logging.WARNING, logger="mandate.tracing"):
        quiet = create_app(settings, database=db, clock=clock)
        assert quiet.state.tracing is False and not caplog.records
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
        asked = create_app(settings, database=db, clock=clock)
    assert asked.state.tracing is False
    assert [record.getMessage() for record in caplog.records] == [tracing.MISSING_PACKAGES]
    assert "pip install 'mandate[otel]'" in tracing.MISSING_PACKAGES
    with TestClient(asked) as client:
        assert client.get("/v1/status").status_code == 200


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "mandate-eu"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "TRUE"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "false"}, True),
    ],
)
def test_which_variables_turn_tracing_on(environ: dict[str, str], wanted: bool) -> None:
    assert tracing.wanted(environ) is wanted


def test_the_exporter_and_service_name_come_from_the_variables(caplog) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    assert isinstance(tracing.exporter_named("otlp"), OTLPSpanExporter)
    assert isinstance(tracing.exporter_named("console"), ConsoleSpanExporter)
    with caplog.at_level(logging.WARNING, logger="mandate.tracing"):
        assert tracing.exporter_named("none") is None and not caplog.records
        assert tracing.exporter_named("zipkin") is None
    assert "zipkin" in caplog.records[0].getMessage()
    assert tracing.new_provider({"OTEL_TRACES_EXPORTER": "none"}) is None
    named = tracing.new_provider({"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "eu"})
    default = tracing.new_provider({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert named is not None and default is not None
    try:
        assert named.resource.attributes["service.name"] == "eu"
        assert default.resource.attributes["service.name"] == "mandate"
    finally:
        named.shutdown()
        default.shutdown()


def test_a_refused_statement_is_described_without_the_refused_value(traced_app, db, exporter):
    exporter.clear()
    with db.engine.connect() as connection:
        connection.execute(text("CREATE TEMPORARY TABLE named (name VARCHAR(40) UNIQUE)"))
        connection.execute(text("INSERT INTO named VALUES ('a-private-name')"))
        with pytest.raises(IntegrityError):
            connection.execute(text("INSERT INTO named VALUES ('a-private-name')"))
    failed = [span for span in exporter.get_finished_spans() if not span.status.is_ok]
    assert len(failed) == 1, [span.name for span in exporter.get_finished_spans()]
    # The driver's error class (and SQLSTATE), not its message: PostgreSQL's names the key.
    description = failed[0].status.description
    assert failed[0].status.status_code is StatusCode.ERROR and description
    assert "a-private-name" not in description
    assert "a-private-name" in _texts(exporter.get_finished_spans())  # a literal of the text
