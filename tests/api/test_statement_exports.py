"""Statement exports through the API: a period of days exported as CSV and as camt.053 equals
the statement's own pages to the cent (read back by independent parsers, the XML checked
against the official XSD), is a logged statement.read decision, refuses bad periods and
formats with their own codes, and shows another company's account to nobody."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.models.payments import Beneficiary
from tests.factories import bearer, new_key
from tests.payments_world import build_payments_world
from tests.statement_files import assert_valid_camt053, minor, read_camt053, read_csv

# The test clock's day (conftest.DEFAULT_NOW, a Wednesday) and the next two, in Berlin.
DAY_1, DAY_2, DAY_3 = "2026-11-25", "2026-11-26", "2026-11-27"


def _headers(app, world, clock, username: str = "acme-bookkeeper") -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(app, world.users[username], clock)


def _send(client, app, world, clock, amount: int, description: str, to: str = "acme-payroll"):  # type: ignore[no-untyped-def]
    answer = client.post(
        "/v1/transfers",
        json={
            "from_account_id": world.account_id("acme-operating"),
            "to_account_id": world.account_id(to),
            "amount": amount,
            "currency": "EUR",
            "description": description,
        },
        headers={**_headers(app, world, clock, "acme-payer"), "Idempotency-Key": new_key()},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def _pay(client, app, pw, clock, beneficiary: str, amount: int, reference: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    answer = client.post(
        "/v1/payments",
        json={
            "account_id": pw.world.account_id("acme-operating"),
            "beneficiary_id": pw.beneficiary_id(beneficiary),
            "amount": amount,
            "currency": "EUR",
            "reference": reference,
        },
        headers={**_headers(app, pw.world, clock, "acme-payer"), "Idempotency-Key": new_key()},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def _statement(client, headers, account_id: int) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Every entry of the statement, oldest first, through its pages."""
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/v1/accounts/{account_id}/entries", params=params, headers=headers)
        assert page.status_code == 200, page.text
        entries += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return entries[::-1]


def _export(client, headers, account_id: int, first: str, last: str, format: str):  # type: ignore[no-untyped-def]
    return client.get(
        f"/v1/accounts/{account_id}/statements",
        params={"from": first, "to": last, "format": format},
        headers=headers,
    )


def _activity(client, app, pw, clock) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Three days of acme-operating: the opening deposit (before day 2), then on day 2 two
    transfers to payroll (one described like a spreadsheet formula) and a payment to a
    beneficiary inside the bank (another company's account: acme's own record names it),
    on day 3 one more transfer. Returns the statement's entries of day 2."""
    world = pw.world
    clock.advance(days=1)
    _send(client, app, world, clock, 125_50, '=HYPERLINK("http://evil")')
    _pay(client, app, pw, clock, "globex", 99_99, "Invoice 2026-17 <&>")
    clock.advance(hours=3)
    _send(client, app, world, clock, 1_00, "Petty cash")
    clock.advance(days=1)
    _send(client, app, world, clock, 7_00, "Next day")
    account_id = world.account_id("acme-operating")
    entries = _statement(client, _headers(app, world, clock), account_id)
    return [e for e in entries if e["created_at"].startswith(DAY_2)]


def test_exports_equal_the_statement_pages(client, app, db, world, clock):  # type: ignore[no-untyped-def]
    pw = build_payments_world(db, app.state.services.passwords, world, clock)
    day_2 = _activity(client, app, pw, clock)
    assert len(day_2) == 3
    headers = _headers(app, world, clock)
    account_id = world.account_id("acme-operating")

    camt = _export(client, headers, account_id, DAY_2, DAY_2, "camt053")
    assert camt.status_code == 200, camt.text
    assert camt.headers["content-type"] == "application/xml"
    assert "attachment" in camt.headers["content-disposition"]
    read = read_camt053(camt.content)
    assert read["iban"] == world.accounts["acme-operating"].iban
    assert read["opening"] == day_2[0]["balance_after"] - day_2[0]["amount"]
    assert read["closing"] == day_2[-1]["balance_after"]
    assert [(e["transfer_id"], e["amount"], e["currency"]) for e in read["entries"]] == [
        (e["transfer_id"], e["amount"], e["currency"]) for e in day_2
    ]
    assert {e["booking_date"] for e in read["entries"]} == {DAY_2}
    payment = read["entries"][1]
    # The payee as acme's own beneficiary record names it, the reference escaped and back.
    assert payment["counterparty_name"] == "Globex"
    assert payment["reference"] == "Invoice 2026-17 <&>"
    assert read["entries"][0]["counterparty_name"] == world.accounts["acme-payroll"].name

    rows = read_csv(_export(client, headers, account_id, DAY_2, DAY_2, "csv").content)
    assert [
        (int(r["transfer_id"]), minor(r["amount"]), minor(r["balance_after"])) for r in rows
    ] == [(e["transfer_id"], e["amount"], e["balance_after"]) for e in day_2]
    assert rows[0]["reference"] == '\'=HYPERLINK("http://evil")'
    assert rows[1]["payment_id"] and rows[0]["payment_id"] == ""
    assert rows[1]["counterparty_iban"] == world.accounts["globex-main"].iban
    assert {r["booking_date"] for r in rows} == {r["value_date"] for r in rows} == {DAY_2}


