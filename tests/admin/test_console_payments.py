"""Payments in the console: the form checks before it sends, a payment waits for the approvals
its panel asks and shows its trail, buttons follow the policy (and a forged form is refused all
the same), the approvals inbox and its count, and the approval rules editor."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from admin.workspace import workspace
from core.uow import UnitOfWork
from tests.admin.console import form_token, sign_in
from tests.factories import staff_context, unit_of_work
from tests.payments_world import PaymentsWorld, add_approver, build_payments_world

IDEMPOTENCY_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
COUNT = re.compile(r'<span class="count"[^>]*>.*?(\d+).*?</span></span>', re.S)


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    return build_payments_world(db, app.state.services.passwords, world, clock)


def _field(page: str, field_id: str) -> str:
    """The markup of the form field holding the input or select `field_id`."""
    start = page.rindex('<div class="field', 0, page.index(f'id="{field_id}"'))
    depth, at = 0, start
    for match in re.finditer(r"<(/?)div\b", page[start:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            at = start + match.end()
            break
    return page[start:at]


def _nav(page: str) -> str:
    return page[page.index('aria-label="Sections"') : page.index("</nav>")]


def _form(client, pw: PaymentsWorld, payee: str, amount: str, **extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    page = client.get("/console/payments/new").text
    key = IDEMPOTENCY_KEY.search(page)
    assert key, "the payment form carries no idempotency key"
    return {
        "account_id": str(pw.world.account_id("acme-operating")),
        "beneficiary_id": str(pw.beneficiary_id(payee)),
        "amount": amount,
        "reference": "Invoice 42",
        "idempotency_key": key.group(1),
        **extra,
    }


def _send(client, data: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post(
        "/console/payments",
        data={**data, "csrf_token": form_token(client)},
        follow_redirects=False,
    )


def _payment_id(answer) -> int:  # type: ignore[no-untyped-def]
    assert answer.status_code == 303, answer.text
    found = re.search(r"/console/payments/(\d+)\?done=", answer.headers["location"])
    assert found, answer.headers["location"]
    return int(found.group(1))


def _approve(client, payment_id: int, **extra: str):  # type: ignore[no-untyped-def]
    page = client.get(f"/console/payments/{payment_id}").text
    key = IDEMPOTENCY_KEY.search(page)
    return client.post(
        f"/console/payments/{payment_id}/approve",
        data={
            "csrf_token": form_token(client),
            "idempotency_key": key.group(1) if key else "forged-key",
            **extra,
        },
        follow_redirects=False,
    )


def test_the_check_says_before_sending_what_the_payment_needs_and_from_whom(client, pw):
    sign_in(client, "acme-payer")
    data = _form(client, pw, "globex", "150,000.00")
    checked = client.get("/console/payments/new", params={**data, "check": "1"})
    assert checked.status_code == 200
    said = checked.text[checked.text.index('id="payment-check"') :]
    said = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", said[: said.index("</div>")]))
    assert "Needs 2 more approvals, 1 of them from group A" in said
    assert "can approve: Acme Approver A (group A), Acme Approver B (group B)" in said
    # The check keeps the form's key (and what was typed): Send still makes one payment.
    assert f'value="{data["idempotency_key"]}"' in checked.text
    assert 'value="150,000.00"' in checked.text
    assert "Send for approval" in checked.text

    small = client.get(
        "/console/payments/new", params={**_form(client, pw, "supplier", "50.00"), "check": "1"}
    )
    assert "Sent at once" in small.text and "Send payment" in small.text
    # A check sends nothing, holds nothing, and records no activity.
    assert "Payment" not in client.get("/console/activity").text.split("<tbody>")[1]
    account = client.get(f"/console/accounts/{pw.world.account_id('acme-operating')}").text
    assert 'id="held"' not in account


def test_form_mistakes_and_refusals_stand_beside_their_fields(client, pw):
    sign_in(client, "acme-payer")
    base = _form(client, pw, "globex", "10.00")
    for typed, message in (
        ("12.345", "EUR has 2 decimal places."),
        ("nothing", "Enter an amount like 1,250.00."),
        ("0", "Enter an amount greater than zero."),
    ):
        checked = client.get(
            "/console/payments/new", params={**base, "amount": typed, "check": "1"}
        )
        assert message in _field(checked.text, "f-amount"), typed
        sent = _send(client, {**base, "amount": typed})
        assert sent.status_code == 422
        assert message in _field(sent.text, "f-amount"), typed
        assert f'value="{base["idempotency_key"]}"' in sent.text
    no_payee = _send(client, {**base, "beneficiary_id": ""})
    assert "Choose who to pay." in _field(no_payee.text, "beneficiary")
    # More than the account has: the service's refusal, beside the amount.
    too_much = _send(client, {**base, "amount": "2,000,000.00"})
    assert too_much.status_code == 422
    assert "this payment needs 2,000,000.00 EUR" in _field(too_much.text, "f-amount")
    # A USD account paying a beneficiary whose account (another company's) is in EUR: beside
    # the beneficiary, without describing that account.
    usd = _send(client, {**base, "account_id": str(pw.world.account_id("acme-usd"))})
    assert usd.status_code == 409
    assert "cannot receive this payment" in _field(usd.text, "beneficiary")
    # Send needs the form's anti-forgery token (Check is a question and needs none).
    forged = client.post("/console/payments", data=base, follow_redirects=False)
    assert forged.status_code == 403
    assert "No payments yet" in client.get("/console/payments").text


def test_a_large_payment_waits_for_a_and_b_and_the_buttons_follow_the_policy(client, pw):
    operating = pw.world.account_id("acme-operating")
    sign_in(client, "acme-payer")
    assert "Approvals" not in _nav(client.get("/console/payments").text)
    data = _form(client, pw, "globex", "150,000.00")
    sent = _send(client, data)
    payment_id = _payment_id(sent)
    assert sent.headers["location"].endswith("done=payment-pending")
    # The same form again (a double click): the same payment, made once.
    again = _send(client, data)
    assert _payment_id(again) == payment_id and again.headers["location"].endswith("replayed")

    page = client.get(f"/console/payments/{payment_id}").text
    assert "Awaiting approval" in page
    assert "needs 2 more approvals, 1 of them from group A" in page
    # Who prepared it may cancel it, never approve or reject it.
    assert 'id="approve"' not in page and 'id="reject"' not in page
    assert 'id="cancel"' in page
    account = client.get(f"/console/accounts/{operating}").text
    assert "150,000.00 EUR" in account[account.index('id="held"') :]
    assert "held for payments awaiting approval" in account
    accounts = client.get("/console/accounts").text
    assert "850,000.00 EUR" in accounts and "150,000.00 EUR held" in accounts

    # A forged Approve by the payer: refused by the service, the payment unchanged.
    forged = _approve(client, payment_id)
    assert forged.status_code == 403
    assert "Your roles do not let you approve payments" in forged.text
    assert "needs 2 more approvals" in client.get(f"/console/payments/{payment_id}").text

    sign_in(client, "acme-approver-b")
    inbox = client.get("/console/approvals").text
    assert COUNT.findall(_nav(inbox)) == ["1"]
    assert "Leave 1 more approval from group A to go" in inbox
    page = client.get(f"/console/payments/{payment_id}").text
    assert 'id="approve"' in page and 'id="reject"' in page and 'id="cancel"' not in page
    first = _approve(client, payment_id)
    assert first.status_code == 303
    assert first.headers["location"].endswith(f"/payments/{payment_id}?done=approved")
    page = client.get(first.headers["location"]).text
    assert "needs 1 more approval from group A" in page
    assert 'id="approve"' not in page  # approved once already
    assert COUNT.findall(_nav(page)) == []

    sign_in(client, "acme-approver-a")
    inbox = client.get("/console/approvals").text
    assert COUNT.findall(_nav(inbox)) == ["1"] and "Post it" in inbox
    last = client.post(
        f"/console/payments/{payment_id}/approve",
        data={
            "csrf_token": form_token(client),
            "idempotency_key": IDEMPOTENCY_KEY.findall(inbox)[0],
            "back": "inbox",
        },
        follow_redirects=False,
    )
    assert last.headers["location"] == "/console/approvals?done=approved-posted"
    assert "Nothing waits for your approval." in client.get(last.headers["location"]).text
    page = client.get(f"/console/payments/{payment_id}").text
    assert "Posted: the money has moved" in page
    trail = page[page.index('id="approval-trail"') :]
    assert trail.index("Acme Approver B") < trail.index("Acme Approver A")
    assert "Group B" in trail and "Group A" in trail and "Acme Payer" in trail

    sign_in(client, "acme-payer")
    activity = client.get("/console/activity").text
    assert "Prepared a payment of 150,000.00 EUR from acme-operating to Globex" in activity
    assert "Sent again: done once, not twice." in activity
    payments = client.get("/console/payments", params={"status": "posted"}).text
    assert f"/console/payments/{payment_id}" in payments
    assert "No payments match" in client.get("/console/payments?status=rejected").text


def test_rejecting_needs_a_reason_beside_its_field_and_releases_the_hold(client, pw):
    sign_in(client, "acme-payer")
    payment_id = _payment_id(_send(client, _form(client, pw, "supplier", "20,000.00")))
    sign_in(client, "acme-approver-a")
    token = form_token(client)
    no_reason = client.post(
        f"/console/payments/{payment_id}/reject", data={"csrf_token": token, "reason": ""}
    )
    assert no_reason.status_code == 422
    assert "Say why the payment is rejected." in _field(no_reason.text, "reject-reason")
    rejected = client.post(
        f"/console/payments/{payment_id}/reject",
        data={"csrf_token": token, "reason": "Unknown invoice"},
        follow_redirects=False,
    )
    assert rejected.headers["location"].endswith("done=payment-rejected")
    page = client.get(rejected.headers["location"]).text
    assert "Rejected by Acme Approver A (you): “Unknown invoice”" in page
    account = client.get(f"/console/accounts/{pw.world.account_id('acme-operating')}").text
    assert 'id="held"' not in account


def test_an_approver_below_the_amount_sees_no_reject_button_and_a_forged_one_is_refused(
    client, app, db, pw, clock
):
    unit_of_work(db, clock).run(
        lambda session, _ctx: add_approver(
            session,
            app.state.services.passwords,
            pw.world,
            "acme-approver-low",
            group="A",
            limit=1_000_00,
            now=clock.now(),
        )
    )
    sign_in(client, "acme-payer")
    payment_id = _payment_id(_send(client, _form(client, pw, "supplier", "20,000.00")))
    sign_in(client, "acme-approver-low")
    page = client.get(f"/console/payments/{payment_id}").text
    assert 'id="approve"' not in page and 'id="reject"' not in page
    assert "Your grants do not let you approve or reject this payment." in page
    forged = client.post(
        f"/console/payments/{payment_id}/reject",
        data={"csrf_token": form_token(client), "reason": "too much"},
    )
    assert forged.status_code == 403
    assert "Your approval limit is 1,000.00 EUR; this payment is 20,000.00 EUR." in forged.text
    assert "Rejected by" not in client.get(f"/console/payments/{payment_id}").text


def test_the_initiator_cancels_and_nobody_else_sees_the_button(client, pw):
    sign_in(client, "acme-payer")
    payment_id = _payment_id(_send(client, _form(client, pw, "supplier", "20,000.00")))
    sign_in(client, "acme-bookkeeper")
    page = client.get(f"/console/payments/{payment_id}").text
    assert 'id="approve"' not in page and 'id="cancel"' not in page
    forged = client.post(
        f"/console/payments/{payment_id}/cancel",
        data={"csrf_token": form_token(client)},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    sign_in(client, "acme-payer")
    cancelled = client.post(
        f"/console/payments/{payment_id}/cancel",
        data={"csrf_token": form_token(client), "reason": "Wrong amount"},
        follow_redirects=False,
    )
    assert cancelled.headers["location"].endswith("done=payment-cancelled")
    page = client.get(cancelled.headers["location"]).text
    assert "Cancelled by Acme Payer (you): “Wrong amount”" in page
    assert "Payment cancellation" in client.get("/console/activity").text


def _rules_form(page: str) -> dict[str, str | list[str]]:
    """The rules editor's fields as the page carries them (what a browser would send)."""
    form = page[page.index('id="rules-form"') :]
    form = form[: form.index("</form>")]
    data: dict[str, str | list[str]] = {}
    for name, value in re.findall(
        r'<input type="(?:text|hidden)"[^>]*?name="([^"]+)" value="([^"]*)"', form
    ):
        data[name] = value
    for name, options in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        first = re.search(r'<option value="([^"]*)"', options)
        data[name] = chosen.group(1) if chosen else (first.group(1) if first else "")
    return data


