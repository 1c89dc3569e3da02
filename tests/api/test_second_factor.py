"""Two-factor sign-in over the API: setting up an authenticator, signing in with its code (each
code once), recovery codes, removing it with a code, and the bank requiring it of staff and
corporate admins. The clock is the test's: codes are computed for its time."""

from __future__ import annotations

import jwt
from fastapi.testclient import TestClient

from core.iam import totp
from core.models.audit import ChangeRecord
from core.models.second_factor import RecoveryCode, TotpCredential
from tests.factories import PASSWORD, World, bearer
from tests.second_factor_world import code, with_authenticator, with_bank_requiring_mfa


def _sign_in(client: TestClient, username: str, **extra: str):  # type: ignore[no-untyped-def]
    return client.post("/v1/auth/token", data={"username": username, "password": PASSWORD, **extra})


def _claims(response) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return jwt.decode(response.json()["access_token"], options={"verify_signature": False})


def test_setting_up_an_authenticator_and_signing_in_with_it(client, app, db, world, clock):
    headers = bearer(app, world.users["acme-payer"], clock)
    assert client.get("/v1/me/totp", headers=headers).json() == {
        "totp": False,
        "pending": False,
        "recovery_codes_left": 0,
        "required": False,
    }
    started = client.post("/v1/me/totp", headers=headers)
    assert started.status_code == 201, started.text
    enrolment = started.json()
    secret = enrolment["secret"]
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/Mandate:acme-payer?")
    assert enrolment["qr_svg"].startswith("<svg")
    # Not on before it is confirmed: signing in needs no code yet.
    assert _sign_in(client, "acme-payer").status_code == 200
    wrong = client.post("/v1/me/totp/confirm", headers=headers, json={"code": "000000"})
    if totp.code_at(secret, clock.now()) != "000000":
        assert wrong.status_code == 422 and wrong.json()["error"] == "invalid_otp"
    confirmed = client.post(
        "/v1/me/totp/confirm", headers=headers, json={"code": totp.code_at(secret, clock.now())}
    )
    assert confirmed.status_code == 200, confirmed.text
    recovery = confirmed.json()["recovery_codes"]
    assert len(recovery) == 10
    # The secret is kept sealed, the recovery codes as digests; neither is shown again.
    with db.unit_of_work(write=False) as session:
        row = session.get(TotpCredential, world.user_id("acme-payer"))
        assert row is not None and secret not in row.secret_encrypted
        digests = {r.digest for r in session.query(RecoveryCode).all()}
        assert not digests & set(recovery)
        changes = [c.change for c in session.query(ChangeRecord).all()]
        assert "totp_enabled" in changes
    assert client.get("/v1/me/totp", headers=headers).json()["totp"] is True
    assert client.post("/v1/me/totp", headers=headers).json()["error"] == "totp_already_enabled"

    # Now a password alone does not sign in: the code is asked for.
    missing = _sign_in(client, "acme-payer")
    assert missing.status_code == 401 and missing.json()["error"] == "otp_required"
    # The code that confirmed it was used: the same one is refused, the next step's accepted.
    reused = _sign_in(client, "acme-payer", otp=totp.code_at(secret, clock.now()))
    assert reused.status_code == 401 and reused.json()["error"] == "invalid_credentials"
    clock.advance(seconds=30)
    signed_in = _sign_in(client, "acme-payer", otp=totp.code_at(secret, clock.now()))
    assert signed_in.status_code == 200, signed_in.text
    claims = _claims(signed_in)
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["auth_time"] == int(clock.now().timestamp())


def test_a_wrong_code_counts_as_a_failed_sign_in(client, app, db, world, clock):
    with_authenticator(db, app.state.services.box, world, "acme-payer", clock)
    wrong = "111111" if code(clock) != "111111" else "222222"
    for _ in range(5):
        response = _sign_in(client, "acme-payer", otp=wrong)
        assert response.json()["error"] == "invalid_credentials"
    # Locked like five wrong passwords: even the right code waits now.
    locked = _sign_in(client, "acme-payer", otp=code(clock))
    assert locked.status_code == 429


def test_a_recovery_code_signs_in_once_and_is_no_strong_authentication(
    client, app, db, world, clock
):
    headers = bearer(app, world.users["acme-payer"], clock)
    client.post("/v1/me/totp", headers=headers)
    with db.unit_of_work() as session:
        row = session.get(TotpCredential, world.user_id("acme-payer"))
        secret = app.state.services.box.open(row.secret_encrypted)
    recovery = client.post(
        "/v1/me/totp/confirm", headers=headers, json={"code": totp.code_at(secret, clock.now())}
    ).json()["recovery_codes"]
    used = _sign_in(client, "acme-payer", recovery_code=recovery[0].upper())
    assert used.status_code == 200, used.text
    assert _claims(used)["amr"] == ["pwd", "rec"]
    again = _sign_in(client, "acme-payer", recovery_code=recovery[0])
    assert again.json()["error"] == "invalid_credentials"
    assert client.get("/v1/me/totp", headers=headers).json()["recovery_codes_left"] == 9


def test_removing_the_authenticator_needs_a_current_code(client, app, db, world, clock):
    with_authenticator(db, app.state.services.box, world, "acme-payer", clock)
    headers = bearer(app, world.users["acme-payer"], clock)
    wrong = "123456" if code(clock) != "123456" else "654321"
    refused = client.request("DELETE", "/v1/me/totp", headers=headers, json={"code": wrong})
    assert refused.status_code == 422 and refused.json()["error"] == "invalid_otp"
    assert client.get("/v1/me/totp", headers=headers).json()["totp"] is True
    removed = client.request("DELETE", "/v1/me/totp", headers=headers, json={"code": code(clock)})
    assert removed.status_code == 204, removed.text
    assert client.get("/v1/me/totp", headers=headers).json()["totp"] is False
    assert _sign_in(client, "acme-payer").status_code == 200
    gone = client.request("DELETE", "/v1/me/totp", headers=headers, json={"code": code(clock)})
    assert gone.status_code == 409 and gone.json()["error"] == "totp_not_enabled"


def test_the_bank_requires_a_second_factor_of_staff_and_corporate_admins(
    client: TestClient, app, db, world: World, clock
):
    with_bank_requiring_mfa(db, world)
    # A payer is not asked: their sign-in opens everything as before.
    payer = _sign_in(client, "acme-payer")
    assert "mfa_enrolment" not in _claims(payer)
    for username in ("acme-admin", "manager"):
        signed_in = _sign_in(client, username)
        assert signed_in.status_code == 200
        assert _claims(signed_in)["mfa_enrolment"] is True
        headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        refused = client.get("/v1/accounts", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"] == "mfa_enrolment_required"
        assert 'error="insufficient_user_authentication"' in refused.headers["WWW-Authenticate"]
        # ... but they may say who they are and set up their authenticator.
        assert client.get("/v1/me", headers=headers).status_code == 200
        assert client.get("/v1/me/totp", headers=headers).json()["required"] is True
        secret = client.post("/v1/me/totp", headers=headers).json()["secret"]
        confirmed = client.post(
            "/v1/me/totp/confirm",
            headers=headers,
            json={"code": totp.code_at(secret, clock.now())},
        )
        assert confirmed.status_code == 200
        # Signing in again with a code opens everything.
        clock.advance(seconds=30)
        full = _sign_in(client, username, otp=totp.code_at(secret, clock.now()))
        full_headers = {"Authorization": f"Bearer {full.json()['access_token']}"}
        assert client.get("/v1/accounts", headers=full_headers).status_code == 200
