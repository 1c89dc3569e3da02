"""The database goes away and comes back, without stopping the shared PostgreSQL server: the
server reaches it through a TCP proxy that the test cuts and restores. While it is cut,
requests are answered 503 database_unavailable at once (no hang, no 500) and /readyz says
not ready; when it is back, service resumes by itself."""

from __future__ import annotations

import threading
import time

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, pool, text

from api.app import create_app
from core.clock import SystemClock
from core.iam.credentials import TokenService
from core.settings import Settings
from tests.conftest import free_port
from tests.faults.conftest import TcpProxy
from tests.ledger_checks import assert_ledger_check_passes

# A hang shows as a timeout of the client, not as an assertion on how long anything took.
HANG = 30


def test_an_unreachable_database_is_503_database_unavailable(key_path):
    # Needs no PostgreSQL server: nothing listens on the port, so every connection is refused.
    settings = Settings(
        environment="test",
        database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere",
        token_key_path=key_path,
    )
    app = create_app(settings, check_migrations=False)
    # Signed with the key file alone: the registry's database is the one that is away.
    token, _ = TokenService(settings).issue(1, SystemClock().now())
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["error"] == "database_unavailable"
        assert client.get("/healthz").status_code == 200
        for method, path in (("GET", "/v1/accounts"), ("POST", "/v1/auth/token")):
            response = client.request(
                method,
                path,
                headers={"Authorization": f"Bearer {token}"},
                data={"username": "someone", "password": "secret"} if method == "POST" else None,
            )
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "database_unavailable"
            assert response.headers["Retry-After"] == "1"
    app.state.services.db.dispose()


def test_requests_get_503_while_the_database_is_away_and_service_resumes(
    fault_database, start_server
):
    world = fault_database.world
    target = make_url(fault_database.url)
    headers = {"Authorization": f"Bearer {fault_database.token('acme-payer')}"}
    body = {
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("acme-payroll"),
        "amount": 123_45,
        "currency": "EUR",
    }
    with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        via_proxy = target.set(host="127.0.0.1", port=proxy.port)
        server = start_server(fault_database, via_proxy.render_as_string(hide_password=False))
        with httpx.Client(base_url=server.url, headers=headers, timeout=HANG) as client:

            def transfer(key: str) -> httpx.Response:
                return client.post("/v1/transfers", json=body, headers={"Idempotency-Key": key})

            assert client.get("/v1/accounts").status_code == 200
            assert transfer("outage-before").status_code == 201

            proxy.cut()
            # Several rounds: every pooled connection of every worker is dead, and each must be
            # found out and answered for, not just the first.
            for round_ in range(6):
                for response in (
                    client.get("/v1/accounts"),
                    client.get(f"/v1/accounts/{body['from_account_id']}/entries"),
                    transfer("outage-during"),
                    client.get("/v1/me"),
                ):
                    assert response.status_code == 503, (round_, response.text)
                    assert response.json()["error"] == "database_unavailable"
                    assert response.json()["detail"]
                    assert response.headers["Retry-After"]
                ready = client.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["status"] == "unavailable"
                assert ready.json()["error"] == "database_unavailable"
                # The process itself is alive: a load balancer must not restart it.
                assert client.get("/healthz").status_code == 200

            proxy.restore()
            for _ in range(100):
                if client.get("/readyz").status_code == 200:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the server did not become ready again")
            for _ in range(6):
                assert client.get("/v1/accounts").status_code == 200
            # The transfer refused during the outage never happened: its retry posts it now.
            retried = transfer("outage-during")
            assert retried.status_code == 201, retried.text
            assert "Idempotent-Replayed" not in retried.headers
            assert transfer("outage-after").status_code == 201

    assert_ledger_check_passes(fault_database.url)


def test_a_cut_in_the_middle_of_transfers_is_503_and_retries_post_each_exactly_once(
    fault_database, start_server
):
    world = fault_database.world
    target = make_url(fault_database.url)
    headers = {"Authorization": f"Bearer {fault_database.token('acme-payer')}"}
    accounts = (world.account_id("acme-operating"), world.account_id("acme-payroll"))
    outcomes: dict[str, list[int | None]] = {}
    lock = threading.Lock()
    done = threading.Event()

    with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        via_proxy = target.set(host="127.0.0.1", port=proxy.port)
        server = start_server(fault_database, via_proxy.render_as_string(hide_password=False))

        def body(key: str) -> dict[str, object]:
            n = int(key.rsplit("-", 1)[1])
            source, target_ = accounts if n % 2 else accounts[::-1]
            return {"from_account_id": source, "to_account_id": target_, "amount": 100 + n}

        def drive(thread: int) -> None:
            with httpx.Client(base_url=server.url, headers=headers, timeout=HANG) as client:
                for i in range(1000):
                    if done.is_set():
                        return
                    key = f"cut-{thread}-{i}"
                    try:
                        response = client.post(
                            "/v1/transfers",
                            json={**body(key), "currency": "EUR"},
                            headers={"Idempotency-Key": key},
                        )
                        status: int | None = response.status_code
                    except httpx.TransportError:
                        status = None
                    with lock:
                        outcomes.setdefault(key, []).append(status)

        threads = [threading.Thread(target=drive, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()

        def count(predicate) -> int:  # type: ignore[no-untyped-def]
            with lock:
                return sum(1 for statuses in outcomes.values() if predicate(statuses[-1]))

        wait_for(lambda: count(lambda s: s == 201) >= 20)
        proxy.cut()
        wait_for(lambda: count(lambda s: s == 503) >= 12)
        proxy.restore()
        wait_for(lambda: count(lambda s: s == 201) >= 60)
        done.set()
        for thread in threads:
            thread.join(timeout=60)

        statuses = [s for history in outcomes.values() for s in history]
        # Every request was answered, and only ever with 201 or 503: no 500, no hang.
        assert set(statuses) <= {201, 503}, sorted(set(map(str, statuses)))
        refused = [key for key, history in outcomes.items() if history[-1] == 503]
        assert refused

        with httpx.Client(base_url=server.url, headers=headers, timeout=HANG) as client:
            for key in refused:
                response = client.post(
                    "/v1/transfers",
                    json={**body(key), "currency": "EUR"},
                    headers={"Idempotency-Key": key},
                )
                # Posted now, or, if its commit got through just before the cut, replayed.
                assert response.status_code == 201, response.text

    engine = create_engine(fault_database.url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                text("SELECT key, transfer_id FROM idempotency_keys WHERE key LIKE 'cut-%'")
            ).all()
        )
        posted = conn.execute(
            text("SELECT count(*) FROM transfers WHERE initiated_by_id = :payer"),
            {"payer": world.user_id("acme-payer")},
        ).scalar_one()
    engine.dispose()
    assert set(stored) == set(outcomes)
    assert len(set(stored.values())) == len(stored) == posted
    assert_ledger_check_passes(fault_database.url)


def wait_for(condition, attempts: int = 2000) -> None:  # type: ignore[no-untyped-def]
    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("the load did not get that far")
