"""The bank's settings in the console: a bank manager sees and changes them (dual
administration for customers, dual control, how long a request waits, the trust days); under
dual control saving sends the change for approval, and the page links the request waiting;
a compliance officer reads them only; a customer finds no such page."""

from __future__ import annotations

import re

from tests.admin.console import sign_in
from tests.governance_world import turn_on

FORM = {
    "dual_admin_default": "true",
    "dual_control": "true",
    "change_request_hours": "48",
    "dual_admin_trust_days": "14",
}


def _settings_of(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/console/bank-settings")
    assert page.status_code == 200, page.text
    return page.text


def test_a_bank_manager_changes_the_banks_settings(client, world):
    token = sign_in(client, "manager")
    page = _settings_of(client)
    assert 'name="dual_admin_trust_days"' in page and 'value="30"' in page
    assert "Bank settings" in page[page.index('aria-label="Sections"') : page.index("</nav>")]
    saved = client.post(
        "/console/bank-settings", data={**FORM, "csrf_token": token}, follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/console/bank-settings?done=bank-updated"
    page = client.get(saved.headers["location"]).text
    assert "Bank settings saved." in page
    assert 'value="14"' in page and 'value="48"' in page


def test_a_wrong_number_is_shown_beside_its_field_and_changes_nothing(client, world):
    token = sign_in(client, "manager")
    refused = client.post(
        "/console/bank-settings",
        data={**FORM, "dual_admin_trust_days": "366", "csrf_token": token},
        follow_redirects=False,
    )
    assert refused.status_code == 422, refused.text
    assert re.search(r'field invalid">\s*<label for="trust-days"', refused.text), refused.text
    typed = client.post(
        "/console/bank-settings",
        data={**FORM, "change_request_hours": "many", "csrf_token": token},
        follow_redirects=False,
    )
    assert typed.status_code == 422 and "Enter a whole number." in typed.text
    assert 'value="30"' in _settings_of(client) and 'value="72"' in _settings_of(client)


def test_under_dual_control_saving_sends_the_change_for_approval(client, db, world, clock):
    turn_on(db, clock, bank=True)
    token = sign_in(client, "manager")
    sent = client.post(
        "/console/bank-settings",
        data={**FORM, "dual_admin_trust_days": "3", "csrf_token": token},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    location = sent.headers["location"]
    assert re.match(r"/console/change-requests/\d+\?done=change-requested", location), location
    request_id = location.split("/")[-1].split("?")[0]
    assert "Sent for approval" in client.get(location).text
    page = _settings_of(client)
    assert 'value="30"' in page  # nothing changed yet
    assert "waits for a second bank manager" in page
    assert f'href="/console/change-requests/{request_id}"' in page


def test_compliance_reads_the_settings_and_cannot_change_them(client, world):
    token = sign_in(client, "compliance")
    page = _settings_of(client)
    assert "Ties count for 30 days" in page
    assert "<form" not in page[page.index('id="bank-settings"') :]
    forged = client.post(
        "/console/bank-settings", data={**FORM, "csrf_token": token}, follow_redirects=False
    )
    assert forged.status_code == 403, forged.text
    assert "Your roles do not let you" in forged.text
    sign_in(client, "manager")
    assert 'value="30"' in _settings_of(client)


def test_customers_find_no_bank_settings(client, world):
    token = sign_in(client, "acme-admin")
    assert client.get("/console/bank-settings").status_code == 404
    posted = client.post(
        "/console/bank-settings", data={**FORM, "csrf_token": token}, follow_redirects=False
    )
    assert posted.status_code == 404
    page = client.get("/console/accounts").text
    assert "Bank settings" not in page
