"""Every console field that takes an amount answers hostile text with a field error, fast:
`9e999997` in the transfer form cost 29 s of CPU, `1e1000000` was a 500."""

from __future__ import annotations

import re

import pytest

from admin.views import decimal_text
from tests.admin.console import form_token, sign_in

HOSTILE = ["9e999997", "1e1000000", "1e-1000000", "1" * 10_000, "NaN", "Infinity", "-0"]
IDEMPOTENCY_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
FIELD_ERRORS = (
    "Enter an amount like 1,250.00.",
    "Enter an amount greater than zero.",
    "Enter an amount of at most",
    "decimal places.",
)


def _is_field_error(answer) -> bool:  # type: ignore[no-untyped-def]
    return answer.status_code == 422 and any(
        message.replace("'", "&#39;") in answer.text for message in FIELD_ERRORS
    )


def _key(client, path: str) -> str:  # type: ignore[no-untyped-def]
    found = IDEMPOTENCY_KEY.search(client.get(path).text)
    assert found, path
    return found.group(1)


@pytest.mark.parametrize("typed", HOSTILE, ids=lambda t: t[:12])
def test_transfer_form(client, world, typed):
    token = sign_in(client, "acme-payer")
    answer = client.post(
        "/console/transfers",
        data={
            "csrf_token": token,
            "idempotency_key": _key(client, "/console/transfers/new"),
            "from_account_id": world.account_id("acme-operating"),
            "to_account_id": world.account_id("acme-payroll"),
            "amount": typed,
        },
    )
    assert _is_field_error(answer), answer.text[:300]


@pytest.mark.parametrize("typed", HOSTILE, ids=lambda t: t[:12])
def test_deposit_and_withdrawal_forms(client, world, typed):
    token = sign_in(client, "manager")
    payroll = world.account_id("acme-payroll")
    for kind in ("deposits", "withdrawals"):
        answer = client.post(
            f"/console/accounts/{payroll}/{kind}",
            data={
                "csrf_token": token,
                "idempotency_key": _key(client, f"/console/accounts/{payroll}"),
                "amount": typed,
                "description": "hostile",
            },
        )
        assert _is_field_error(answer), (kind, answer.text[:300])


@pytest.mark.parametrize("typed", HOSTILE, ids=lambda t: t[:12])
def test_try_it_box(client, world, typed):
    sign_in(client, "acme-admin")
    answer = client.get(
        f"/console/users/{world.user_id('acme-payer')}",
        params={
            "action": "transfer.create",
            "account": world.account_id("acme-operating"),
            "amount": typed,
        },
    )
    if len(typed) > 100:
        # The box's query fields have a length of their own: a URL the console never makes.
        assert answer.status_code == 404
        return
    assert answer.status_code in (200, 422), answer.text[:300]
    assert any(m in answer.text for m in FIELD_ERRORS), answer.text[:300]


@pytest.mark.parametrize("typed", HOSTILE, ids=lambda t: t[:12])
def test_limit_fields_of_grants_roles_and_caps(client, world, typed):
    token = sign_in(client, "acme-admin")
    roles = client.get("/console/roles").text
    payer_role = re.search(r'href="/console/roles/(\d+)">Payer<', roles)
    assert payer_role
    grant = client.post(
        "/console/grants",
        data={
            "csrf_token": token,
            "user_id": str(world.user_id("acme-payer")),
            "role_id": payer_role.group(1),
            "scope": "all",
            "limit_currency": "EUR",
            "daily": typed,
        },
    )
    assert _is_field_error(grant), grant.text[:300]
    role = client.post(
        "/console/roles",
        data={
            "csrf_token": token,
            "name": "Hostile",
            "permissions": ["account.read"],
            "limit_currency": "EUR",
            "per_transfer": typed,
        },
    )
    assert _is_field_error(role), role.text[:300]
    token = sign_in(client, "manager")
    acme = world.tenants["acme"].id
    cap = client.post(
        f"/console/tenants/{acme}/caps",
        data={"csrf_token": token, "currency": "EUR", "monthly": typed},
    )
    assert _is_field_error(cap), cap.text[:300]
    opened = client.post(
        f"/console/tenants/{acme}/accounts",
        data={
            "csrf_token": form_token(client),
            "name": "Hostile",
            "currency": "EUR",
            "overdraft": typed,
        },
    )
    assert opened.status_code == 422, opened.text[:300]


@pytest.mark.parametrize(
    ("minor", "currency", "grouped", "text"),
    [
        (123450, "EUR", False, "1234.50"),
        (-123450, "EUR", False, "-1234.50"),  # regression: read -1235.50
        (-5, "EUR", False, "-0.05"),
        (-1_234_567_89, "EUR", True, "-1,234,567.89"),
        (-1500, "JPY", False, "-1500"),
        (-1234, "KWD", False, "-1.234"),
        (0, "EUR", False, "0.00"),
    ],
)
def test_decimal_text_keeps_the_sign_outside_the_digits(minor, currency, grouped, text):
    assert decimal_text(minor, currency, grouped=grouped) == text
