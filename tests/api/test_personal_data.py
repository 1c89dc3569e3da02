"""GDPR access and erasure: who may ask, what the answer holds, and an erased person found
nowhere afterwards (every table, the API's answers) while the ledger and the chains verify."""

from __future__ import annotations

import json

from sqlalchemy import String, or_, select
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from core.audit.verify import verify_database
from core.ledger.check import check_database
from tests.core.audit.test_chain import _tamper, _traffic
from tests.factories import PASSWORD, bearer
from tests.oauth_world import client_key, public_jwks, register


def _mentions(db, words: list[str]) -> list[str]:
    """Where any of `words` is still written: table.column for each hit."""
    hits = []
    with db.unit_of_work(write=False) as session:
        for table in SQLModel.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, (String, AutoString)):
                    continue
                found = session.execute(
                    select(column).where(or_(*(column.contains(w) for w in words))).limit(1)
                ).first()
                if found is not None:
                    hits.append(f"{table.name}.{column.name}")
    return hits


def _payer_leaves_traces(client, app, world, clock) -> None:
    _traffic(client, app, world, clock)
    signed_in = client.post("/v1/auth/token", data={"username": "acme-payer", "password": PASSWORD})
    assert signed_in.status_code == 200
    admin = bearer(app, world.users["acme-admin"], clock)
    renamed = client.patch(
        f"/v1/users/{world.user_id('acme-payer')}",
        json={"display_name": "Acme Payer Senior"},
        headers=admin,
    )
    assert renamed.status_code == 200, renamed.text


def _deactivate(client, app, world, clock, username: str) -> None:  # type: ignore[no-untyped-def]
    """Their admin (a bank manager for staff) lets the person go: the first of two people."""
    who = "acme-admin" if username.startswith("acme-") else "manager"
    left = client.patch(
        f"/v1/users/{world.user_id(username)}",
        json={"is_active": False},
        headers=bearer(app, world.users[who], clock),
    )
    assert left.status_code == 200, left.text


def test_access_for_the_person_their_admin_and_compliance_only(client, app, world, clock):
    _payer_leaves_traces(client, app, world, clock)
    payer_id = world.user_id("acme-payer")
    url = f"/v1/users/{payer_id}/personal-data"
    for who in ("acme-payer", "acme-admin", "compliance"):
        answer = client.get(url, headers=bearer(app, world.users[who], clock))
        assert answer.status_code == 200, (who, answer.text)
        held = answer.json()
        assert held["profile"]["username"] == "acme-payer"
        assert "password_hash" not in held["profile"]
        assert held["activity"] and held["decisions"] and held["changes_about"]
        assert held["sign_in_attempts"][0]["username"] == "acme-payer"
        assert held["grants"][0]["user_id"] == payer_id
    bookkeeper = client.get(url, headers=bearer(app, world.users["acme-bookkeeper"], clock))
    assert bookkeeper.status_code == 403
    assert (
        client.get(url, headers=bearer(app, world.users["globex-admin"], clock)).status_code == 404
    )
    missing = client.get(
        "/v1/users/99999/personal-data", headers=bearer(app, world.users["compliance"], clock)
    )
    assert missing.status_code == 404


def test_an_erased_person_is_found_nowhere_and_everything_still_verifies(
    client, app, world, clock, db
):
    _payer_leaves_traces(client, app, world, clock)
    payer_id = world.user_id("acme-payer")
    payer_token = bearer(app, world.users["acme-payer"], clock)
    former = ["acme-payer", "Acme Payer"]
    before = _mentions(db, former)
    # Text columns of every type are read (SQLModel's AutoString is no String).
    for where in ("changes.after", "sign_in_attempts.username", "activity.detail"):
        assert where in before, before

    admin = bearer(app, world.users["acme-admin"], clock)
    assert client.post(f"/v1/users/{payer_id}/erase", headers=admin).status_code == 403
    other = bearer(app, world.users["globex-admin"], clock)
    assert client.post(f"/v1/users/{payer_id}/erase", headers=other).status_code == 404

    compliance = bearer(app, world.users["compliance"], clock)
    still_active = client.post(f"/v1/users/{payer_id}/erase", headers=compliance)
    assert still_active.status_code == 409
    assert still_active.json()["error"] == "person_still_active"
    _deactivate(client, app, world, clock, "acme-payer")
    erased = client.post(f"/v1/users/{payer_id}/erase", headers=compliance)
    assert erased.status_code == 200, erased.text
    result = erased.json()
    assert result["pseudonym"] == f"erased-{payer_id}" and result["unsealed_links"] > 0
    assert _mentions(db, former) == []

    verified = verify_database(db)
    assert verified.ok, verified.render()
    assert check_database(db).ok
    for path in ("/v1/changes", "/v1/decisions", f"/v1/users/{payer_id}/personal-data"):
        answer = client.get(path, headers=compliance)
        assert answer.status_code == 200 and not any(w in answer.text for w in former), path
    users = client.get("/v1/users", headers=admin)
    assert users.status_code == 200 and f"erased-{payer_id}" in users.text
    assert not any(w in users.text for w in former)
    # Their token, their password and their second factor are gone.
    assert client.get("/v1/me", headers=payer_token).status_code == 401
    for username in ("acme-payer", f"erased-{payer_id}"):
        refused = client.post("/v1/auth/token", data={"username": username, "password": PASSWORD})
        assert refused.status_code == 401
    again = client.post(f"/v1/users/{payer_id}/erase", headers=compliance).json()
    assert again["already_erased"] is True


