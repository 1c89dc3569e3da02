"""What operators see: /metrics (Prometheus text, multiprocess across workers, only for the
scraper), a request id on every answer, and one JSON log line per request that names the
route's template and who asked by id, and never a secret."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from api.app import create_app
from core import logs
from core.policy import engine as policy_engine
from tests.admin.console import sign_in
from tests.factories import PASSWORD, bearer, new_key
from tests.second_factor_world import code, with_authenticator

SCRAPER_TOKEN = "scraper-token-for-tests-0123456789"


@pytest.fixture
def scraped_app(settings, db, clock):  # type: ignore[no-untyped-def]
    metered = settings.model_copy(update={"metrics_token": SecretStr(SCRAPER_TOKEN)})
    return create_app(metered, database=db, clock=clock)


def _samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPER_TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def _transfer(client, app, world, clock, amount: int, who: str = "acme-payer"):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/transfers",
        json={
            "from_account_id": world.account_id("acme-operating"),
            "to_account_id": world.account_id("acme-payroll"),
            "amount": amount,
            "currency": "EUR",
        },
        headers={**bearer(app, world.users[who], clock), "Idempotency-Key": new_key()},
    )


def test_metrics_show_requests_by_route_template_and_decisions_by_reason(scraped_app, world, clock):
    app = scraped_app
    with TestClient(app) as client:
        before = _samples(client)
        assert _transfer(client, app, world, clock, 100).status_code == 201
        refused = _transfer(client, app, world, clock, 100, who="acme-bookkeeper")
        assert refused.status_code == 403, refused.text
        reason = refused.json()["error"]
        account = world.account_id("acme-operating")
        payer = bearer(app, world.users["acme-payer"], clock)
        assert client.get(f"/v1/accounts/{account}", headers=payer).status_code == 200
        after = _samples(client)

    def grew(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    http = "mandate_http_request_duration_seconds_count"
    assert grew(http, method="POST", route="/v1/transfers", status="201") == 1
    assert grew(http, method="POST", route="/v1/transfers", status="403") == 1
    assert grew(http, method="GET", route="/v1/accounts/{account_id}", status="200") == 1
    decisions = "mandate_decisions_total"
    assert grew(decisions, action="transfer.create", decision="allow", reason="none") >= 1
    assert grew(decisions, action="transfer.create", decision="deny", reason=reason) >= 1
    assert grew("mandate_money_movements_total", action="transfer.create") == 1
    assert grew("mandate_decision_evaluation_seconds_count") >= 2
    # The policy version in force in this process (a worker).
    version = policy_engine.current().version
    assert after[("mandate_policy_version_info", frozenset({("version", version)}))] == 1
    # No tenant, account, person or amount in any label.
    private = {str(world.tenants["acme"].id), str(account), "acme", "acme-payer", "100"}
    private |= {str(world.user_id("acme-payer"))}
    values = {v for name, labels in after if name.startswith("mandate_") for _k, v in labels}
    assert not values & private, values & private


def test_metrics_are_for_the_scraper_only(scraped_app, settings, db, clock):
    with TestClient(scraped_app) as client:
        assert client.get("/metrics").status_code == 404  # the test client is no allowed host
        wrong = client.get("/metrics", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 404 and wrong.json()["error"] == "not_found"
    allowed = settings.model_copy(update={"metrics_allow": ["testclient"]})
    with TestClient(create_app(allowed, database=db, clock=clock)) as client:
        assert client.get("/metrics").status_code == 200
    # Without a token set, no bearer opens it.
    with TestClient(create_app(settings, database=db, clock=clock)) as client:
        assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_metrics_of_several_workers_are_reported_together(tmp_path: Path):
    # Each worker is a process of its own writing to PROMETHEUS_MULTIPROC_DIR; one scrape
    # of any worker reads them all (api.observability).
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    worker = "from core import metrics; metrics.MONEY_MOVEMENTS.labels('transfer.create').inc()"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", worker], env=env, check=True, timeout=60)
    scrape = textwrap.dedent(
        """
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        print(generate_latest(registry).decode())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", scrape], env=env, check=True, timeout=60, capture_output=True
    ).stdout.decode()
    assert 'mandate_money_movements_total{action="transfer.create"} 2.0' in out


