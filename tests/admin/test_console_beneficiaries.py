"""The console's beneficiaries: listed with status and kind, added through a form whose
mistakes are shown beside their field, approved by a second person only, deleted; the bank
manager sets a customer's payment rules; accounts show their IBAN in groups of four."""

from __future__ import annotations

import re

from tests.admin.console import sign_in


def _row(page: str, beneficiary_id: int) -> str:
    start = page.index(f'id="beneficiary-{beneficiary_id}"')
    return page[start : page.index("</tr>", start)]


def _field(page: str, name: str) -> str:
    """The form field `name` (its label, input and any error), as the page shows it."""
    at = page.index(f'name="{name}"')
    start = page.rindex('<div class="field', 0, at)
    ends = [page.find(mark, at) for mark in ('<div class="field', "<button")]
    return page[start : min(e for e in ends if e != -1)]


def test_the_list_shows_status_kind_and_iban_and_offers_approval_to_another_person(client, world):
    sign_in(client, "acme-admin")
    page = client.get("/console/beneficiaries")
    assert page.status_code == 200
    supplier = _row(page.text, world.beneficiary_id("acme-supplier"))
    assert "Lieferant GmbH" in supplier and "DE89 3704 0044 0532 0130 00" in supplier
    assert "External" in supplier and "Active" in supplier
    assert "/approve" not in supplier and "New:" not in supplier
    assert "by Acme Admin" in supplier
    pending = _row(page.text, world.beneficiary_id("acme-new-supplier"))
    assert "Awaiting approval" in pending
    assert "New: payments need an approval until" in pending
    # Added by the payer: acme-admin may approve it.
    assert "/approve" in pending and "Approve" in pending
    assert "Add a beneficiary" in page.text
    assert "Lieferant GmbH" not in client.get("/console/beneficiaries?status=pending_approval").text


def test_a_bookkeeper_sees_the_list_and_no_forms(client, world):
    sign_in(client, "acme-bookkeeper")
    page = client.get("/console/beneficiaries").text
    nav = page[page.index('aria-label="Sections"') : page.index("</nav>")]
    assert "Beneficiaries" in nav
    assert "Lieferant GmbH" in page and "New Supplier Ltd" in page
    assert "Add a beneficiary" not in page
    assert "/approve" not in page and "/delete" not in page


def test_a_mistyped_iban_is_shown_beside_its_field_and_nothing_is_added(client, world):
    token = sign_in(client, "acme-admin")
    typed = {
        "csrf_token": token,
        "name": "Fournisseur SA",
        "iban": "FR14 2004 1010 0505 0001 3M02 607",
        "bic": "",
        "reference_template": "Invoice",
    }
    refused = client.post("/console/beneficiaries", data=typed, follow_redirects=False)
    assert refused.status_code == 422
    iban = _field(refused.text, "iban")
    assert "invalid" in iban.split(">")[0]
    assert "Not a valid IBAN" in iban
    # What was typed is there to correct.
    assert 'value="FR14 2004 1010 0505 0001 3M02 607"' in iban
    assert 'value="Invoice"' in refused.text

    bad_bic = client.post(
        "/console/beneficiaries",
        data={**typed, "iban": "FR14 2004 1010 0505 0001 3M02 606", "bic": "BNPAXXPP"},
        follow_redirects=False,
    )
    assert bad_bic.status_code == 422
    assert "Not a valid BIC" in _field(bad_bic.text, "bic")
    twice = client.post(
        "/console/beneficiaries",
        data={**typed, "iban": "de89370400440532013000"},
        follow_redirects=False,
    )
    assert twice.status_code == 409
    assert "already has a beneficiary with the IBAN" in _field(twice.text, "iban")
    assert "Fournisseur SA" not in client.get("/console/beneficiaries").text


def test_added_in_the_console_it_waits_for_another_admin_when_the_bank_says_so(
    client, app, world, clock
):
    token = sign_in(client, "manager")
    acme = world.tenants["acme"].id
    tenant = client.get(f"/console/tenants/{acme}").text
    assert "A new beneficiary can be paid at once." in tenant
    wrong = client.post(
        f"/console/tenants/{acme}/settings",
        data={"csrf_token": token, "new_beneficiary_hours": "800", "payment_expiry_days": "7"},
        follow_redirects=False,
    )
    assert wrong.status_code == 422
    assert "less than or equal to 720" in _field(wrong.text, "new_beneficiary_hours")
    saved = client.post(
        f"/console/tenants/{acme}/settings",
        data={
            "csrf_token": token,
            "beneficiary_approval_required": "true",
            "new_beneficiary_hours": "48",
            "payment_expiry_days": "5",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    tenant = client.get(saved.headers["location"]).text
    assert "Payment rules saved." in tenant
    assert "A new beneficiary waits for a second person's approval" in tenant
    assert "For 48 hours after a beneficiary is added" in tenant

    token = sign_in(client, "acme-admin")
    added = client.post(
        "/console/beneficiaries",
        data={
            "csrf_token": token,
            "name": "Fournisseur SA",
            "iban": "FR14 2004 1010 0505 0001 3M02 606",
            "bic": "bnpafrpp",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    page = client.get(added.headers["location"]).text
    assert "Nothing can be paid to it until another person approves it." in page
    found = re.search(r'id="beneficiary-(\d+)"[^>]*>\s*<td><strong>Fournisseur SA', page)
    assert found, page
    new_id = int(found.group(1))
    row = _row(page, new_id)
    assert "Awaiting approval" in row and "BNPAFRPP" in row
    # Who added it is not offered the approval; sent anyway, it is refused and said why.
    assert "/approve" not in row
    own = client.post(f"/console/beneficiaries/{new_id}/approve", data={"csrf_token": token})
    assert own.status_code == 403
    assert "You added this beneficiary: another person must approve it." in own.text

    # acme-admin approves the payer's new supplier, then deletes it.
    supplier = world.beneficiary_id("acme-new-supplier")
    approved = client.post(
        f"/console/beneficiaries/{supplier}/approve",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert approved.status_code == 303
    page = client.get(approved.headers["location"]).text
    assert "Beneficiary approved: it can be paid now." in page
    assert "Active" in _row(page, supplier) and "approved" in _row(page, supplier)
    deleted = client.post(
        f"/console/beneficiaries/{supplier}/delete",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert deleted.status_code == 303
    page = client.get(deleted.headers["location"]).text
    assert "Beneficiary deleted." in page and "New Supplier Ltd" not in page

    activity = client.get("/console/activity").text
    assert "Beneficiary approval" in activity and "Beneficiary change" in activity


def test_accounts_show_their_iban_in_groups_of_four(client, world):
    iban = world.accounts["acme-operating"].iban
    assert iban is not None
    grouped = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    sign_in(client, "acme-bookkeeper")
    assert f"IBAN {grouped}" in client.get("/console/accounts").text
    assert (
        f"IBAN {grouped}"
        in client.get(f"/console/accounts/{world.account_id('acme-operating')}").text
    )
    sign_in(client, "manager")
    assert f"IBAN {grouped}" in client.get(f"/console/tenants/{world.tenants['acme'].id}").text
