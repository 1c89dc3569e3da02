"""Sign-in and bearer tokens: only a valid, unexpired token of ours opens /v1."""

from __future__ import annotations

import base64
import datetime as dt
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.models.iam import User
from tests.factories import PASSWORD, bearer


def _login(client, username: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/v1/auth/token", data={"username": username, "password": password})


def test_sign_in_returns_a_short_lived_eddsa_token(client, world):
    response = _login(client, "acme-payer", PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert 0 < body["expires_in"] <= 900
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "EdDSA"
    accounts = client.get(
        "/v1/accounts", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert accounts.status_code == 200


@pytest.mark.parametrize(
    "username,password", [("acme-payer", "wrong"), ("nobody", PASSWORD), ("", "")]
)
def test_bad_credentials_answer_the_same_401(client, world, username, password):
    response = _login(client, username, password)
    assert response.status_code in (401, 422)
    if response.status_code == 401:
        assert response.json() == {
            "error": "invalid_credentials",
            "detail": "unknown user or wrong password",
        }


def test_deactivated_user_can_neither_sign_in_nor_use_an_old_token(client, app, db, world, clock):
    headers = bearer(app, world.users["acme-payer"], clock)
    clock.advance(seconds=2)
    with db.unit_of_work() as session:
        user = session.get(User, world.user_id("acme-payer"))
        user.is_active = False
        user.credentials_changed_at = clock.now()
    assert _login(client, "acme-payer", PASSWORD).status_code == 401
    assert client.get("/v1/accounts", headers=headers).status_code == 401


def _forge(claims: dict, key=None, alg: str = "EdDSA") -> str:  # type: ignore[no-untyped-def]
    return jwt.encode(claims, key or Ed25519PrivateKey.generate(), algorithm=alg)


def test_expired_tampered_unsigned_and_foreign_tokens_are_refused(client, app, world, clock):
    good = bearer(app, world.users["acme-payer"], clock)["Authorization"].split()[1]
    now = int(clock.now().timestamp())
    claims = {
        "iss": "mandate",
        "aud": "mandate-api",
        "sub": str(world.user_id("acme-payer")),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    header, payload, signature = good.split(".")
    tampered_payload = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered_payload["sub"] = str(world.user_id("manager"))
    tampered = ".".join(
        [
            header,
            base64.urlsafe_b64encode(json.dumps(tampered_payload).encode()).decode().rstrip("="),
            signature,
        ]
    )
    unsigned = ".".join(
        [
            base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("="),
            base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("="),
            "",
        ]
    )
    private_key = app.state.services.tokens.first_key
    cases = {
        "tampered": tampered,
        "alg none": unsigned,
        "other key": _forge(claims),
        "wrong issuer": _forge({**claims, "iss": "someone-else"}, private_key),
        "wrong audience": _forge({**claims, "aud": "other-api"}, private_key),
        "hs256 with public key bytes": jwt.encode(claims, "secret", algorithm="HS256"),
        "garbage": "not.a.token",
    }
    for name, token in cases.items():
        response = client.get("/v1/accounts", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json()["error"] == "invalid_token", name
        assert response.headers["WWW-Authenticate"] == "Bearer"

    clock.advance(seconds=901)
    expired = client.get("/v1/accounts", headers={"Authorization": f"Bearer {good}"})
    assert expired.status_code == 401
    assert expired.json()["error"] == "token_expired"


def test_no_token_is_401(client, world):
    response = client.get("/v1/accounts")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"


def test_signing_key_lives_outside_the_repository_and_is_private(app, settings):
    from core.settings import REPO_ROOT

    path = settings.token_key_path
    assert path.exists()
    assert REPO_ROOT not in path.resolve().parents
    assert path.stat().st_mode & 0o077 == 0
    default = type(settings)().token_key_path  # the default for a real install
    assert REPO_ROOT not in default.expanduser().resolve().parents
    assert dt.timedelta(seconds=settings.token_lifetime_seconds) <= dt.timedelta(minutes=15)


def test_sign_in_is_rate_limited_per_user_without_revealing_who_exists(client, world, clock):
    for username in ("acme-payer", "no-such-user"):
        for _ in range(5):
            assert _login(client, username, "wrong password").status_code == 401
        locked = _login(client, username, PASSWORD)
        assert locked.status_code == 429, username
        assert locked.json()["error"] == "too_many_requests"
    clock.advance(minutes=16)
    assert _login(client, "acme-payer", PASSWORD).status_code == 200


def _same_second_as(clock) -> None:  # type: ignore[no-untyped-def]
    clock.at = clock.now().replace(microsecond=100_000)


def test_a_password_reset_revokes_a_token_issued_earlier_in_the_same_second(
    client, app, world, clock
):
    _same_second_as(clock)
    old = bearer(app, world.users["acme-payer"], clock)
    admin = bearer(app, world.users["acme-admin"], clock)
    clock.advance(microseconds=200_000)
    reset = client.post(
        f"/v1/users/{world.user_id('acme-payer')}/password",
        json={"password": "a brand new passphrase"},
        headers=admin,
    )
    assert reset.status_code == 200, reset.text
    clock.advance(microseconds=200_000)
    login = _login(client, "acme-payer", "a brand new passphrase")
    assert login.status_code == 200
    new = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert client.get("/v1/accounts", headers=new).status_code == 200
    refused = client.get("/v1/accounts", headers=old)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"


def test_deactivation_revokes_a_token_issued_earlier_in_the_same_second(client, app, world, clock):
    _same_second_as(clock)
    old = bearer(app, world.users["acme-payer"], clock)
    admin = bearer(app, world.users["acme-admin"], clock)
    path = f"/v1/users/{world.user_id('acme-payer')}"
    for is_active in (False, True):
        clock.advance(microseconds=100_000)
        changed = client.patch(path, json={"is_active": is_active}, headers=admin)
        assert changed.status_code == 200, changed.text
    clock.advance(microseconds=100_000)
    new = bearer(app, world.users["acme-payer"], clock)
    assert client.get("/v1/accounts", headers=new).status_code == 200
    assert client.get("/v1/accounts", headers=old).status_code == 401


def test_a_token_without_its_precise_issue_time_is_refused_cleanly(client, app, world, clock):
    """Tokens issued before the issue time was carried to the microsecond: 401, never 500."""
    now = int(clock.now().timestamp())
    claims = {
        "iss": "mandate",
        "aud": "mandate-api",
        "sub": str(world.user_id("acme-payer")),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "old-format",
    }
    private_key = app.state.services.tokens.first_key
    for issued_at_us in (None, "soon", 1.5, -1, 10**30):
        payload = claims if issued_at_us is None else {**claims, "iat_us": issued_at_us}
        token = _forge(payload, private_key)
        response = client.get("/v1/accounts", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, issued_at_us
        assert response.json()["error"] == "invalid_token", issued_at_us