def test_an_unsealed_link_without_an_erasure_is_caught(client, app, world, clock, db):
    _payer_leaves_traces(client, app, world, clock)
    _tamper(db, "UPDATE audit_links SET salt = NULL WHERE record_table = 'changes'")
    report = verify_database(db)
    assert not report.ok
    assert "unsealed without an erasure" in report.breaks[0].problem, report.render()


def test_an_erasure_record_rewritten_to_cover_more_is_caught(client, app, world, clock, db):
    """An intruder widens an erasure's list of unsealed links to hide an edit elsewhere."""
    _payer_leaves_traces(client, app, world, clock)
    compliance = bearer(app, world.users["compliance"], clock)
    _deactivate(client, app, world, clock, "acme-payer")
    erased = client.post(f"/v1/users/{world.user_id('acme-payer')}/erase", headers=compliance)
    assert erased.status_code == 200, erased.text
    with db.unit_of_work(write=False) as session:
        every = [
            row[0] for row in session.execute(select(SQLModel.metadata.tables["audit_links"].c.id))
        ]
    widened = '{"pseudonym": "x", "pseudonymized": {}, "unsealed_links": ' + str(every) + "}"
    _tamper(db, "UPDATE changes SET after = :a WHERE change = 'erased'", a=widened)
    _tamper(db, "UPDATE audit_links SET salt = NULL WHERE record_table = 'decisions'")
    report = verify_database(db)
    assert not report.ok, report.render()


def test_a_compliance_officer_never_erases_themselves(client, app, world, clock, db):
    compliance = bearer(app, world.users["compliance"], clock)
    own = client.post(f"/v1/users/{world.user_id('compliance')}/erase", headers=compliance)
    assert own.status_code == 403 and own.json()["error"] == "self_change_forbidden"
    # Staff who left are erased as customers' people are: after the bank deactivated them.
    assert (
        client.post(f"/v1/users/{world.user_id('manager')}/erase", headers=compliance).status_code
        == 409
    )
    assert _mentions(db, ["erased-"]) == []
    missing = client.post("/v1/users/99999/erase", headers=compliance)
    assert missing.status_code == 404


def _rename(client, app, world, clock, admin: str, username: str, **body) -> None:  # type: ignore[no-untyped-def]
    renamed = client.patch(
        f"/v1/users/{world.user_id(username)}",
        json=body,
        headers=bearer(app, world.users[admin], clock),
    )
    assert renamed.status_code == 200, renamed.text


def _outside(db, tenant_id: int) -> dict[str, list[tuple]]:  # type: ignore[type-arg]
    """Every row of every table but the erased company's, and every API client, signing key
    and stored response whoever's, as stored."""
    always = {"api_clients", "signing_keys", "idempotency_keys"}
    held = {}
    with db.unit_of_work(write=False) as session:
        for table in SQLModel.metadata.sorted_tables:
            stmt = select(table)
            if table.name not in always and "tenant_id" in table.c:
                stmt = stmt.where(or_(table.c.tenant_id.is_(None), table.c.tenant_id != tenant_id))
            elif table.name == "audit_links":
                stmt = stmt.where(table.c.chain != f"tenant:{tenant_id}")
            held[table.name] = sorted(tuple(map(str, row)) for row in session.execute(stmt))
    return held


def test_an_erasure_rewrites_nothing_of_another_company_whatever_names_it_was_given(
    client, app, world, clock, db
):
    """An admin names their person as a key type, another company's person and a JSON
    literal: the erasure still rewrites only their own person's rows."""
    _traffic(client, app, world, clock)
    register(client, bearer(app, world.users["acme-admin"], clock), jwks=public_jwks(client_key()))
    register(
        client,
        bearer(app, world.users["globex-admin"], clock),
        name="Globex ERP",
        jwks=public_jwks(client_key()),
    )
    _rename(client, app, world, clock, "globex-admin", "globex-payer", display_name="Ed25519")
    _rename(client, app, world, clock, "acme-admin", "acme-payer", display_name="Ed25519")
    _rename(client, app, world, clock, "acme-admin", "acme-payer", display_name="true")
    _deactivate(client, app, world, clock, "acme-payer")
    acme = world.tenants["acme"].id
    untouched = _outside(db, acme)
    assert any("Ed25519" in str(row) for row in untouched["changes"])

    payer_id = world.user_id("acme-payer")
    compliance = bearer(app, world.users["compliance"], clock)
    erased = client.post(f"/v1/users/{payer_id}/erase", headers=compliance)
    assert erased.status_code == 200, erased.text

    after = _outside(db, acme)
    for table, rows in untouched.items():
        # Each row held before is still there as it was (the erasure adds its own records).
        assert set(rows) <= set(after[table]), table
    with db.unit_of_work(write=False) as session:
        changes = SQLModel.metadata.tables["changes"]
        about = select(changes.c.before, changes.c.after).where(
            changes.c.entity == "user", changes.c.entity_id == payer_id
        )
        for shapes in session.execute(about):
            for shape in shapes:
                held = json.loads(shape) if shape else {}  # still JSON, booleans as they were
                assert held.get("display_name") in (None, f"erased-{payer_id}"), held
                assert held.get("is_active") in (None, True, False), held
    assert _mentions(db, ["acme-payer"]) == []
    verified = verify_database(db)
    assert verified.ok, verified.render()
    assert check_database(db).ok