def test_a_period_without_entries_carries_the_balance(client, app, db, world, clock):  # type: ignore[no-untyped-def]
    pw = build_payments_world(db, app.state.services.passwords, world, clock)
    day_2 = _activity(client, app, pw, clock)
    headers = _headers(app, world, clock)
    account_id = world.account_id("acme-operating")
    later = _export(client, headers, account_id, "2026-12-01", "2026-12-31", "camt053")
    read = read_camt053(later.content)
    closing_day_3 = day_2[-1]["balance_after"] - 7_00
    assert read["entries"] == [] and read["opening"] == read["closing"] == closing_day_3
    before = _export(client, headers, account_id, "2025-12-01", "2025-12-31", "camt053")
    assert read_camt053(before.content)["closing"] == 0
    # The whole span: every entry of the statement, from a zero opening balance.
    whole = read_camt053(_export(client, headers, account_id, DAY_1, DAY_3, "camt053").content)
    statement = _statement(client, headers, account_id)
    assert [e["amount"] for e in whole["entries"]] == [e["amount"] for e in statement]
    assert whole["opening"] == 0 and whole["closing"] == statement[-1]["balance_after"]


def test_the_export_is_a_logged_statement_read(client, app, world, clock):  # type: ignore[no-untyped-def]
    account_id = world.account_id("acme-operating")
    answer = _export(client, _headers(app, world, clock), account_id, DAY_1, DAY_1, "csv")
    assert answer.status_code == 200
    compliance = _headers(app, world, clock, "compliance")
    log = client.get("/v1/decisions", params={"action": "statement.read"}, headers=compliance)
    [decision] = log.json()["items"]
    assert decision["decision"] == "allow"
    assert decision["actor_id"] == world.user_id("acme-bookkeeper")
    assert decision["account_id"] == account_id


def test_bad_periods_and_formats_are_refused_with_their_codes(client, app, world, clock):  # type: ignore[no-untyped-def]
    headers = _headers(app, world, clock)
    account_id = world.account_id("acme-operating")
    cases = {
        ("2026-11-02", "2026-11-01", "csv"): "invalid_period",
        ("2025-11-01", "2026-11-02", "csv"): "period_too_long",
        ("2026-11-01", "2026-11-30", "mt940"): "unknown_statement_format",
        ("2026-11-01T00:00:00", "2026-11-30", "csv"): "invalid_request",
    }
    for (first, last, format), code in cases.items():
        answer = _export(client, headers, account_id, first, last, format)
        assert answer.status_code == 422, (first, last, format, answer.text)
        assert answer.json()["error"] == code
    # A year, leap day and all, is one export.
    assert (
        _export(client, headers, account_id, "2027-11-25", "2028-11-24", "csv").status_code == 200
    )
    missing = client.get(f"/v1/accounts/{account_id}/statements", headers=headers)
    assert missing.status_code == 422


def test_another_companys_account_is_not_found(client, app, world, clock):  # type: ignore[no-untyped-def]
    other = _headers(app, world, clock, "globex-admin")
    account_id = world.account_id("acme-operating")
    for format in ("csv", "camt053"):
        answer = _export(client, other, account_id, DAY_1, DAY_1, format)
        assert answer.status_code == 404
        assert answer.json()["error"] == "not_found"


def test_a_clearing_account_export_is_valid_for_bank_staff(client, app, world, clock):  # type: ignore[no-untyped-def]
    manager = _headers(app, world, clock, "manager")
    clearing = world.clearing["EUR"].id
    answer = _export(client, manager, clearing, "2026-11-01", DAY_1, "camt053")
    assert answer.status_code == 200, answer.text
    assert_valid_camt053(answer.content)


def test_a_payment_from_another_company_names_nobody(client, app, db, world, clock):  # type: ignore[no-untyped-def]
    """Globex pays acme: acme's file shows the money and the payment's reference, but neither
    Globex's name nor its account's (acme keeps no record of it), nor what Globex calls acme,
    nor Globex's payment id."""
    month_ago = clock.now() - dt.timedelta(days=30)
    operating = world.accounts["acme-operating"]
    with db.unit_of_work() as session:
        payee = Beneficiary(
            bank_id=world.bank.id,  # type: ignore[arg-type]
            tenant_id=world.tenants["globex"].id,  # type: ignore[arg-type]
            name="Globex calls Acme this",
            iban=operating.iban or "",
            internal_account_id=operating.id,
            created_by_id=world.user_id("globex-admin"),
            created_at=month_ago,
            updated_at=month_ago,
        )
        session.add(payee)
        session.flush()
        payee_id = payee.id
    paid = client.post(
        "/v1/payments",
        json={
            "account_id": world.account_id("globex-main"),
            "beneficiary_id": payee_id,
            "amount": 12_34,
            "currency": "EUR",
            "reference": "Order 77",
        },
        headers={**_headers(app, world, clock, "globex-payer"), "Idempotency-Key": new_key()},
    )
    assert paid.status_code == 201, paid.text
    headers = _headers(app, world, clock)
    account_id = world.account_id("acme-operating")
    camt = _export(client, headers, account_id, DAY_1, DAY_1, "camt053")
    incoming = [e for e in read_camt053(camt.content)["entries"] if e["amount"] == 12_34]
    assert len(incoming) == 1 and incoming[0]["counterparty_name"] is None
    as_csv = _export(client, headers, account_id, DAY_1, DAY_1, "csv")
    [row] = [r for r in read_csv(as_csv.content) if r["amount"] == "12.34"]
    assert row["counterparty_name"] == row["counterparty_iban"] == row["payment_id"] == ""
    for document in (camt.content, as_csv.content):
        for secret in ("Globex", world.accounts["globex-main"].name, "Globex calls Acme this"):
            assert secret.encode() not in document
