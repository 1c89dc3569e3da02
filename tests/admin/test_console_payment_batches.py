"""Payment files in the console: the payer uploads a pain.001 file, the batch page shows its
items (refused ones with their reasons) and what approving would do, the buttons follow the
policy, and the approvers approve it as one."""

from __future__ import annotations

import re

import pytest

from tests.admin.console import form_token, sign_in
from tests.batches_world import Credit, add_payees, employees, pain001, with_pending_batch
from tests.payments_world import PaymentsWorld, build_payments_world

IDEMPOTENCY_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    return build_payments_world(db, app.state.services.passwords, world, clock)


def _upload(client, data: bytes):  # type: ignore[no-untyped-def]
    page = client.get("/console/payment-batches").text
    key = IDEMPOTENCY_KEY.search(page)
    assert key, "the upload form carries no idempotency key"
    return client.post(
        "/console/payment-batches",
        data={"csrf_token": form_token(client), "idempotency_key": key.group(1)},
        files={"file": ("payroll.xml", data, "application/xml")},
        follow_redirects=False,
    )


def _approve(client, batch_path: str):  # type: ignore[no-untyped-def]
    page = client.get(batch_path).text
    key = IDEMPOTENCY_KEY.search(page)
    assert key and 'id="approve"' in page, page
    return client.post(
        f"{batch_path}/approve",
        data={"csrf_token": form_token(client), "idempotency_key": key.group(1)},
        follow_redirects=False,
    )


def test_a_payroll_file_is_uploaded_and_approved_by_both_approvers(client, db, pw, clock):
    staff = employees(60, amount=2_000_00)  # about 120,000.00 EUR: two approvals, one of A
    add_payees(db, pw.world, clock, staff)
    bad = Credit("Nobody", "DE00370400440532013000", 100_00)
    data = pain001(pw.world.accounts["acme-operating"].iban or "", [*staff, bad])

    sign_in(client, "acme-payer")
    sent = _upload(client, data)
    assert sent.status_code == 303, sent.text
    path = sent.headers["location"].split("?")[0]
    page = client.get(sent.headers["location"]).text
    assert "Payment file taken" in page
    assert "60 to pay, 1 refused" in page
    assert "invalid_iban" in page and "Invalid checksum digits" in page
    assert 'id="approve"' not in page  # who uploaded it never approves it
    assert 'id="cancel"' in page

    sign_in(client, "acme-approver-b")
    page = client.get(path).text
    assert "leave 1 more approval from group A to go" in page
    assert _approve(client, path).status_code == 303
    sign_in(client, "acme-approver-a")
    page = client.get(path).text
    assert re.search(r"post 60 payments of [\d,.]+.EUR in all", page), page
    done = _approve(client, path)
    assert done.status_code == 303
    page = client.get(done.headers["location"]).text
    assert "every payment of the file is made" in page
    assert page.count('class="chip ok">Sent</span>') >= 60


def test_a_file_refused_whole_says_why_beside_the_field(client, pw):
    sign_in(client, "acme-payer")
    answer = _upload(client, b"<Document")
    assert answer.status_code == 422
    assert "not well-formed XML" in answer.text
    bookkeeper_sees = sign_in(client, "acme-bookkeeper")
    assert bookkeeper_sees
    page = client.get("/console/payment-batches").text
    assert 'id="batch-upload"' not in page  # no payment.create: no upload form


def test_a_forged_approval_by_the_uploader_is_refused(client, db, pw, clock):
    staff = employees(6, amount=2_000_00)
    add_payees(db, pw.world, clock, staff)
    sign_in(client, "acme-payer")
    sent = _upload(client, pain001(pw.world.accounts["acme-operating"].iban or "", staff))
    path = sent.headers["location"].split("?")[0]
    forged = client.post(
        f"{path}/approve",
        data={"csrf_token": form_token(client), "idempotency_key": "forged-1"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert "Awaiting approval" in client.get(path).text


def test_the_approvals_page_lists_a_batch_waiting_for_the_approver_and_counts_it(
    client, app, db, pw, clock
):
    with_pending_batch(db, app.state.services.passwords, pw.world, clock, pw)
    batch_id = pw.world.batch_ids["acme"]
    sign_in(client, "acme-approver-a")
    inbox = client.get("/console/approvals").text
    listed = inbox[inbox.index('id="batch-inbox"') :]
    assert f'/payment-batches/{batch_id}"' in listed
    assert "Post 2 payments of 20,000.00 EUR in all" in listed
    nav = inbox[inbox.index('aria-label="Sections"') : inbox.index("</nav>")]
    assert re.search(r'<span class="count"[^>]*>.*?1.*?</span></span>', nav, re.S)
    sign_in(client, "acme-payer")
    assert 'id="batch-inbox"' not in client.get("/console/approvals").text