@pytest.fixture
def json_log():  # type: ignore[no-untyped-def]
    """Every log line of the test, rendered as `mandate serve --log-format json` renders it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("json"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_one_json_line_per_request_with_its_id_and_no_secret(
    client, app, db, world, clock, json_log
):
    box = app.state.services.box
    with_authenticator(db, box, world, "acme-payer", clock)
    otp = code(clock)
    signed = client.post(
        "/v1/auth/token",
        data={"username": "acme-payer", "password": PASSWORD, "otp": otp},
        headers={"X-Request-ID": "caller-id-42"},
    )
    assert signed.status_code == 200, signed.text
    assert signed.headers["X-Request-ID"] == "caller-id-42"
    token = signed.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": new_key()}
    body = {
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("acme-payroll"),
        "amount": 100,
        "currency": "EUR",
    }
    moved = client.post("/v1/transfers", json=body, headers=headers)
    assert moved.status_code == 201, moved.text
    generated = moved.headers["X-Request-ID"]
    odd = client.get("/v1/status", headers={"X-Request-ID": "x" * 65})
    assert odd.headers["X-Request-ID"] != "x" * 65  # not a sane id: a new one
    session_token = sign_in(client, "acme-admin")
    cookie = client.cookies.get("mandate_console")
    assert cookie
    logging.getLogger("mandate.test").info(
        "a careless line", extra={"password": PASSWORD, "note": f"Bearer {token}"}
    )
    text = json_log.getvalue()
    for secret in (PASSWORD, token, otp, cookie, session_token):
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    by_id = {line["request_id"]: line for line in requests}
    assert by_id["caller-id-42"]["route"] == "/v1/auth/token"
    transfer = by_id[generated]
    assert (transfer["method"], transfer["route"], transfer["status"]) == (
        "POST",
        "/v1/transfers",
        201,
    )
    assert transfer["actor_id"] == world.user_id("acme-payer") and transfer["duration_ms"] >= 0
    assert transfer["tenant_id"] == world.tenants["acme"].id
    assert "acme-payer" not in json.dumps(transfer)  # who asked, by id only
    assert any(line["route"] == "/console/sign-in" for line in requests)
    careless = next(line for line in lines if line.get("event") == "a careless line")
    assert careless["password"] == "[redacted]" and careless["note"] == "Bearer [redacted]"


def test_a_plain_route_and_a_refused_request_are_labelled_without_their_ids(scraped_app):
    with TestClient(scraped_app) as client:
        client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPER_TOKEN}"})
        client.get("/v1/accounts/12345")  # no token: 401 from the route
        client.get("/no/such/path/67890")
        after = _samples(client)
    routes = {
        dict(labels).get("route") for name, labels in after if name.startswith("mandate_http")
    }
    assert {"/metrics", "/v1/accounts/{account_id}", "unrouted"} <= routes
    assert not any(r and ("12345" in r or "67890" in r) for r in routes)


def test_the_policy_version_metric_follows_a_switch() -> None:
    from prometheus_client import REGISTRY

    from core.policy.engine import PolicyEngine, PolicyFile

    def in_force(version: str) -> float | None:
        return REGISTRY.get_sample_value("mandate_policy_version_info", {"version": version})

    before = policy_engine.current()
    edited = [PolicyFile(f.name, f.text + "\n# edited\n") for f in before.files]
    other = PolicyEngine(edited, compile=False, source="an edited copy")
    try:
        policy_engine.install(other)
        assert (in_force(other.version), in_force(before.version)) == (1, 0)
    finally:
        policy_engine.install(before)
    assert (in_force(other.version), in_force(before.version)) == (0, 1)
