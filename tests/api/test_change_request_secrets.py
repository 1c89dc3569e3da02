"""A password reset is a takeover: who reset a person's password is tied to them as if they
had created them (asked for, or done at once with dual administration off). And the new
password's hash, kept in a change request's payload until it is decided, is forgotten when the
request ends — applied, rejected, withdrawn, refused — and by `mandate purge` once it expired;
no answer and no change record ever carries it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from core import maintenance
from core.models.governance import ChangeRequest
from core.models.iam import User
from tests.api.test_change_request_ties import _headers_of
from tests.api.test_change_requests import _approve, _ask_grant, _payer_role, _setup
from tests.factories import PASSWORD, bearer
from tests.governance_world import SECOND_ADMIN, turn_on, with_second_admin

NEW_PASSWORD = "a brand new long password"


def _third(app: Any, db: Any, world: Any, clock: Any) -> dict[str, str]:
    user = with_second_admin(db, app.state.services.passwords, world, clock, "acme-admin-3")
    return bearer(app, user, clock)


def _reset(client: Any, headers: dict[str, str], user_id: int) -> Any:
    return client.post(
        f"/v1/users/{user_id}/password", json={"password": NEW_PASSWORD}, headers=headers
    )


def _payload(db: Any, request_id: int) -> dict[str, Any]:
    with db.unit_of_work(write=False) as session:
        request = session.get(ChangeRequest, request_id)
        return dict(json.loads(request.payload))


def _hashes(db: Any) -> list[str]:
    """Every password hash kept: none of them may appear in an answer."""
    with db.unit_of_work(write=False) as session:
        return list(session.scalars(select(User.password_hash)))


def test_who_reset_a_password_is_tied_to_that_person(client, app, db, world, clock):
    first, _second = _setup(app, db, world, clock)
    third = _third(app, db, world, clock)
    second_id = world.user_id(SECOND_ADMIN)
    asked = _reset(client, first, second_id)
    assert asked.status_code == 202, asked.text
    assert _approve(client, asked.json()["id"], third).json()["status"] == "applied"
    clock.advance(seconds=1)
    second = _headers_of(app, db, clock, second_id)
    first = bearer(app, world.users["acme-admin"], clock)
    # acme-admin knows acme-admin-2's password now: neither is the other's second person.
    by_first = _ask_grant(
        client, first, world.user_id("acme-bookkeeper"), _payer_role(client, first)
    )
    refused = _approve(client, by_first.json()["id"], second)
    assert refused.status_code == 403 and refused.json()["error"] == "approver_tied_to_requester"
    by_second = _ask_grant(client, second, world.user_id("acme-payer"), _payer_role(client, first))
    refused = _approve(client, by_second.json()["id"], first)
    assert refused.status_code == 403 and refused.json()["error"] == "approver_tied_to_requester"
    # Past the trust days the reset counts no more.
    clock.advance(days=31)
    first = bearer(app, world.users["acme-admin"], clock)
    second = _headers_of(app, db, clock, second_id)
    later = _ask_grant(client, first, world.user_id("acme-bookkeeper"), _payer_role(client, first))
    assert _approve(client, later.json()["id"], second).json()["status"] == "applied"


def test_a_reset_done_at_once_ties_too(client, app, db, world, clock):
    with_second_admin(db, app.state.services.passwords, world, clock)
    first = bearer(app, world.users["acme-admin"], clock)
    second_id = world.user_id(SECOND_ADMIN)
    assert _reset(client, first, second_id).status_code == 200  # dual administration off
    turn_on(db, clock, tenant=world.tenants["acme"])
    clock.advance(seconds=1)
    second = _headers_of(app, db, clock, second_id)
    asked = _ask_grant(client, first, world.user_id("acme-bookkeeper"), _payer_role(client, first))
    refused = _approve(client, asked.json()["id"], second)
    assert refused.status_code == 403 and refused.json()["error"] == "approver_tied_to_requester"


def test_the_hash_is_forgotten_when_a_request_ends(client, app, db, world, clock):
    first, second = _setup(app, db, world, clock)
    payer = world.user_id("acme-payer")
    ended: dict[str, int] = {}

    applied = _reset(client, first, payer).json()
    assert "password_hash" in _payload(db, applied["id"])  # kept while it waits
    assert _approve(client, applied["id"], second).json()["status"] == "applied"
    ended["applied"] = applied["id"]

    rejected = _reset(client, first, payer).json()
    client.post(f"/v1/change-requests/{rejected['id']}/reject", json={}, headers=second)
    ended["rejected"] = rejected["id"]

    withdrawn = _reset(client, first, payer).json()
    client.post(f"/v1/change-requests/{withdrawn['id']}/reject", json={}, headers=first)
    ended["withdrawn"] = withdrawn["id"]

    refused = _reset(client, first, payer).json()
    renamed = client.patch(f"/v1/users/{payer}", json={"display_name": "P"}, headers=second)
    assert _approve(client, renamed.json()["id"], first).json()["status"] == "applied"
    stale = _approve(client, refused["id"], second).json()
    assert stale["status"] == "refused" and stale["reason"] == "change_request_stale"
    ended["refused"] = refused["id"]

    created = client.post(
        "/v1/users",
        json={"username": "newcomer", "display_name": "Newcomer", "password": PASSWORD},
        headers=first,
    ).json()
    assert _approve(client, created["id"], second).json()["status"] == "applied"
    ended["user created"] = created["id"]

    for how, request_id in ended.items():
        assert "password_hash" not in _payload(db, request_id), how
    _assert_no_hash_answered(client, app, world, clock, db, list(ended.values()))


def _assert_no_hash_answered(client, app, world, clock, db, request_ids):  # type: ignore[no-untyped-def]
    admin = bearer(app, world.users[SECOND_ADMIN], clock)
    compliance = bearer(app, world.users["compliance"], clock)
    answers = [
        client.get("/v1/change-requests", headers=admin).text,
        client.get("/v1/changes", headers=compliance).text,
        *(client.get(f"/v1/change-requests/{i}", headers=admin).text for i in request_ids),
    ]
    for hash_ in _hashes(db):
        for answer in answers:
            assert hash_ not in answer
    assert all("password_hash" not in answer for answer in answers)


def test_a_pending_requests_hash_is_never_answered(client, app, db, world, clock):
    first, _second = _setup(app, db, world, clock)
    pending = _reset(client, first, world.user_id("acme-payer")).json()
    kept = _payload(db, pending["id"])["password_hash"]
    assert kept and kept not in json.dumps(pending)
    _assert_no_hash_answered(client, app, world, clock, db, [pending["id"]])
    admin = bearer(app, world.users[SECOND_ADMIN], clock)
    assert kept not in client.get(f"/v1/change-requests/{pending['id']}", headers=admin).text


def test_purge_forgets_the_hash_of_expired_requests(client, app, db, world, clock):
    first, _second = _setup(app, db, world, clock)
    expired = _reset(client, first, world.user_id("acme-payer")).json()
    waiting_id = _reset(client, first, world.user_id("acme-bookkeeper")).json()["id"]
    clock.advance(hours=73)
    with db.unit_of_work() as session:
        # The second asked later: it still waits, and keeps its hash.
        request = session.get(ChangeRequest, waiting_id)
        request.expires_at = clock.now() + dt.timedelta(hours=1)
    with db.unit_of_work() as session:
        purged = maintenance.purge(
            session, clock.now(), idempotency_retention=dt.timedelta(hours=24)
        )
    assert purged.change_request_secrets == 1
    assert "password_hash" not in _payload(db, expired["id"])
    assert "password_hash" in _payload(db, waiting_id)
    with db.unit_of_work() as session:
        again = maintenance.purge(
            session, clock.now(), idempotency_retention=dt.timedelta(hours=24)
        )
    assert again.change_request_secrets == 0
