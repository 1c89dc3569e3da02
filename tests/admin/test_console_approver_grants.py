"""An approver's terms in the console: the grant form takes a signature group and an approval
limit (typed in the limits' currency), shows refusals beside those fields, and the person's
page and the change log show what was given."""

from __future__ import annotations

import re

from tests.admin.console import sign_in
from tests.factories import bearer


def _new_person(client, token: str, username: str) -> int:  # type: ignore[no-untyped-def]
    created = client.post(
        "/console/users",
        data={
            "username": username,
            "display_name": username.title(),
            "password": "approver password 1",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    return int(created.headers["location"].split("/")[-1].split("?")[0])


def _role_id(client, name: str) -> str:  # type: ignore[no-untyped-def]
    found = re.search(rf'href="/console/roles/(\d+)">{name}<', client.get("/console/roles").text)
    assert found, name
    return found.group(1)


def _give(client, token: str, user_id: int, role_id: str, **fields: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/console/grants",
        data={
            "csrf_token": token,
            "user_id": str(user_id),
            "role_id": role_id,
            "scope": "all",
            "limit_currency": "EUR",
            **fields,
        },
        follow_redirects=False,
    )


def _field(page: str, marker: str, end: str = "</fieldset>") -> str:
    """The part of a page from `marker` to the end of its fieldset."""
    start = page.index(marker)
    return page[start : page.index(end, start)]


def test_the_grant_form_gives_an_approvers_group_and_limit(client, app, world, clock):
    token = sign_in(client, "acme-admin")
    person = _new_person(client, token, "dora")
    form = client.get(f"/console/grants/new?user={person}").text
    assert 'name="approval_group"' in form and 'name="approval_limit"' in form

    given = _give(
        client,
        token,
        person,
        _role_id(client, "Approver"),
        approval_group="B",
        approval_limit="1,000.00",
    )
    assert given.status_code == 303, given.text
    page = client.get(given.headers["location"]).text
    assert "Signature group B · Approves up to 1,000.00 EUR a payment" in page

    admin = bearer(app, world.users["acme-admin"], clock)
    [grant] = client.get("/v1/grants", params={"user_id": person}, headers=admin).json()["items"]
    assert (grant["approval_group"], grant["approval_limit"]) == ("B", 1_000_00)
    # The approval limit was typed in the form's currency: that is the grant's limit currency.
    assert grant["limits"] == {
        "currency": "EUR",
        "per_transfer": None,
        "daily": None,
        "monthly": None,
    }

    sign_in(client, "compliance")
    changes = client.get("/console/changes", params={"entity": "grant"}).text
    assert "1,000.00 EUR" in changes


def test_refusals_of_approval_terms_are_shown_beside_their_fields(client, world):
    token = sign_in(client, "acme-admin")
    person = _new_person(client, token, "eve")
    approver, payer = _role_id(client, "Approver"), _role_id(client, "Payer")

    # The service refuses terms on a role that approves nothing: beside the group.
    refused = _give(client, token, person, payer, approval_group="A")
    assert refused.status_code == 422, refused.text
    group_field = _field(refused.text, 'id="approval_group"', "</div>\n        </div>")
    assert "The role Payer does not carry payment.approve" in group_field
    assert "the bank refuses terms that do nothing" in group_field
    assert '<option value="A" selected>' in group_field  # what was chosen is kept

    refused = _give(client, token, person, payer, approval_limit="500.00")
    assert refused.status_code == 422
    limit_field = _field(refused.text, 'id="f-approval_limit"')
    assert "does not carry payment.approve" in limit_field
    assert 'value="500.00"' in limit_field

    # The form's own mistakes, beside the approval limit and the group.
    for typed, message in (
        ("lots", "Enter an amount like 1,250.00."),
        ("0", "Enter an amount greater than zero."),
        ("1.001", "decimal places"),
    ):
        wrong = _give(client, token, person, approver, approval_limit=typed)
        assert wrong.status_code == 422, typed
        assert message in _field(wrong.text, 'id="f-approval_limit"'), typed
    wrong = _give(client, token, person, approver, approval_group="C")
    assert wrong.status_code == 422
    assert "Choose signature group A, B, or none." in _field(wrong.text, 'id="approval_group"')
    wrong = _give(client, token, person, approver, limit_currency="", approval_limit="10.00")
    assert wrong.status_code == 422
    assert "Choose the currency of the limits." in _field(wrong.text, 'id="limit_currency"')

    page = client.get(f"/console/users/{person}").text
    assert "No roles: this person can do nothing yet." in page


def test_the_grant_form_gives_a_daily_approval_limit(client, app, world, clock):
    token = sign_in(client, "acme-admin")
    person = _new_person(client, token, "fritz")
    form = client.get(f"/console/grants/new?user={person}").text
    assert 'name="approval_daily_limit"' in form
    approver, payer = _role_id(client, "Approver"), _role_id(client, "Payer")
    refused = _give(client, token, person, payer, approval_daily_limit="5,000.00")
    assert refused.status_code == 422
    daily_field = _field(refused.text, 'id="f-approval_daily_limit"')
    assert "does not carry payment.approve" in daily_field
    garbled = _give(client, token, person, approver, approval_daily_limit="lots")
    assert garbled.status_code == 422
    assert "Enter an amount" in _field(garbled.text, 'id="f-approval_daily_limit"')
    given = _give(
        client,
        token,
        person,
        approver,
        approval_group="A",
        approval_daily_limit="25,000.00",
    )
    assert given.status_code == 303, given.text
    page = client.get(given.headers["location"]).text
    assert "Signature group A · Up to 25,000.00 EUR a day in all" in page
    admin = bearer(app, world.users["acme-admin"], clock)
    [grant] = client.get("/v1/grants", params={"user_id": person}, headers=admin).json()["items"]
    assert grant["approval_daily_limit"] == 25_000_00