def test_the_rules_editor_refuses_a_rule_below_the_bank_minimum_beside_its_field(client, pw):
    sign_in(client, "manager")
    minimums = client.get("/console/approval-minimums").text
    data = _rules_form(minimums)
    data.update(
        {"rules-0-currency": "EUR", "rules-0-min_amount": "50,000.00", "rules-0-approvals": "2"}
    )
    saved = client.post(
        "/console/approval-minimums",
        data={**data, "csrf_token": form_token(client)},
        follow_redirects=False,
    )
    assert saved.headers["location"].endswith("done=minimums-saved"), saved.text

    sign_in(client, "acme-admin")
    page = client.get("/console/approval-rules").text
    bank = page[page.index('id="bank-minimums"') : page.index('id="rules"')]
    assert "50,000.00 EUR" in bank and '<td class="num">2</td>' in bank
    data = _rules_form(page)
    assert data["rules-0-min_amount"] == "10,000.00" and data["rules-1-group_a"] == "1"
    # Row 3 (empty until now): from 60,000.00 EUR, one approval: less than the bank asks.
    data.update(
        {"rules-2-currency": "EUR", "rules-2-min_amount": "60,000.00", "rules-2-approvals": "1"}
    )
    token = form_token(client)
    refused = client.post("/console/approval-rules", data={**data, "csrf_token": token})
    assert refused.status_code == 422
    row = refused.text[refused.text.index('id="rule-2"') :]
    row = row[: row.index("</tr>")]
    approvals = row[row.index('name="rules-2-approvals"') :]
    assert "The bank requires 2 approvals for own payments of 60,000.00 EUR" in approvals
    assert 'class="invalid"' in row
    # What was typed comes back.
    assert 'value="60,000.00"' in row

    # More from group A than in all: beside the group A field of its row.
    data.update({"rules-2-approvals": "2", "rules-2-group_a": "3"})
    refused = client.post("/console/approval-rules", data={**data, "csrf_token": token})
    assert refused.status_code == 422
    row = refused.text[refused.text.index('id="rule-2"') :]
    group = row[row.index('name="rules-2-group_a"') : row.index("</tr>")]
    assert "3 approvals from group A is more than the 2 approvals it asks in all" in group

    data.update({"rules-2-group_a": "0", "rules-0-remove": "1"})
    saved = client.post(
        "/console/approval-rules", data={**data, "csrf_token": token}, follow_redirects=False
    )
    assert saved.headers["location"].endswith("done=rules-saved"), saved.text
    page = client.get(saved.headers["location"]).text
    data = _rules_form(page)
    assert [data.get(f"rules-{i}-min_amount") for i in range(3)] == ["100,000.00", "60,000.00", ""]

    sign_in(client, "compliance")
    changes = client.get("/console/changes", params={"entity": "approval_rules"}).text
    assert "Approval rules of Acme Ltd" in changes
    assert "The bank&#39;s approval minimums" in changes
    assert "from 60,000.00 EUR, any payment: 2 approvals" in changes


