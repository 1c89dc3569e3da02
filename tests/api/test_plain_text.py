"""Text a person types is plain text: control characters, line breaks and bidirectional
controls are 422 invalid_text naming the field, and text of nothing visible (white space,
zero-width characters) is blank. One field type (core.fields.PLAIN_TEXT) for the API and the
console; the OpenAPI document says so on every such field."""

from __future__ import annotations

from typing import Any

import pytest

from core.fields import PLAIN_TEXT_PATTERN
from tests.admin.console import sign_in
from tests.api.test_fuzz import openapi_document
from tests.factories import bearer, new_key
from tests.ledger_checks import snapshot
from tests.payments_world import with_pending_payment

# What an outsider sent, each accepted and stored before.
REFUSED = {
    "line feed": "Invoice\n42",
    "crlf": "Invoice 42\r\nApproved: yes",
    "escape sequence": "\u001b[31mInvoice 42",
    "tab": "Invoice\t42",
    "c1 next line": "Invoice\u008542",
    "line separator": "Invoice\u202842",
    "right-to-left override": "Invoice \u202e24",
    "left-to-right embedding": "\u202aInvoice",
    "isolates": "\u2066Invoice\u2069",
    "right-to-left mark": "Invoice\u200f",
    "left-to-right mark": "\u200eInvoice",
    "arabic letter mark": "Invoice\u061c",
}
ZERO_WIDTH_ONLY = ["\u200b", " \u200b\u200d ", "\ufeff", "\u2060\u00ad"]


@pytest.fixture
def pending(app, db, world, clock) -> int:  # type: ignore[no-untyped-def]
    with_pending_payment(db, app.state.services.passwords, world, clock)
    return world.payment_ids["acme"]


def _requests(world, pending: int, text: str) -> list[tuple[str, str, str, dict[str, Any], str]]:  # type: ignore[no-untyped-def]
    """(who, method, path, body, field) for every text field a person types."""
    operating = world.account_id("acme-operating")
    beneficiary = world.beneficiary_id("acme-supplier")
    payment = {
        "account_id": operating,
        "beneficiary_id": beneficiary,
        "amount": 100,
        "currency": "EUR",
    }
    iban = "FR14 2004 1010 0505 0001 3M02 606"
    return [
        ("acme-payer", "POST", "/v1/payments", {**payment, "reference": text}, "reference"),
        ("acme-payer", "POST", "/v1/payment-previews", {**payment, "reference": text}, "reference"),
        ("acme-admin", "POST", "/v1/beneficiaries", {"name": text, "iban": iban}, "name"),
        (
            "acme-admin",
            "POST",
            "/v1/beneficiaries",
            {"name": "Fournisseur", "iban": iban, "reference_template": text},
            "reference_template",
        ),
        ("acme-admin", "PATCH", f"/v1/beneficiaries/{beneficiary}", {"name": text}, "name"),
        ("acme-approver-a", "POST", f"/v1/payments/{pending}/reject", {"reason": text}, "reason"),
        ("acme-payer", "POST", f"/v1/payments/{pending}/cancel", {"reason": text}, "reason"),
        (
            "acme-admin",
            "POST",
            "/v1/users",
            {"username": "new-person", "display_name": text, "password": "x" * 16},
            "display_name",
        ),
        (
            "acme-admin",
            "PATCH",
            f"/v1/users/{world.user_id('acme-payer')}",
            {"display_name": text},
            "display_name",
        ),
        (
            "acme-admin",
            "POST",
            "/v1/roles",
            {"name": text, "permissions": ["account.read"]},
            "name",
        ),
        (
            "acme-admin",
            "POST",
            "/v1/roles",
            {"name": "Clerk", "description": text, "permissions": ["account.read"]},
            "description",
        ),
        ("manager", "POST", "/v1/tenants", {"name": text}, "name"),
        (
            "manager",
            "POST",
            "/v1/accounts",
            {"tenant_id": world.tenants["acme"].id, "name": text, "currency": "EUR"},
            "name",
        ),
        ("manager", "PATCH", f"/v1/accounts/{operating}", {"name": text}, "name"),
        (
            "acme-payer",
            "POST",
            "/v1/transfers",
            {
                "from_account_id": operating,
                "to_account_id": world.account_id("acme-payroll"),
                "amount": 100,
                "currency": "EUR",
                "description": text,
            },
            "description",
        ),
    ]


