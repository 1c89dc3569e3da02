"""Traces for the operators who ask for them (OpenTelemetry), off unless the usual OTEL_*
variables say where spans go: OTEL_TRACES_EXPORTER (otlp, console, none) or an OTLP
endpoint (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), and never under
OTEL_SDK_DISABLED=true. The packages are the `otel` extra; without them nothing is imported,
and asking for traces logs one warning and serves without them.

A request's server span is named by its route's template (GET /v1/accounts/{account_id}),
with a child span per SQL statement (the statement's text with its placeholders, never the
values bound to them). No header is captured (the instrumentation's default, kept), no body
is read, and the operators' own routes (/metrics, /healthz, /readyz) are not traced."""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING

from fastapi import FastAPI
from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext

from core.db import Database

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("mandate.tracing")

EXCLUDED_URLS = "/metrics,/healthz,/readyz"
DEFAULT_SERVICE_NAME = "mandate"
MISSING_PACKAGES = (
    "tracing asked for by OTEL_* variables, but the OpenTelemetry packages are not "
    "installed: pip install 'mandate[otel]'; serving without traces"
)

# Each engine's statements traced once, however many apps are built around it (the tests
# build many in one process): a second set of listeners would double every SQL span.
_traced_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the OTEL_* variables ask for traces."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporter_names(environ)
    if exporters:
        return exporters != ["none"]
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def install(
    app: FastAPI,
    db: Database,
    *,
    tracer_provider: TracerProvider | None = None,
    environ: Mapping[str, str] = os.environ,
) -> bool:
    """Trace the app's requests and the database's statements when the environment asks for
    it, or into `tracer_provider` when one is given (the tests' in-memory exporter).
    Answers whether tracing is on."""
    if tracer_provider is None and not wanted(environ):
        return False
    try:
        # Imported here, not above: the packages are an optional extra, and a process that
        # traces nothing imports none of them.
        from opentelemetry import metrics, trace
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.instrumentation.sqlalchemy.version import __version__ as sql_version

        provider = tracer_provider or _process_provider(environ)
    except ImportError:
        log.warning(MISSING_PACKAGES)
        return False
    if provider is None:
        return False
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=EXCLUDED_URLS,
        # The ASGI messages' own spans (one per body chunk) say nothing the server span
        # does not.
        exclude_spans=["receive", "send"],
    )
    if db.engine not in _traced_engines:
        # Per engine, not SQLAlchemyInstrumentor().instrument(): that one is once per
        # process (a second engine is refused) and also wraps every create_engine after it.
        tracer = trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", sql_version, provider)
        usage = metrics.get_meter("mandate.tracing").create_up_down_counter(
            "db.client.connections.usage", unit="connections"
        )
        # Before the instrumentation's own error handler, which then finds no span.
        event.listen(db.engine, "handle_error", _end_failed_statement)
        EngineTracer(tracer, db.engine, usage)
        _traced_engines.add(db.engine)
    return True


def _end_failed_statement(context: ExceptionContext) -> None:
    """End a failed statement's span with the error's class and SQLSTATE only. The
    instrumentation would describe it by the driver's message, and PostgreSQL's names the
    values of a refused key (DETAIL: Key (tenant_id, username)=(3, alice) already exists)."""
    from opentelemetry.trace import Status, StatusCode

    execution = context.execution_context
    span = getattr(execution, "_otel_span", None)
    if span is None:
        return
    execution._otel_span = None  # type: ignore[union-attr]
    error = context.original_exception
    state = getattr(error, "sqlstate", None)
    span.set_status(Status(StatusCode.ERROR, type(error).__name__ + (f" {state}" if state else "")))
    span.end()


def _process_provider(environ: Mapping[str, str]) -> TracerProvider | None:
    """This process's provider: the one already set (an earlier app, or
    `opentelemetry-instrument`), else a new one, set as the process's from then on."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = new_provider(environ)
    if provider is not None:
        trace.set_tracer_provider(provider)
    return provider


def new_provider(environ: Mapping[str, str]) -> TracerProvider | None:
    """A provider exporting where OTEL_TRACES_EXPORTER says (OTLP when it is unset) as
    OTEL_SERVICE_NAME, in batches; None when no exporter is left."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporters = [e for e in map(exporter_named, _exporter_names(environ) or ["otlp"]) if e]
    if not exporters:
        return None
    service = environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _exporter_names(environ: Mapping[str, str]) -> list[str]:
    names = environ.get("OTEL_TRACES_EXPORTER", "")
    return [name.strip().lower() for name in names.split(",") if name.strip()]


def exporter_named(name: str) -> SpanExporter | None:
    """The exporter an OTEL_TRACES_EXPORTER name stands for (None: none, or unknown)."""
    if name == "otlp":
        # OTLP over HTTP (protobuf); it reads OTEL_EXPORTER_OTLP_* (endpoint, headers,
        # timeout) itself.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "none":
        log.warning("OTEL_TRACES_EXPORTER=%s is not one of otlp, console, none: ignored", name)
    return None