def test_payment_decisions_are_in_the_decision_log(client, pw):
    sign_in(client, "acme-payer")
    payment_id = _payment_id(_send(client, _form(client, pw, "supplier", "20,000.00")))
    sign_in(client, "acme-approver-b")
    assert _approve(client, payment_id).status_code == 303
    sign_in(client, "compliance")
    log = client.get("/console/decisions", params={"action": "payment.approve"}).text
    assert "Acme Approver B (acme-approver-b)" in log and "20,000.00 EUR" in log
    log = client.get("/console/decisions", params={"action": "payment.create"}).text
    assert "Acme Payer (acme-payer)" in log


def test_another_tenants_payment_answers_as_an_unused_id(client, pw):
    sign_in(client, "acme-payer")
    payment_id = _payment_id(_send(client, _form(client, pw, "supplier", "20,000.00")))
    answers = {}
    for target in (payment_id, 999_999):
        token = sign_in(client, "globex-admin")
        seen = []
        for method, path in (
            ("GET", "/console/payments/X"),
            ("POST", "/console/payments/X/approve"),
            ("POST", "/console/payments/X/reject"),
            ("POST", "/console/payments/X/cancel"),
        ):
            answer = client.request(
                method,
                path.replace("X", str(target)),
                data=None
                if method == "GET"
                else {"csrf_token": token, "idempotency_key": "probe", "reason": "probe"},
                follow_redirects=False,
            )
            text = re.sub(
                rf"(?<=[Pp]ayment ){target}\b|(?<=payments/){target}\b", "<id>", answer.text
            )
            seen.append((answer.status_code, text))
        answers[target] = seen
    assert answers[payment_id] == answers[999_999]
    assert {status for status, _ in answers[payment_id]} == {404}