def _send(client, app, world, clock, who: str, method: str, path: str, body: dict[str, Any]):  # type: ignore[no-untyped-def]
    headers = {**bearer(app, world.users[who], clock), "Idempotency-Key": new_key()}
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("text", list(REFUSED.values()), ids=list(REFUSED))
def test_control_and_bidi_characters_are_422_invalid_text_naming_the_field(
    client, app, db, world, clock, pending, text
):
    with db.unit_of_work(write=False) as session:
        before = snapshot(session)
    for who, method, path, body, field in _requests(world, pending, text):
        response = _send(client, app, world, clock, who, method, path, body)
        assert response.status_code == 422, (method, path, field, response.text)
        assert response.json()["error"] == "invalid_text", (method, path, response.text)
        assert response.json()["detail"].startswith(f"{field}: "), response.json()
    with db.unit_of_work(write=False) as session:
        assert snapshot(session) == before


@pytest.mark.parametrize("blank", ZERO_WIDTH_ONLY, ids=["zwsp", "spaced zwj", "bom", "wj shy"])
def test_a_reason_of_zero_width_characters_only_is_no_reason(
    client, app, world, clock, pending, blank
):
    approver = bearer(app, world.users["acme-approver-a"], clock)
    response = client.post(
        f"/v1/payments/{pending}/reject", json={"reason": blank}, headers=approver
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "reason_required"
    assert client.get(f"/v1/payments/{pending}", headers=approver).json()["status"] == (
        "pending_approval"
    )


@pytest.mark.parametrize("blank", ZERO_WIDTH_ONLY, ids=["zwsp", "spaced zwj", "bom", "wj shy"])
def test_a_name_of_zero_width_characters_only_is_missing(client, app, world, clock, blank):
    admin = bearer(app, world.users["acme-admin"], clock)
    beneficiary = world.beneficiary_id("acme-supplier")
    for method, path, body in (
        ("POST", "/v1/beneficiaries", {"name": blank, "iban": "NL91ABNA0417164300"}),
        ("PATCH", f"/v1/beneficiaries/{beneficiary}", {"name": blank}),
        ("POST", "/v1/roles", {"name": blank, "permissions": ["account.read"]}),
        ("PATCH", f"/v1/users/{world.user_id('acme-payer')}", {"display_name": blank}),
    ):
        response = client.request(method, path, json=body, headers=admin)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"] == "invalid_request", (path, response.text)
        assert "at least 1 character" in response.json()["detail"], response.json()
    name = client.get(f"/v1/beneficiaries/{beneficiary}", headers=admin).json()["name"]
    assert name == "Lieferant GmbH"


def test_text_of_any_script_stays_as_typed(client, app, world, clock):
    # Format characters inside words (a zero-width joiner in an emoji, a soft hyphen) are text.
    admin = bearer(app, world.users["acme-admin"], clock)
    for name in ("Müller & Söhne GmbH", "شركة الرياض", "Team 👩\u200d💼", "Donau\u00addampf"):
        made = client.post(
            "/v1/roles", json={"name": name, "permissions": ["account.read"]}, headers=admin
        )
        assert made.status_code == 201, (name, made.text)
        assert made.json()["name"] == name


def test_the_console_refuses_the_same_text_beside_its_field(client, world):
    token = sign_in(client, "acme-admin")
    typed = {
        "csrf_token": token,
        "name": "Fournisseur \u202eAS",
        "iban": "FR14 2004 1010 0505 0001 3M02 606",
        "bic": "",
        "reference_template": "",
    }
    page = client.post("/console/beneficiaries", data=typed)
    assert page.status_code == 422, page.text
    assert "bidirectional formatting characters" in page.text
    assert "Fournisseur SA" not in client.get("/console/beneficiaries").text


# Text fields with a shape of their own (checked by their own validator, not free text).
OWN_SHAPE = {"password", "timezone", "time_zone", "start", "end"}


def _strings(
    schema: dict[str, Any], components: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """(name, schema) of every string property reachable from `schema`."""
    found: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()

    def walk(node: Any, name: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, name)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str):
            key = ref.rsplit("/", 1)[-1]
            if key not in seen:
                seen.add(key)
                walk(components[key], name)
            return
        if node.get("type") == "string":
            found.append((name, node))
        for key, value in node.get("properties", {}).items():
            walk(value, key)
        for key in ("anyOf", "oneOf", "allOf", "items"):
            walk(node.get(key), name)

    walk(schema, "body")
    return found


def test_every_text_field_of_a_json_body_documents_plain_text():
    """Enforces the convention: a new free-text field without PLAIN_TEXT fails here."""
    document = openapi_document()
    components = document["components"]["schemas"]
    loose = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            for name, schema in _strings(body["schema"], components):
                if "enum" in schema or "format" in schema or name in OWN_SHAPE:
                    continue
                if "pattern" not in schema:
                    loose.append(f"{method} {path}: {name}")
            assert "invalid_text" in operation["responses"]["422"]["x-error-codes"], path
    assert not loose, loose
    reference = components["PaymentCreate"]["properties"]["reference"]
    assert reference["pattern"] == PLAIN_TEXT_PATTERN
