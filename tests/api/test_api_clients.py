"""API clients: registered by corporate admins (bank managers for the bank's services) through
dual administration like users, holding grants like people, and getting tokens by OAuth 2.0
client credentials (RFC 6749 section 4.4) with private_key_jwt (RFC 7523) or
client_secret_basic. Each security property of the token endpoint has its test here."""

from __future__ import annotations

from sqlalchemy import select

from core.models.iam import User
from core.models.oauth import ApiClient
from tests.factories import bearer, unit_of_work
from tests.governance_world import turn_on, with_second_admin
from tests.oauth_world import client_key, public_jwks, register


def test_a_corporate_admin_registers_a_client_with_its_public_key(client, app, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    key = client_key()
    created = register(client, admin, jwks=public_jwks(key))
    assert created["client_id"].startswith("mcl_")
    assert created["tenant_id"] == world.tenants["acme"].id
    assert created["auth_method"] == "private_key_jwt"
    assert created["client_secret"] is None
    assert created["jwks"]["keys"][0]["kid"] == "erp-key-1"
    assert "d" not in created["jwks"]["keys"][0]
    shown = client.get(f"/v1/api-clients/{created['id']}", headers=admin).json()
    assert shown["client_id"] == created["client_id"] and "client_secret" not in shown
    listed = client.get("/v1/api-clients", headers=admin).json()["items"]
    assert [c["client_id"] for c in listed] == [created["client_id"]]


def test_a_secret_is_shown_once_and_kept_as_a_hash(client, app, db, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    created = register(client, admin, name="Treasury", auth_method="client_secret_basic")
    secret = created["client_secret"]
    assert secret.startswith("mcs_") and len(secret) > 40
    again = client.get(f"/v1/api-clients/{created['id']}", headers=admin).json()
    assert "client_secret" not in again

    def stored(session, _ctx):  # type: ignore[no-untyped-def]
        return session.scalar(
            select(ApiClient.secret_hash).where(ApiClient.user_id == created["id"])
        )

    kept = unit_of_work(db, clock).run(stored)
    assert kept.startswith("$argon2id$") and secret not in kept


def test_a_client_is_a_principal_that_never_signs_in_with_a_password(client, app, db, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    created = register(client, admin, jwks=public_jwks(client_key()))

    def principal(session, _ctx):  # type: ignore[no-untyped-def]
        return session.get(User, created["id"])

    user = unit_of_work(db, clock).run(principal)
    assert user.kind == "client" and user.username == created["client_id"]
    for password in ("", "!", "x" * 12):
        signed_in = client.post(
            "/v1/auth/token", data={"username": created["client_id"], "password": password}
        )
        assert signed_in.status_code in (401, 422), signed_in.text
    reset = client.post(
        f"/v1/users/{created['id']}/password",
        json={"password": "a long enough password"},
        headers=admin,
    )
    assert reset.status_code == 422 and reset.json()["error"] == "client_has_no_password"


def test_bad_registrations_are_refused_and_change_nothing(client, app, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    key = client_key()
    private = {"keys": [key.as_dict(private=True)]}
    no_kid = {"keys": [{k: v for k, v in key.as_dict(private=False).items() if k != "kid"}]}
    for body in (
        {"name": "X", "auth_method": "private_key_jwt"},
        {"name": "X", "auth_method": "private_key_jwt", "jwks": private},
        {"name": "X", "auth_method": "private_key_jwt", "jwks": no_kid},
        {"name": "X", "auth_method": "private_key_jwt", "jwks": {"keys": []}},
        {
            "name": "X",
            "auth_method": "private_key_jwt",
            "jwks": {"keys": [{"kty": "oct", "kid": "a", "k": "AAAA"}]},
        },
        {
            "name": "X",
            "auth_method": "private_key_jwt",
            "jwks": {"keys": [{"kty": "OKP", "kid": "a", "crv": "Ed25519", "x": "not a key"}]},
        },
        {"name": "X", "auth_method": "client_secret_basic", "jwks": public_jwks(key)},
        {"name": "X", "auth_method": "none"},
        {"name": "X" * 500, "auth_method": "client_secret_basic"},
    ):
        response = client.post("/v1/api-clients", json=body, headers=admin)
        assert response.status_code == 422, (body, response.text)
    assert client.get("/v1/api-clients", headers=admin).json()["items"] == []


def test_another_tenants_client_is_not_found(client, app, world, clock):
    acme = bearer(app, world.users["acme-admin"], clock)
    created = register(client, acme, jwks=public_jwks(client_key()))
    globex = bearer(app, world.users["globex-admin"], clock)
    for method, path in (
        ("GET", f"/v1/api-clients/{created['id']}"),
        ("POST", f"/v1/api-clients/{created['id']}/disable"),
        ("GET", "/v1/api-clients/999999"),
    ):
        response = client.request(method, path, headers=globex)
        assert response.status_code == 404, (path, response.text)
    assert client.get("/v1/api-clients", headers=globex).json()["items"] == []
    # Nor may an admin of one company register a client for another.
    other = client.post(
        "/v1/api-clients",
        json={
            "name": "X",
            "auth_method": "client_secret_basic",
            "tenant_id": world.tenants["acme"].id,
        },
        headers=globex,
    )
    assert other.status_code == 404


def test_a_bank_manager_registers_a_service_of_the_bank(client, app, world, clock):
    manager = bearer(app, world.users["manager"], clock)
    created = register(client, manager, name="Core banking", auth_method="client_secret_basic")
    assert created["tenant_id"] is None
    payer = bearer(app, world.users["acme-payer"], clock)
    assert (
        client.post(
            "/v1/api-clients",
            json={"name": "X", "auth_method": "client_secret_basic"},
            headers=payer,
        ).status_code
        == 403
    )


def test_under_dual_administration_a_client_waits_for_a_second_admin(client, app, db, world, clock):
    turn_on(db, clock, tenant=world.tenants["acme"])
    second = with_second_admin(db, app.state.services.passwords, world, clock)
    admin = bearer(app, world.users["acme-admin"], clock)
    asked = client.post(
        "/v1/api-clients",
        json={"name": "Payroll", "auth_method": "client_secret_basic"},
        headers=admin,
    )
    assert asked.status_code == 202, asked.text
    request = asked.json()
    assert request["kind"] == "api_client.create" and request["client_secret"].startswith("mcs_")
    assert client.get("/v1/api-clients", headers=admin).json()["items"] == []
    own = client.post(
        f"/v1/change-requests/{request['id']}/approve",
        headers={**admin, "Idempotency-Key": "cr-own"},
    )
    assert own.status_code == 403
    approved = client.post(
        f"/v1/change-requests/{request['id']}/approve",
        headers={**bearer(app, second, clock), "Idempotency-Key": "cr-second"},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "applied"
    listed = client.get("/v1/api-clients", headers=admin).json()["items"]
    assert [c["id"] for c in listed] == [approved.json()["result_id"]]
    # The secret's hash is forgotten by the request once it is applied.
    assert "secret_hash" not in str(
        client.get(f"/v1/change-requests/{request['id']}", headers=admin).json()
    )
