"""Two admins approve one change request at the same instant, through the HTTP API served by
uvicorn (PostgreSQL: the request's row lock is what is tested): it is applied once, the other
approver is told it no longer waits."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from core.models.audit import ChangeRecord
from core.models.iam import Grant
from tests.factories import bearer, new_key
from tests.governance_world import turn_on, with_second_admin

ROUNDS = 3


def _at_once(url: str, request_id: int, approvers: list[dict[str, str]]) -> list[httpx.Response]:
    """Each approver connects, all wait at a barrier, then approve together."""
    barrier = threading.Barrier(len(approvers))

    def send(headers: dict[str, str]) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.get("/healthz").status_code == 200
            barrier.wait(timeout=30)
            return http.post(
                f"/v1/change-requests/{request_id}/approve",
                headers={**headers, "Idempotency-Key": new_key()},
            )

    with ThreadPoolExecutor(len(approvers)) as pool:
        return list(pool.map(send, approvers))


def test_two_approvers_at_once_apply_it_once(backend, app, db, world, clock, client, live_server):  # type: ignore[no-untyped-def]
    if backend != "postgresql":
        pytest.skip("row locks under real concurrency: PostgreSQL only")
    passwords = app.state.services.passwords
    for name in ("acme-admin-b", "acme-admin-c"):
        with_second_admin(db, passwords, world, clock, name)
    turn_on(db, clock, tenant=world.tenants["acme"])
    requester = bearer(app, world.users["acme-admin"], clock)
    approvers = [bearer(app, world.users[n], clock) for n in ("acme-admin-b", "acme-admin-c")]
    roles = client.get("/v1/roles", headers=requester).json()
    payer = next(r["id"] for r in roles if r["key"] == "payer")
    bookkeeper = world.user_id("acme-bookkeeper")
    for round_ in range(ROUNDS):
        asked = client.post(
            "/v1/grants", json={"user_id": bookkeeper, "role_id": payer}, headers=requester
        )
        assert asked.status_code == 202, asked.text
        request_id = asked.json()["id"]
        answers = _at_once(live_server.url, request_id, approvers)
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 403], [a.text for a in answers]
        refused = next(a for a in answers if a.status_code == 403)
        assert refused.json()["error"] == "change_request_not_pending"
        with db.unit_of_work(write=False) as session:
            grants = session.scalar(
                select(func.count())
                .select_from(Grant)
                .where(Grant.user_id == bookkeeper, Grant.revoked_at.is_(None))
            )
            records = session.scalar(
                select(func.count())
                .select_from(ChangeRecord)
                .where(ChangeRecord.change_request_id == request_id)
            )
        assert grants == 2 + round_  # the bookkeeper grant, and one per round
        assert records == 1
