"""Beneficiaries through the API: a company's payees, internal or external, added and changed
by holders of beneficiary.manage, approved by a second person where the company's rules ask
for it, and invisible to every other company."""

from __future__ import annotations

from typing import Any

from core.ledger.identifiers import account_iban
from tests.factories import NEW_SUPPLIER_IBAN, SUPPLIER_IBAN, bearer

# Valid IBANs of other banks (the banks' own published examples).
FRENCH_IBAN = "FR14 2004 1010 0505 0001 3M02 606"
DUTCH_IBAN = "NL91ABNA0417164300"
PUBLIC_FIELDS = {
    "id",
    "tenant_id",
    "name",
    "iban",
    "bic",
    "reference_template",
    "kind",
    "status",
    "added_by",
    "created_at",
    "approved_by",
    "approved_at",
    "updated_at",
    "new_until",
}


def _headers(app, world, clock, username: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(app, world.users[username], clock)


def _add(client, headers, **body: Any):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/beneficiaries",
        json={"name": "Fournisseur SA", "iban": FRENCH_IBAN, **body},
        headers=headers,
    )


def _second_admin(client, app, world, clock) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Another corporate admin of acme, made through the API: a second person who may
    approve what acme-admin adds."""
    admin = _headers(app, world, clock, "acme-admin")
    user = client.post(
        "/v1/users",
        json={"username": "acme-admin-2", "display_name": "Second Admin", "password": "x" * 16},
        headers=admin,
    )
    assert user.status_code == 201, user.text
    roles = client.get("/v1/roles", headers=admin).json()
    role = next(r for r in roles if r["key"] == "corporate_admin")
    grant = client.post(
        "/v1/grants", json={"user_id": user.json()["id"], "role_id": role["id"]}, headers=admin
    )
    assert grant.status_code == 201, grant.text
    token, _ = app.state.services.tokens.issue(user.json()["id"], clock.now())
    return {"Authorization": f"Bearer {token}"}


def test_an_admin_adds_reads_changes_and_deletes_a_beneficiary(client, app, world, clock):
    admin = _headers(app, world, clock, "acme-admin")
    added = _add(client, admin, iban=FRENCH_IBAN.lower(), bic="bnpafrpp", reference_template="Inv ")
    assert added.status_code == 201, added.text
    body = added.json()
    assert set(body) == PUBLIC_FIELDS
    assert body["iban"] == "FR1420041010050500013M02606"
    assert body["bic"] == "BNPAFRPP"
    assert body["reference_template"] == "Inv"
    assert (body["kind"], body["status"]) == ("external", "active")
    assert body["tenant_id"] == world.tenants["acme"].id
    assert body["added_by"] == world.user_id("acme-admin")
    assert body["approved_by"] is None
    beneficiary = f"/v1/beneficiaries/{body['id']}"

    listed = client.get("/v1/beneficiaries", headers=admin).json()["items"]
    assert [b["name"] for b in listed] == ["Lieferant GmbH", "New Supplier Ltd", "Fournisseur SA"]
    assert client.get(beneficiary, headers=admin).json() == body

    changed = client.patch(
        beneficiary,
        json={"name": "Fournisseur & Fils SA", "bic": "BNPAFRPPXXX", "reference_template": "F-"},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Fournisseur & Fils SA"
    assert changed.json()["bic"] == "BNPAFRPPXXX"
    assert changed.json()["iban"] == body["iban"]
    no_bic = client.patch(beneficiary, json={"bic": ""}, headers=admin)
    assert no_bic.status_code == 200 and no_bic.json()["bic"] is None

    # The IBAN is the payee: it never changes.
    moved = client.patch(beneficiary, json={"iban": DUTCH_IBAN}, headers=admin)
    assert moved.status_code == 422
    assert moved.json()["error"] == "invalid_request"
    assert "IBAN of a beneficiary never changes" in moved.json()["detail"]
    assert client.get(beneficiary, headers=admin).json()["iban"] == body["iban"]

    assert client.delete(beneficiary, headers=admin).status_code == 204
    assert client.get(beneficiary, headers=admin).status_code == 404
    assert client.patch(beneficiary, json={"name": "x"}, headers=admin).status_code == 404
    assert client.delete(beneficiary, headers=admin).status_code == 404
    listed = client.get("/v1/beneficiaries", headers=admin).json()["items"]
    assert body["id"] not in [b["id"] for b in listed]
    # A deleted payee's IBAN may be added again: a new beneficiary.
    again = _add(client, admin)
    assert again.status_code == 201 and again.json()["id"] != body["id"]

    compliance = _headers(app, world, clock, "compliance")
    log = client.get("/v1/changes", params={"entity": "beneficiary"}, headers=compliance).json()
    changes = [(c["entity_id"], c["change"]) for c in reversed(log["items"])]
    assert changes == [
        (body["id"], "create"),
        (body["id"], "update"),
        (body["id"], "update"),
        (body["id"], "delete"),
        (again.json()["id"], "create"),
    ]
    update = log["items"][-2]
    assert update["before"]["name"] == "Fournisseur SA"
    assert update["after"]["name"] == "Fournisseur & Fils SA"

    activity = client.get("/v1/activity", headers=admin).json()["items"]
    done = [a["detail"] for a in activity if a["outcome"] == "succeeded"]
    assert (
        "added the beneficiary Fournisseur SA (FR14 2004 1010 0505 0001 3M02 606, external)" in done
    )
    assert any(d.startswith("changed the beneficiary Fournisseur & Fils SA") for d in done)
    assert any(d.startswith("deleted the beneficiary Fournisseur & Fils SA") for d in done)


def test_an_invalid_iban_or_bic_is_422_with_its_code(client, app, world, clock):
    admin = _headers(app, world, clock, "acme-admin")
    for iban in ("DE89 3704 0044 0532 0130 01", "XX00 1234", "DE8937040044053201300"):
        refused = _add(client, admin, iban=iban)
        assert refused.status_code == 422, (iban, refused.text)
        assert refused.json()["error"] == "invalid_iban", iban
        assert refused.json()["detail"].startswith("not a valid IBAN")
    for bic in ("BNPA", "BNPAFRPP1", "BNPAXXPP", "BN-AFRPP"):
        refused = _add(client, admin, bic=bic)
        assert refused.status_code == 422, (bic, refused.text)
        assert refused.json()["error"] == "invalid_bic", bic
        assert refused.json()["detail"].startswith("not a valid BIC")
    # Longer than any BIC: refused by the schema before schwifty sees it.
    assert _add(client, admin, bic="BNPAFRPPXXXX").json()["error"] == "invalid_request"
    added = _add(client, admin, bic="BNPAFRPP")
    assert added.status_code == 201, added.text
    changed = client.patch(
        f"/v1/beneficiaries/{added.json()['id']}", json={"bic": "12"}, headers=admin
    )
    assert changed.status_code == 422 and changed.json()["error"] == "invalid_bic"
    assert len(client.get("/v1/beneficiaries", headers=admin).json()["items"]) == 3


def test_a_bic_of_another_country_than_the_iban_is_422(client, app, world, clock):
    admin = _headers(app, world, clock, "acme-admin")
    # A German bank's BIC beside a French IBAN: the payment would go to the wrong bank.
    refused = _add(client, admin, bic="COBADEFF")
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "bic_country_mismatch"
    assert "DE" in refused.json()["detail"] and "FR" in refused.json()["detail"]
    # A Guadeloupe bank (BIC country GP) keeps French IBANs.
    added = _add(client, admin, bic="BDAFGPGP").json()
    assert added["bic"] == "BDAFGPGP"
    changed = client.patch(
        f"/v1/beneficiaries/{added['id']}", json={"bic": "COBADEFFXXX"}, headers=admin
    )
    assert changed.status_code == 422 and changed.json()["error"] == "bic_country_mismatch"
    kept = client.get(f"/v1/beneficiaries/{added['id']}", headers=admin).json()
    assert kept["bic"] == "BDAFGPGP"


def test_an_account_of_this_bank_is_internal_and_its_owner_stays_unknown(client, app, world, clock):
    admin = _headers(app, world, clock, "acme-admin")
    globex_main = world.accounts["globex-main"]
    assert globex_main.iban is not None
    added = _add(client, admin, name="Our partner", iban=globex_main.iban)
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["kind"] == "internal"
    # Nothing of the other company: not its account's id, name or currency, nor the company.
    assert set(body) == PUBLIC_FIELDS
    assert body["tenant_id"] == world.tenants["acme"].id
    assert "globex" not in added.text.lower()
    assert globex_main.id not in [v for k, v in body.items() if k not in ("id", "added_by")]

    own = world.accounts["acme-payroll"].iban
    assert _add(client, admin, name="Payroll", iban=own).json()["kind"] == "internal"
    # This bank's bank code, but no account of it: another bank's to say; paid externally.
    stranger = account_iban(world.bank.country, world.bank.bank_code, 987_654)
    assert _add(client, admin, name="Nobody", iban=stranger).json()["kind"] == "external"
    assert _add(client, admin, name="Elsewhere", iban=DUTCH_IBAN).json()["kind"] == "external"


def test_the_same_iban_twice_in_one_company_is_409(client, app, world, clock):
    admin = _headers(app, world, clock, "acme-admin")
    spelled = "de89 3704 0044 0532 0130 00"  # acme's supplier, typed otherwise
    twice = _add(client, admin, name="Lieferant again", iban=spelled)
    assert twice.status_code == 409
    assert twice.json()["error"] == "beneficiary_exists"
    assert "DE89 3704 0044 0532 0130 00" in twice.json()["detail"]
    # Globex pays the same supplier: payees are per company.
    globex = _headers(app, world, clock, "globex-admin")
    assert _add(client, globex, name="Other", iban=NEW_SUPPLIER_IBAN).status_code == 201
    assert _add(client, globex, name="Again", iban=SUPPLIER_IBAN).status_code == 409


def test_reading_is_not_managing(client, app, world, clock):
    for username in ("acme-bookkeeper", "acme-payer"):
        headers = _headers(app, world, clock, username)
        listed = client.get("/v1/beneficiaries", headers=headers)
        assert [b["name"] for b in listed.json()["items"]] == ["Lieferant GmbH", "New Supplier Ltd"]
        refused = _add(client, headers)
        assert refused.status_code == 403
        assert refused.json() == {
            "error": "missing_permission",
            "detail": "Your roles do not let you add, change or approve beneficiaries.",
        }
        pending = f"/v1/beneficiaries/{world.beneficiary_id('acme-new-supplier')}"
        assert client.patch(pending, json={"name": "x"}, headers=headers).status_code == 403
        assert client.delete(pending, headers=headers).status_code == 403
        approve = client.post(f"{pending}/approve", headers=headers)
        assert approve.status_code == 403
        assert approve.json() == {
            "error": "missing_permission",
            "detail": "Your roles do not let you approve beneficiaries.",
        }
    # Bank staff read every customer's beneficiaries and add none.
    for username in ("manager", "compliance"):
        headers = _headers(app, world, clock, username)
        items = client.get("/v1/beneficiaries", headers=headers).json()["items"]
        assert len(items) == 3
        only_globex = client.get(
            "/v1/beneficiaries", params={"tenant_id": world.tenants["globex"].id}, headers=headers
        ).json()["items"]
        assert [b["tenant_id"] for b in only_globex] == [world.tenants["globex"].id]
        assert _add(client, headers).json()["error"] == "missing_permission"


def test_a_new_beneficiary_waits_for_a_second_person_when_the_rules_say_so(
    client, app, world, clock
):
    manager = _headers(app, world, clock, "manager")
    admin = _headers(app, world, clock, "acme-admin")
    acme = world.tenants["acme"].id
    rules = client.patch(
        f"/v1/tenants/{acme}", json={"beneficiary_approval_required": True}, headers=manager
    )
    assert rules.status_code == 200, rules.text
    added = _add(client, admin)
    assert added.status_code == 201
    assert added.json()["status"] == "pending_approval"
    beneficiary = f"/v1/beneficiaries/{added.json()['id']}"

    own = client.post(f"{beneficiary}/approve", headers=admin)
    assert own.status_code == 403
    assert own.json() == {
        "error": "self_approval_forbidden",
        "detail": "You added this beneficiary: another person must approve it.",
    }
    assert client.get(beneficiary, headers=admin).json()["status"] == "pending_approval"

    second = _second_admin(client, app, world, clock)
    approved = client.post(f"{beneficiary}/approve", headers=second)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "active"
    assert approved.json()["approved_at"] is not None
    assert approved.json()["added_by"] == world.user_id("acme-admin")
    again = client.post(f"{beneficiary}/approve", headers=second)
    assert again.status_code == 409
    assert again.json()["error"] == "beneficiary_not_pending"

    # The world's new supplier, added by the payer, acme-admin may approve.
    pending = client.get("/v1/beneficiaries", params={"status": "pending_approval"}, headers=admin)
    assert [b["name"] for b in pending.json()["items"]] == ["New Supplier Ltd"]
    supplier = world.beneficiary_id("acme-new-supplier")
    assert client.post(f"/v1/beneficiaries/{supplier}/approve", headers=admin).status_code == 200
    assert (
        client.get(
            "/v1/beneficiaries", params={"status": "pending_approval"}, headers=admin
        ).json()["items"]
        == []
    )
    active = client.get("/v1/beneficiaries", params={"status": "active"}, headers=admin).json()
    assert len(active["items"]) == 3

    compliance = _headers(app, world, clock, "compliance")
    decisions = client.get(
        "/v1/decisions", params={"action": "beneficiary.approve"}, headers=compliance
    ).json()["items"]
    # The second approval of one already active was allowed by the policy, then refused (409).
    assert sorted((d["decision"], d["reason"]) for d in decisions) == [
        ("allow", "ok"),
        ("allow", "ok"),
        ("allow", "ok"),
        ("deny", "self_approval_forbidden"),
    ]
    log = client.get("/v1/changes", params={"entity": "beneficiary"}, headers=compliance).json()
    approvals = [c for c in log["items"] if c["change"] == "approve"]
    assert {c["before"]["status"] for c in approvals} == {"pending_approval"}
    assert {c["after"]["status"] for c in approvals} == {"active"}


def test_another_companys_beneficiary_is_not_found_on_every_route(client, app, world, clock):
    globex = _headers(app, world, clock, "globex-admin")
    theirs = world.beneficiary_id("acme-new-supplier")
    unused = 999_999
    for method, suffix, body in (
        ("GET", "", None),
        ("PATCH", "", {"name": "Mine now"}),
        ("DELETE", "", None),
        ("POST", "/approve", None),
    ):
        answers = []
        for target in (theirs, unused):
            response = client.request(
                method, f"/v1/beneficiaries/{target}{suffix}", json=body, headers=globex
            )
            answers.append((response.status_code, response.text.replace(str(target), "<id>")))
        assert answers[0] == answers[1], (method, suffix, answers)
        assert answers[0][0] == 404
    listed = client.get("/v1/beneficiaries", headers=globex).json()["items"]
    assert [b["name"] for b in listed] == ["Lieferant GmbH"]
    assert {b["tenant_id"] for b in listed} == {world.tenants["globex"].id}
    acme_filter = client.get(
        "/v1/beneficiaries", params={"tenant_id": world.tenants["acme"].id}, headers=globex
    )
    assert acme_filter.json()["items"] == []
    admin = _headers(app, world, clock, "acme-admin")
    assert client.get(f"/v1/beneficiaries/{theirs}", headers=admin).json()["name"] == (
        "New Supplier Ltd"
    )


def test_the_bank_sets_a_customers_payment_rules(client, app, world, clock):
    manager = _headers(app, world, clock, "manager")
    acme = f"/v1/tenants/{world.tenants['acme'].id}"
    before = client.get(acme, headers=manager).json()
    assert (
        before["beneficiary_approval_required"],
        before["new_beneficiary_hours"],
        before["payment_expiry_days"],
    ) == (False, 24, 7)
    changed = client.patch(
        acme,
        json={
            "beneficiary_approval_required": True,
            "new_beneficiary_hours": 48,
            "payment_expiry_days": 3,
        },
        headers=manager,
    )
    assert changed.status_code == 200, changed.text
    assert client.get(acme, headers=manager).json() == changed.json()
    assert changed.json()["new_beneficiary_hours"] == 48
    only_hours = client.patch(acme, json={"new_beneficiary_hours": 0}, headers=manager).json()
    assert (only_hours["new_beneficiary_hours"], only_hours["payment_expiry_days"]) == (0, 3)

    for wrong in (
        {"new_beneficiary_hours": -1},
        {"new_beneficiary_hours": 721},
        {"payment_expiry_days": 0},
        {"payment_expiry_days": 31},
        {"beneficiary_approval_required": "yes"},
        {"timezone": "UTC"},
    ):
        refused = client.patch(acme, json=wrong, headers=manager)
        assert refused.status_code == 422, wrong
        assert refused.json()["error"] == "invalid_request", wrong
    compliance = _headers(app, world, clock, "compliance")
    refused = client.patch(acme, json={"payment_expiry_days": 5}, headers=compliance)
    assert refused.status_code == 403 and refused.json()["error"] == "missing_permission"
    for username in ("acme-admin", "globex-admin"):
        hidden = client.patch(
            acme, json={"payment_expiry_days": 5}, headers=_headers(app, world, clock, username)
        )
        assert hidden.status_code == 404, username

    log = client.get("/v1/changes", params={"entity": "tenant"}, headers=compliance).json()
    first = log["items"][-1]
    assert (first["change"], first["before"]["new_beneficiary_hours"]) == ("update", 24)
    assert first["after"]["new_beneficiary_hours"] == 48
    activity = client.get("/v1/activity", headers=manager).json()["items"]
    assert activity[-1]["detail"].startswith(
        "changed the payment rules of Acme Ltd: new beneficiaries need a second person's approval"
    )
