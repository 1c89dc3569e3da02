"""API clients: registered by corporate admins (bank managers for the bank's services) through
dual administration like users, holding grants like people, and getting tokens by OAuth 2.0
client credentials (RFC 6749 section 4.4) with private_key_jwt (RFC 7523) or
client_secret_basic. Each security property of the token endpoint has its test here."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from core.errors import Conflict
from core.iam import signing_keys
from core.iam.oauth_server import LEEWAY_SECONDS
from core.models.iam import User
from core.models.oauth import ApiClient
from tests.factories import PASSWORD, bearer, role, unit_of_work
from tests.governance_world import turn_on, with_second_admin
from tests.oauth_world import assertion, client_key, grant, public_jwks, register, token_form


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


# -- the token endpoint ------------------------------------------------------------------------


def _registered(client, app, db, world, clock, role_key="payer", **conditions):  # type: ignore[no-untyped-def]
    """An acme client holding its own Ed25519 key, with a grant of `role_key` over acme."""
    admin = bearer(app, world.users["acme-admin"], clock)
    key = client_key()
    created = register(client, admin, jwks=public_jwks(key))
    grant(client, admin, created["id"], role(db, role_key, world.tenants["acme"]).id, **conditions)
    return created, key


def _token(client, created, key, clock, **kwargs):  # type: ignore[no-untyped-def]
    scope = kwargs.pop("scope", None)
    signed = assertion(key, created["client_id"], clock.now(), **kwargs)
    return client.post("/v1/auth/token", data=token_form(signed, scope))


def test_client_credentials_with_a_signed_assertion_reads_balances_and_pays(
    client, app, db, world, clock
):
    created, key = _registered(client, app, db, world, clock)
    answered = _token(client, created, key, clock, scope="accounts:read payments:write")
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "accounts:read payments:write"
    assert answered.headers["Cache-Control"] == "no-store"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "EdDSA" and header["kid"]
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == created["client_id"] and claims["sub"] == str(created["id"])
    assert {"iss", "aud", "exp", "iat", "jti", "scope"} <= set(claims)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    account = world.account_id("acme-operating")
    balance = client.get(f"/v1/accounts/{account}", headers=headers)
    assert balance.status_code == 200, balance.text
    moved = client.post(
        "/v1/transfers",
        json={
            "from_account_id": account,
            "to_account_id": world.account_id("acme-payroll"),
            "amount": 100,
            "currency": "EUR",
        },
        headers={**headers, "Idempotency-Key": "client-transfer-1"},
    )
    assert moved.status_code == 201, moved.text
    me = client.get("/v1/me", headers=headers).json()
    assert me["username"] == created["client_id"]


def test_bad_assertions_are_invalid_client(client, app, db, world, clock):
    created, key = _registered(client, app, db, world, clock)
    stranger = client_key("erp-key-1")
    cases = {
        "wrong aud": {"aud": "http://elsewhere/v1/auth/token"},
        "expired": {"lifetime": -120},
        "too long-lived": {"lifetime": 3600},
        "unknown kid": {"kid": "no-such-key"},
    }
    for name, kwargs in cases.items():
        answered = _token(client, created, key, clock, **kwargs)
        assert answered.status_code == 401, (name, answered.text)
        assert answered.json()["error"] == "invalid_client", name
        assert "WWW-Authenticate" in answered.headers
    forged = client.post(
        "/v1/auth/token", data=token_form(assertion(stranger, created["client_id"], clock.now()))
    )
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_client"
    unknown = client.post(
        "/v1/auth/token", data=token_form(assertion(key, "mcl_nobody", clock.now()))
    )
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"


def test_an_assertion_is_used_once(client, app, db, world, clock):
    created, key = _registered(client, app, db, world, clock)
    signed = assertion(key, created["client_id"], clock.now(), jti="once")
    assert client.post("/v1/auth/token", data=token_form(signed)).status_code == 200
    again = client.post("/v1/auth/token", data=token_form(signed))
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"


def test_a_disabled_client_gets_no_token_and_its_tokens_stop(client, app, db, world, clock):
    created, key = _registered(client, app, db, world, clock)
    token = _token(client, created, key, clock).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    account = world.account_id("acme-operating")
    assert client.get(f"/v1/accounts/{account}", headers=headers).status_code == 200
    admin = bearer(app, world.users["acme-admin"], clock)
    disabled = client.post(f"/v1/api-clients/{created['id']}/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json()["is_active"] is False
    assert client.get(f"/v1/accounts/{account}", headers=headers).status_code == 401
    refused = _token(client, created, key, clock)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_client_secret_basic(client, app, db, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    created = register(client, admin, name="Treasury", auth_method="client_secret_basic")
    grant(client, admin, created["id"], role(db, "bookkeeper", world.tenants["acme"]).id)
    form = {"grant_type": "client_credentials", "scope": "accounts:read"}
    good = client.post(
        "/v1/auth/token", data=form, auth=(created["client_id"], created["client_secret"])
    )
    assert good.status_code == 200, good.text
    headers = {"Authorization": f"Bearer {good.json()['access_token']}"}
    account = world.account_id("acme-operating")
    assert client.get(f"/v1/accounts/{account}", headers=headers).status_code == 200
    wrong = client.post("/v1/auth/token", data=form, auth=(created["client_id"], "mcs_wrong"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    # A secret client cannot authenticate with an assertion, nor without credentials.
    bare = client.post("/v1/auth/token", data=form)
    assert bare.status_code == 401 and bare.json()["error"] == "invalid_client"


def test_token_endpoint_errors_are_rfc_6749(client, app, db, world, clock):
    created, key = _registered(client, app, db, world, clock)
    unknown_scope = _token(client, created, key, clock, scope="accounts:read money:print")
    assert unknown_scope.status_code == 400 and unknown_scope.json()["error"] == "invalid_scope"
    other = client.post("/v1/auth/token", data={"grant_type": "authorization_code", "code": "x"})
    assert other.status_code == 400 and other.json()["error"] == "unsupported_grant_type"


def test_a_scope_narrows_what_the_grant_allows(client, app, db, world, clock):
    created, key = _registered(client, app, db, world, clock)
    token = _token(client, created, key, clock, scope="accounts:read").json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "scoped-1"}
    account = world.account_id("acme-operating")
    assert client.get(f"/v1/accounts/{account}", headers=headers).status_code == 200
    moved = client.post(
        "/v1/transfers",
        json={
            "from_account_id": account,
            "to_account_id": world.account_id("acme-payroll"),
            "amount": 100,
            "currency": "EUR",
        },
        headers=headers,
    )
    assert moved.status_code == 403, moved.text
    assert moved.json()["error"] == "scope_missing"


def test_the_password_grant_can_be_switched_off(settings, db, clock, world):  # type: ignore[no-untyped-def]
    off = create_app(
        settings.model_copy(update={"password_grant": False}), database=db, clock=clock
    )
    with TestClient(off) as client:
        answered = client.post(
            "/v1/auth/token", data={"username": "acme-payer", "password": PASSWORD}
        )
        assert answered.status_code == 400 and answered.json()["error"] == "unsupported_grant_type"


# -- the signing keys ----------------------------------------------------------------------------


def test_key_rotation_old_tokens_verify_until_retired(client, app, db, world, clock):
    svc = app.state.services
    created, key = _registered(client, app, db, world, clock)
    old = _token(client, created, key, clock).json()["access_token"]
    old_kid = jwt.get_unverified_header(old)["kid"]
    person = bearer(app, world.users["acme-payer"], clock)
    assert jwt.get_unverified_header(person["Authorization"][7:])["kid"] == old_kid
    assert [k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]] == [old_kid]
    fresh = db.run(lambda s: signing_keys.rotate(s, svc.box, svc.tokens.first_key, clock.now()))
    new = _token(client, created, key, clock).json()["access_token"]
    assert jwt.get_unverified_header(new)["kid"] == fresh.kid != old_kid
    published = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
    assert published == {old_kid, fresh.kid}
    account = world.account_id("acme-operating")
    for token in (old, new):
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get(f"/v1/accounts/{account}", headers=headers).status_code == 200
    assert client.get(f"/v1/accounts/{account}", headers=person).status_code == 200
    # Not retired while its tokens may live, nor the active key at all.
    with pytest.raises(Conflict):
        db.run(lambda s: signing_keys.retire(s, old_kid, clock.now(), svc.tokens.lifetime))
    with pytest.raises(Conflict):
        db.run(lambda s: signing_keys.retire(s, fresh.kid, clock.now(), svc.tokens.lifetime))
    later = clock.now() + svc.tokens.lifetime
    db.run(lambda s: signing_keys.retire(s, old_kid, later, svc.tokens.lifetime))
    assert [k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]] == [fresh.kid]
    for headers in ({"Authorization": f"Bearer {old}"}, person):
        refused = client.get(f"/v1/accounts/{account}", headers=headers)
        assert refused.status_code == 401, refused.text
    assert (
        client.get(
            f"/v1/accounts/{account}", headers={"Authorization": f"Bearer {new}"}
        ).status_code
        == 200
    )


def test_metadata_names_the_endpoints_and_scopes(client):
    meta = client.get("/.well-known/oauth-authorization-server").json()
    assert meta["token_endpoint"] == "http://testserver/v1/auth/token"
    assert meta["jwks_uri"] == "http://testserver/.well-known/jwks.json"
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert {"accounts:read", "payments:write", "decisions:evaluate", "tokens:introspect"} <= set(
        meta["scopes_supported"]
    )


def test_introspection_and_revocation(client, app, db, world, clock):
    created, key = _registered(client, app, db, world, clock)
    token = _token(client, created, key, clock, scope="accounts:read").json()["access_token"]
    manager = bearer(app, world.users["manager"], clock)
    active = client.post("/v1/auth/introspect", data={"token": token}, headers=manager).json()
    assert active["active"] is True and active["client_id"] == created["client_id"]
    assert active["scope"] == "accounts:read"
    # Without token.introspect: refused; a client's token needs tokens:introspect as well.
    payer = bearer(app, world.users["acme-payer"], clock)
    assert (
        client.post("/v1/auth/introspect", data={"token": token}, headers=payer).status_code == 403
    )
    as_client = {"Authorization": f"Bearer {token}"}
    refused = client.post("/v1/auth/introspect", data={"token": token}, headers=as_client)
    assert refused.status_code in (403, 404)
    # Someone else cannot revoke it; its holder can, and then it is refused everywhere.
    assert client.post("/v1/auth/revoke", data={"token": token}, headers=payer).status_code == 200
    account = world.account_id("acme-operating")
    assert client.get(f"/v1/accounts/{account}", headers=as_client).status_code == 200
    assert (
        client.post("/v1/auth/revoke", data={"token": token}, headers=as_client).status_code == 200
    )
    assert client.get(f"/v1/accounts/{account}", headers=as_client).status_code == 401
    gone = client.post("/v1/auth/introspect", data={"token": token}, headers=manager).json()
    assert gone == {"active": False}
    assert client.post(
        "/v1/auth/introspect", data={"token": "garbage"}, headers=manager
    ).json() == {"active": False}


# -- more keys, payments, dual administration, concurrency ------------------------------------


def test_a_client_signing_with_a_p256_key_es256(client, app, db, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    key = client_key("treasury-p256", kind="EC")
    created = register(client, admin, name="Treasury", jwks=public_jwks(key))
    assert created["jwks"]["keys"][0]["kty"] == "EC"
    grant(client, admin, created["id"], role(db, "bookkeeper", world.tenants["acme"]).id)
    signed = assertion(key, created["client_id"], clock.now())
    assert jwt.get_unverified_header(signed)["alg"] == "ES256"
    answered = client.post("/v1/auth/token", data=token_form(signed, "accounts:read"))
    assert answered.status_code == 200, answered.text
    headers = {"Authorization": f"Bearer {answered.json()['access_token']}"}
    account = world.account_id("acme-operating")
    assert client.get(f"/v1/accounts/{account}", headers=headers).status_code == 200
    # Another P-256 key under the registered kid signs nothing.
    stranger = client_key("treasury-p256", kind="EC")
    forged = assertion(stranger, created["client_id"], clock.now())
    refused = client.post("/v1/auth/token", data=token_form(forged))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def _payment(client, headers, world, amount, key):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/payments",
        json={
            "account_id": world.account_id("acme-operating"),
            "beneficiary_id": world.beneficiary_id("acme-supplier"),
            "amount": amount,
            "currency": "EUR",
            "reference": "ERP run",
        },
        headers={**headers, "Idempotency-Key": key},
    )


def test_a_client_pays_within_its_grant_and_its_scope(client, app, db, world, clock):
    limits = {"currency": "EUR", "per_transfer": 100_000, "daily": 500_000}
    created, key = _registered(client, app, db, world, clock, all_accounts=True, limits=limits)
    # Paying is seeing the account and the beneficiary too (without their scopes: not found).
    scope = "accounts:read beneficiaries:read payments:write"
    token = _token(client, created, key, clock, scope=scope).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    paid = _payment(client, headers, world, 25_000, "client-payment-1")
    assert paid.status_code in (201, 202), paid.text
    assert paid.json()["initiated_by"] == created["id"]
    # Within its scope but beyond its grant: the grant's limit refuses it.
    above = _payment(client, headers, world, 100_001, "client-payment-2")
    assert above.status_code == 403 and above.json()["error"] == "limit_per_transfer", above.text
    # Within its grant but beyond its token's scope: refused, and nothing is paid.
    narrow = _token(client, created, key, clock, scope="accounts:read beneficiaries:read")
    narrow = narrow.json()["access_token"]
    refused = _payment(
        client, {"Authorization": f"Bearer {narrow}"}, world, 25_000, "client-payment-3"
    )
    assert refused.status_code == 403 and refused.json()["error"] == "scope_missing", refused.text
    listed = client.get("/v1/payments", headers=headers).json()["items"]
    assert [p["id"] for p in listed] == [paid.json()["id"]]


def test_under_dual_administration_disabling_a_client_waits_for_a_second_admin(
    client, app, db, world, clock
):
    created, key = _registered(client, app, db, world, clock)
    token = _token(client, created, key, clock).json()["access_token"]
    as_client = {"Authorization": f"Bearer {token}"}
    account = world.account_id("acme-operating")
    turn_on(db, clock, tenant=world.tenants["acme"])
    second = with_second_admin(db, app.state.services.passwords, world, clock)
    admin = bearer(app, world.users["acme-admin"], clock)
    asked = client.post(f"/v1/api-clients/{created['id']}/disable", headers=admin)
    assert asked.status_code == 202, asked.text
    request = asked.json()
    assert request["kind"] == "api_client.disable"
    # Until it is approved the client works, and its admin cannot approve it alone.
    assert client.get(f"/v1/accounts/{account}", headers=as_client).status_code == 200
    own = client.post(
        f"/v1/change-requests/{request['id']}/approve",
        headers={**admin, "Idempotency-Key": "disable-own"},
    )
    assert own.status_code == 403
    assert _token(client, created, key, clock).status_code == 200
    approved = client.post(
        f"/v1/change-requests/{request['id']}/approve",
        headers={**bearer(app, second, clock), "Idempotency-Key": "disable-second"},
    )
    assert approved.status_code == 200 and approved.json()["status"] == "applied", approved.text
    shown = client.get(f"/v1/api-clients/{created['id']}", headers=admin).json()
    assert shown["is_active"] is False and shown["disabled_at"] is not None
    assert client.get(f"/v1/accounts/{account}", headers=as_client).status_code == 401
    refused = _token(client, created, key, clock)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_one_assertion_sent_twice_at_once_gets_one_token(
    backend, app, db, world, clock, client, live_server
):  # type: ignore[no-untyped-def]
    """Two token requests with the same assertion at the same instant, through uvicorn: the
    jti's primary key lets one of them keep it; the other is refused (PostgreSQL: the second
    insert waits for the first transaction, then finds the jti taken)."""
    if backend != "postgresql":
        pytest.skip("concurrent transactions: PostgreSQL only")
    created, key = _registered(client, app, db, world, clock)
    url = f"{live_server.url}/v1/auth/token"
    for round_ in range(3):
        signed = assertion(key, created["client_id"], clock.now(), aud=url, jti=f"twice-{round_}")
        barrier = threading.Barrier(2)

        def send(_: int, signed: str = signed, barrier: threading.Barrier = barrier) -> int:
            with httpx.Client(timeout=30) as http:
                assert http.get(f"{live_server.url}/healthz").status_code == 200
                barrier.wait(timeout=30)
                return http.post(url, data=token_form(signed)).status_code

        with ThreadPoolExecutor(2) as pool:
            statuses = sorted(pool.map(send, range(2)))
        assert statuses == [200, 401], (round_, statuses)


def test_an_assertion_is_used_once_within_the_clock_skew_allowed_too(client, app, db, world, clock):
    """An assertion is accepted up to LEEWAY_SECONDS past its exp: its jti must be kept that
    long, or it could be sent again in those seconds once the first use was forgotten."""
    created, key = _registered(client, app, db, world, clock)
    signed = assertion(key, created["client_id"], clock.now(), jti="skew", lifetime=60)
    assert client.post("/v1/auth/token", data=token_form(signed)).status_code == 200
    clock.at = clock.now() + dt.timedelta(seconds=60 + LEEWAY_SECONDS - 5)
    again = client.post("/v1/auth/token", data=token_form(signed))
    assert again.status_code == 401 and again.json()["error"] == "invalid_client", again.text


def test_the_users_list_tells_clients_from_people(client, app, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    created = register(client, admin, jwks=public_jwks(client_key()))
    kinds = {
        u["username"]: u["kind"] for u in client.get("/v1/users", headers=admin).json()["items"]
    }
    assert kinds[created["client_id"]] == "client"
    assert kinds["acme-payer"] == "person" and kinds["acme-admin"] == "person"
    assert set(kinds.values()) == {"person", "client"}
    one = client.get(f"/v1/users/{created['id']}", headers=admin).json()
    assert one["kind"] == "client"
    # /v1/me keeps its own kind: the caller's standing.
    assert client.get("/v1/me", headers=admin).json()["kind"] == "customer"


def test_an_unknown_client_and_a_wrong_secret_are_told_apart_by_nothing(client, app, world, clock):
    """A regression (the review): an unknown client_id answered "does not exist", a known one
    with a wrong secret something else, so client ids could be enumerated."""
    admin = bearer(app, world.users["acme-admin"], clock)
    created = register(client, admin, name="Treasury", auth_method="client_secret_basic")
    form = {"grant_type": "client_credentials", "scope": "accounts:read"}
    wrong = client.post("/v1/auth/token", data=form, auth=(created["client_id"], "mcs_wrong"))
    unknown = client.post("/v1/auth/token", data=form, auth=("mcl_nobody", "mcs_wrong"))
    keyed = register(client, admin, name="Keyed", jwks=public_jwks(client_key()))
    no_secret = client.post("/v1/auth/token", data=form, auth=(keyed["client_id"], "mcs_wrong"))
    for answer in (wrong, unknown, no_secret):
        assert answer.status_code == 401, answer.text
    assert wrong.json() == unknown.json() == no_secret.json(), (wrong.text, unknown.text)


def test_a_client_id_beside_an_assertion_must_name_its_client(client, app, world, clock):
    """A regression (the review): client A's assertion sent with client B's client_id got a
    token (RFC 7521 section 4.2: they must match)."""
    admin = bearer(app, world.users["acme-admin"], clock)
    key = client_key()
    ours = register(client, admin, jwks=public_jwks(key))
    other = register(client, admin, name="Other", jwks=public_jwks(client_key()))
    mismatched = {
        **token_form(assertion(key, ours["client_id"], clock.now())),
        "client_id": other["client_id"],
    }
    refused = client.post("/v1/auth/token", data=mismatched)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client", refused.text
    matched = {
        **token_form(assertion(key, ours["client_id"], clock.now())),
        "client_id": ours["client_id"],
    }
    assert client.post("/v1/auth/token", data=matched).status_code == 200


def test_wrong_secrets_are_counted_as_failed_sign_ins_are(client, app, db, world, clock):
    """A regression (the noticed list): client_secret_basic checked secrets without limit,
    each an argon2 hash. Now five wrong secrets for one client lock it for 15 minutes (429,
    the right secret too, checked no more), other clients and assertions go on, and the
    lock ends with the window."""
    admin = bearer(app, world.users["acme-admin"], clock)
    created = register(client, admin, name="Treasury", auth_method="client_secret_basic")
    grant(client, admin, created["id"], role(db, "bookkeeper", world.tenants["acme"]).id)
    other = register(client, admin, name="Payroll", auth_method="client_secret_basic")
    grant(client, admin, other["id"], role(db, "bookkeeper", world.tenants["acme"]).id)
    form = {"grant_type": "client_credentials", "scope": "accounts:read"}
    right = (created["client_id"], created["client_secret"])
    assert client.post("/v1/auth/token", data=form, auth=right).status_code == 200
    for _ in range(5):
        wrong = client.post("/v1/auth/token", data=form, auth=(created["client_id"], "mcs_x"))
        assert wrong.status_code == 401, wrong.text
    locked = client.post("/v1/auth/token", data=form, auth=right)
    assert locked.status_code == 429, locked.text
    assert locked.json()["error"] == "too_many_requests" and locked.headers["Retry-After"]
    others = (other["client_id"], other["client_secret"])
    assert client.post("/v1/auth/token", data=form, auth=others).status_code == 200
    key = client_key()
    keyed = register(client, admin, name="Keyed", jwks=public_jwks(key))
    grant(client, admin, keyed["id"], role(db, "bookkeeper", world.tenants["acme"]).id)
    signed = client.post(
        "/v1/auth/token", data=token_form(assertion(key, keyed["client_id"], clock.now()))
    )
    assert signed.status_code == 200, signed.text
    clock.advance(minutes=16)
    assert client.post("/v1/auth/token", data=form, auth=right).status_code == 200