def test_the_sidebar_count_is_one_count_and_only_for_approvers(app, db, pw, clock):
    """Every page shows the count: one COUNT query of payments and one of payment batches,
    asked only of someone who holds payment.approve (and nothing per payment, as the inbox's
    own decisions are)."""
    for username, counts in (("acme-payer", 0), ("acme-approver-a", 2)):
        ctx = staff_context(db, username, clock)
        statements: list[str] = []

        def seen(conn, cursor, statement, *args, statements=statements):  # type: ignore[no-untyped-def]
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            UnitOfWork(db, ctx, write=False).run(workspace)
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
        assert sum("count(" in s.lower() for s in statements) == counts, username
        assert not [s for s in statements if "payment_approvals" in s and "count(" not in s]


def test_a_payment_dated_later_is_checked_scheduled_shown_and_cancelled(client, pw, clock):
    sign_in(client, "acme-payer")
    today = clock.now().astimezone(ZoneInfo("Europe/Berlin")).date()
    later = (today + dt.timedelta(days=3)).isoformat()
    data = _form(client, pw, "supplier", "500.00", execution_date=later)
    checked = client.get("/console/payments/new", params={**data, "check": "1"}).text
    assert "<strong>Scheduled</strong>" in checked and later in checked
    past = _send(client, {**data, "execution_date": (today - dt.timedelta(days=1)).isoformat()})
    assert past.status_code == 422
    assert "has passed" in _field(past.text, "execution-date")
    garbled = _send(client, {**data, "execution_date": "next tuesday"})
    assert garbled.status_code == 422
    assert "Enter a date" in _field(garbled.text, "execution-date")
    sent = _send(client, data)
    assert sent.headers["location"].endswith("done=payment-scheduled"), sent.headers["location"]
    page = client.get(sent.headers["location"]).text
    assert f"it executes on {later}" in page and 'id="cancel"' in page
    listed = client.get("/console/payments", params={"status": "scheduled"}).text
    assert f"/console/payments/{_payment_id(sent)}" in listed
    cancelled = client.post(
        f"/console/payments/{_payment_id(sent)}/cancel",
        data={"csrf_token": form_token(client)},
        follow_redirects=False,
    )
    assert cancelled.headers["location"].endswith("done=payment-cancelled")
