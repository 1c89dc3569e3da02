"""Two-factor sign-in in the console: setting up an authenticator (QR code, a code to confirm,
recovery codes once), signing in with its code, the bank requiring it of admins (a session
for enrolment only opens nothing else), and the step-up prompt: an approval that needs a
recent code asks for it, and then carries out the same form."""

from __future__ import annotations

import re

import pytest

from core.iam import totp
from core.models.payments import Payment
from tests.admin.console import attempt_sign_in, form_token, sign_in
from tests.factories import PASSWORD
from tests.payments_world import PaymentsWorld, with_pending_payment
from tests.second_factor_world import (
    code,
    with_authenticator,
    with_bank_requiring_mfa,
    with_step_up,
)

SECRET = re.compile(r'<code class="secret">([A-Z2-7]+)</code>')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
IDEMPOTENCY_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    return with_pending_payment(db, app.state.services.passwords, world, clock)


def test_setting_up_an_authenticator_in_the_console(client, world, clock):
    token = sign_in(client, "acme-payer")
    page = client.get("/console/two-factor")
    assert "Set up an authenticator app" in page.text
    started = client.post("/console/two-factor/start", data={"csrf_token": token})
    assert started.status_code == 200, started.text
    assert "<svg" in started.text
    secret = SECRET.search(started.text)
    assert secret, "the secret is shown to type in"
    wrong = client.post("/console/two-factor/confirm", data={"csrf_token": token, "code": "12345"})
    assert wrong.status_code == 422 and "not right" in wrong.text
    confirmed = client.post(
        "/console/two-factor/confirm",
        data={"csrf_token": token, "code": totp.code_at(secret.group(1), clock.now())},
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = re.findall(r"<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>", confirmed.text)
    assert len(codes) == 10
    # The secret is never shown again.
    assert secret.group(1) not in client.get("/console/two-factor").text

    # Signing in now needs the code: without it the form says so.
    refused = attempt_sign_in(client, "acme-payer", PASSWORD)
    assert refused.status_code == 401 and "authenticator" in refused.text  # type: ignore[attr-defined]
    clock.advance(seconds=30)
    sign_in(client, "acme-payer", code=totp.code_at(secret.group(1), clock.now()))
    # A recovery code works once, instead of the code.
    sign_in(client, "acme-payer", code=codes[0])


def test_a_session_for_enrolment_only_opens_nothing_else(client, app, db, world, clock):
    with_bank_requiring_mfa(db, world)
    token = sign_in(client, "acme-admin")
    accounts = client.get("/console/users", follow_redirects=False)
    assert accounts.status_code == 303
    assert accounts.headers["location"] == "/console/two-factor"
    page = client.get("/console/two-factor")
    assert "requires two-factor sign-in of you" in page.text
    started = client.post("/console/two-factor/start", data={"csrf_token": token})
    secret = SECRET.search(started.text)
    assert secret
    client.post(
        "/console/two-factor/confirm",
        data={"csrf_token": token, "code": totp.code_at(secret.group(1), clock.now())},
    )
    # Set up: the same session opens the console now.
    assert client.get("/console/users").status_code == 200


def test_an_approval_asks_for_the_code_and_then_carries_out_the_form(
    client, app, db, pw, world, clock
):
    with_step_up(db, world, minutes=5)
    with_authenticator(db, app.state.services.box, world, "acme-approver-a", clock)
    # Signed in this morning with a code: long enough ago to need a fresh one.
    token = sign_in(client, "acme-approver-a", code=code(clock))
    clock.advance(minutes=10)
    payment_id = world.payment_ids["acme"]
    page = client.get(f"/console/payments/{payment_id}")
    key = IDEMPOTENCY_KEY.search(page.text)
    assert key and "Approve" in page.text
    form = {"csrf_token": token, "idempotency_key": key.group(1)}
    asked = client.post(f"/console/payments/{payment_id}/approve", data=form)
    assert asked.status_code == 401, asked.text
    assert "Confirm with your authenticator" in asked.text
    assert "within the last 5 minutes" in asked.text
    # The prompt carries the form as it was sent, to send it again with the code.
    assert dict(HIDDEN.findall(asked.text)) == form
    assert f'action="/console/payments/{payment_id}/approve"' in asked.text
    with db.unit_of_work(write=False) as session:
        assert session.get(Payment, payment_id).status == "pending_approval"  # type: ignore[union-attr]

    wrong = client.post(
        f"/console/payments/{payment_id}/approve",
        data={**form, "step_up_code": "000000" if code(clock) != "000000" else "111111"},
    )
    assert wrong.status_code == 401 and "not right" in wrong.text
    done = client.post(
        f"/console/payments/{payment_id}/approve",
        data={**form, "step_up_code": code(clock)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert "approved-sent" in done.headers["location"]
    with db.unit_of_work(write=False) as session:
        assert session.get(Payment, payment_id).status == "sent"  # type: ignore[union-attr]
    # Stepped up, the session needs no code for the next five minutes.
    assert form_token(client, f"/console/payments/{payment_id}")


def test_removing_the_authenticator_takes_a_code(client, app, db, world, clock):
    with_authenticator(db, app.state.services.box, world, "acme-payer", clock)
    token = sign_in(client, "acme-payer", code=code(clock))
    assert "Remove the authenticator" in client.get("/console/two-factor").text
    clock.advance(seconds=30)
    removed = client.post(
        "/console/two-factor/remove",
        data={"csrf_token": token, "step_up_code": code(clock)},
        follow_redirects=False,
    )
    assert removed.status_code == 303, removed.text
    assert "Set up an authenticator app" in client.get("/console/two-factor").text


def test_the_bank_sets_step_up_on_the_customer_page(client, world):
    token = sign_in(client, "manager")
    acme = world.tenants["acme"].id
    assert "No step-up." in client.get(f"/console/tenants/{acme}").text

    def save(amount: str):  # type: ignore[no-untyped-def]
        return client.post(
            f"/console/tenants/{acme}/settings",
            data={
                "csrf_token": token,
                "new_beneficiary_hours": "24",
                "payment_expiry_days": "7",
                "step_up_minutes": "5",
                "step_up_amount": amount,
                "step_up_currency": "EUR",
            },
        )

    saved = save("10,000.00")
    assert saved.status_code == 200, saved.text
    assert "within 5 minutes, and so do transfers and payments above 10,000.00 EUR" in saved.text
    bad = save("lots")
    assert bad.status_code == 422 and "Enter an amount" in bad.text
