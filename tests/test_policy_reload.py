"""Every process switches: a real server (`mandate serve`, 2 uvicorn workers) decides under a
newly activated policy version in every worker within seconds, and under the old one again
after a rollback. On PostgreSQL the switch comes through LISTEN/NOTIFY; on SQLite by polling.
Per tenant too: two tenants on two versions served by the same two workers at once, each
decision under its tenant's version, and a promotion to all and a tenant's move back reach
every worker within seconds.

The measured times go to test-output/policy-reload.txt (the target is 5 s; the test allows
15 s, so that a loaded machine does not make it flaky)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.clock import SystemClock
from core.db import Database
from core.iam import service as iam
from core.iam.credentials import Passwords, TokenService
from core.policy.engine import PolicyEngine
from core.settings import REPO_ROOT, Settings
from tests.conftest import free_port
from tests.factories import PASSWORD, World, build_world, unit_of_work
from tests.policy_versions_world import second_officer, tighter_bookkeeper

WORKERS = 2
BOUND_SECONDS = 15.0
TARGET_SECONDS = 5.0
REPORT = REPO_ROOT / "test-output" / "policy-reload.txt"
BUNDLED = PolicyEngine.version_of(REPO_ROOT / "policies")


class Server:
    """`mandate serve --workers 2` on a free loopback port, in a process group of its own."""

    def __init__(self, settings: Settings, extra_env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "MANDATE_DATABASE_URL": settings.database_url,
            "MANDATE_TOKEN_KEY_PATH": str(settings.token_key_path),
            "MANDATE_ENVIRONMENT": "test",
            **extra_env,
        }
        mandate = Path(sys.executable).with_name("mandate")
        self.process = subprocess.Popen(
            [str(mandate), "serve", "--port", str(self.port), "--workers", str(WORKERS)],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def workers(self) -> dict[int, str]:
        """Which worker answered with which policy version, over fresh connections, until
        every worker has answered (bounded)."""
        seen: dict[int, str] = {}
        for _ in range(200):
            health = httpx.get(f"{self.url}/healthz", timeout=5).json()
            seen[health["worker"]] = health["policy_version"]
            if len(seen) == WORKERS:
                break
        return seen

    def wait_started(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server ended: {self.process.stderr.read()!r}")  # type: ignore[union-attr]
            try:
                if len(self.workers()) == WORKERS:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the server's workers did not all answer")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


# How the workers learn of an activation: the defaults (PostgreSQL: LISTEN/NOTIFY and polling
# every 2 s; SQLite: polling), and polling alone on PostgreSQL, as behind a PgBouncer in
# transaction pooling (MANDATE_POLICY_LISTEN=false).
MODES = {"default": {}, "polling": {"MANDATE_POLICY_LISTEN": "false"}}


@pytest.fixture(params=sorted(MODES))
def mode(request: pytest.FixtureRequest, backend: str) -> str:
    if request.param == "polling" and backend == "sqlite":
        pytest.skip("SQLite polls in the default mode already")
    return str(request.param)


@pytest.fixture
def server(settings: Settings, mode: str) -> Iterator[Server]:
    running = Server(settings, MODES[mode])
    try:
        running.wait_started()
        yield running
    finally:
        running.stop()


def _switch_time(
    server: Server, version: str, bookkeeper: dict[str, str], entries: str, expect_status: int
) -> float:
    """Seconds until every worker names `version` and the bookkeeper's statement is answered
    as that version says, each asked over a fresh connection."""
    started = time.monotonic()
    while time.monotonic() - started < BOUND_SECONDS:
        versions = server.workers()
        if set(versions.values()) == {version} and len(versions) == WORKERS:
            answers = {
                httpx.get(entries, headers=bookkeeper, timeout=5).status_code for _ in range(6)
            }
            assert answers == {expect_status}, answers
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"not every worker switched to {version} within {BOUND_SECONDS} s: {versions}")


def test_every_worker_switches_to_the_activated_version_and_back(settings, server, backend, mode):
    db = Database(settings.database_url)
    clock = SystemClock()
    try:
        world: World = build_world(db, Passwords(settings), clock)
        second_officer(world, db, Passwords(settings), clock)
    finally:
        db.dispose()
    tokens = TokenService(settings)

    def who(name: str) -> dict[str, str]:
        token, _ = tokens.issue(world.user_id(name), clock.now())
        return {"Authorization": f"Bearer {token}"}

    compliance, second, bookkeeper = who("compliance"), who("compliance-b"), who("acme-bookkeeper")
    entries = f"{server.url}/v1/accounts/{world.account_id('acme-operating')}/entries"
    assert set(server.workers().values()) == {BUNDLED}
    assert httpx.get(entries, headers=bookkeeper).status_code == 200

    api = httpx.Client(base_url=server.url, timeout=30)
    proposed = api.post("/v1/policy/versions", json=tighter_bookkeeper(), headers=compliance)
    assert proposed.status_code == 201, proposed.text
    version = proposed.json()
    assert api.post(f"/v1/policy/versions/{version['id']}/approve", headers=second).is_success
    activated = api.post(f"/v1/policy/versions/{version['id']}/activate", headers=second)
    assert activated.status_code == 200, activated.text
    forward = _switch_time(server, version["hash"], bookkeeper, entries, 404)

    # The rollback: the deploy's version (the bundled files, recorded by `mandate serve`),
    # approved afresh by one officer and activated by the other.
    deployed = next(
        v for v in api.get("/v1/policy/versions", headers=compliance).json() if v["hash"] == BUNDLED
    )
    assert deployed["status"] == "retired" and deployed["origin"] == "deploy"
    assert api.post(f"/v1/policy/versions/{deployed['id']}/approve", headers=compliance).is_success
    back = api.post(f"/v1/policy/versions/{deployed['id']}/activate", headers=second)
    assert back.status_code == 200, back.text
    rollback = _switch_time(server, BUNDLED, bookkeeper, entries, 200)
    api.close()

    REPORT.parent.mkdir(exist_ok=True)
    with REPORT.open("a", encoding="utf-8") as out:
        out.write(
            f"{backend} ({mode}): {WORKERS} workers on the activated version after {forward:.2f} s, "
            f"back after the rollback in {rollback:.2f} s (target {TARGET_SECONDS} s)\n"
        )
    assert forward < BOUND_SECONDS and rollback < BOUND_SECONDS


def _serials(server: Server) -> set[int | None]:
    """The policy serial every worker has taken in (GET /healthz), over fresh connections."""
    seen: dict[int, int | None] = {}
    for _ in range(200):
        health = httpx.get(f"{server.url}/healthz", timeout=5).json()
        seen[health["worker"]] = health["policy_serial"]
        if len(seen) == WORKERS:
            break
    return set(seen.values())


def _tenants_switch_time(
    server: Server, before: int | None, expected: dict[str, tuple[dict[str, str], int]]
) -> float:
    """Seconds until every worker took in a change past `before` and each tenant's reader is
    answered as its version says (each asked over fresh connections, so both workers answer)."""
    started = time.monotonic()
    while time.monotonic() - started < BOUND_SECONDS:
        serials = _serials(server)
        if len(serials) == 1 and None not in serials and serials != {before}:
            for name, (headers, status) in expected.items():
                answers = {
                    httpx.get(name, headers=headers, timeout=5).status_code for _ in range(6)
                }
                assert answers == {status}, (name, answers)
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"not every worker took in the change within {BOUND_SECONDS} s")


def _globex_bookkeeper(world: World, db: Database, passwords: Passwords, clock: SystemClock) -> int:
    """A bookkeeper of Globex: the tighter version takes statements from bookkeepers."""

    def build(session, _ctx):  # type: ignore[no-untyped-def]
        globex = world.tenants["globex"]
        user = iam.create_user(
            session,
            passwords,
            bank_id=world.bank.id,  # type: ignore[arg-type]
            tenant_id=globex.id,
            username="globex-bookkeeper",
            display_name="Globex Bookkeeper",
            password=PASSWORD,
            now=clock.now(),
        )
        role = iam.builtin_role(session, "bookkeeper", bank_id=globex.bank_id, tenant_id=globex.id)
        iam.grant_role(session, user, role, now=clock.now())
        return user.id

    return int(unit_of_work(db, clock).run(build))


def test_two_tenants_on_two_versions_at_once_and_every_worker_follows_a_rollout(
    settings, server, backend, mode
):
    db = Database(settings.database_url)
    clock = SystemClock()
    try:
        world: World = build_world(db, Passwords(settings), clock)
        second_officer(world, db, Passwords(settings), clock)
        globex_reader = _globex_bookkeeper(world, db, Passwords(settings), clock)
    finally:
        db.dispose()
    tokens = TokenService(settings)

    def who(user_id: int) -> dict[str, str]:
        token, _ = tokens.issue(user_id, clock.now())
        return {"Authorization": f"Bearer {token}"}

    compliance, second = who(world.user_id("compliance")), who(world.user_id("compliance-b"))
    acme = (who(world.user_id("acme-bookkeeper")), world.account_id("acme-operating"))
    globex = (who(globex_reader), world.account_id("globex-main"))
    statements = {
        name: f"{server.url}/v1/accounts/{account}/entries"
        for name, (_, account) in (("acme", acme), ("globex", globex))
    }
    api = httpx.Client(base_url=server.url, timeout=30)
    proposed = api.post("/v1/policy/versions", json=tighter_bookkeeper(), headers=compliance)
    assert proposed.status_code == 201, proposed.text
    version = proposed.json()
    path = f"/v1/policy/versions/{version['id']}"
    assert api.post(f"{path}/approve", headers=second).is_success

    # Acme first (the canary); Globex stays on the default: both at once, on both workers.
    before = next(iter(_serials(server)))
    step = api.post(
        f"{path}/activate", json={"tenants": [world.tenants["acme"].id]}, headers=second
    )
    assert step.status_code == 200, step.text
    canary = _tenants_switch_time(
        server,
        before,
        {statements["acme"]: (acme[0], 404), statements["globex"]: (globex[0], 200)},
    )
    assert set(server.workers().values()) == {BUNDLED}  # the default did not move

    # Promoted to all: Globex's bookkeeper too.
    before = next(iter(_serials(server)))
    assert api.post(f"{path}/activate", headers=second).status_code == 200
    promotion = _tenants_switch_time(
        server,
        before,
        {statements["acme"]: (acme[0], 404), statements["globex"]: (globex[0], 404)},
    )

    # Acme moves back to the deploy's version (approved afresh, four eyes): Globex stays.
    deployed = next(
        v for v in api.get("/v1/policy/versions", headers=compliance).json() if v["hash"] == BUNDLED
    )
    assert api.post(f"/v1/policy/versions/{deployed['id']}/approve", headers=compliance).is_success
    before = next(iter(_serials(server)))
    moved = api.put(
        f"/v1/tenants/{world.tenants['acme'].id}/policy",
        json={"version_id": deployed["id"], "extension_id": None},
        headers=second,
    )
    assert moved.status_code == 200, moved.text
    move_back = _tenants_switch_time(
        server,
        before,
        {statements["acme"]: (acme[0], 200), statements["globex"]: (globex[0], 404)},
    )
    api.close()

    REPORT.parent.mkdir(exist_ok=True)
    with REPORT.open("a", encoding="utf-8") as out:
        out.write(
            f"{backend} ({mode}): {WORKERS} workers, two tenants on two versions: the canary "
            f"in {canary:.2f} s, the promotion to all in {promotion:.2f} s, a tenant moved "
            f"back in {move_back:.2f} s (target {TARGET_SECONDS} s)\n"
        )
    assert max(canary, promotion, move_back) < BOUND_SECONDS
