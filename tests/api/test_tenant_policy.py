"""Per-tenant policy through the API: a company's extension proposed, replayed on its week,
approved and put in force by a second person, refusing that company's payment with its own
reason and sentence while another company is unaffected; an extension that would allow, or
define anything but its refusals, refused when proposed; a version rolled out to one tenant
first, then to all, and a tenant moved back; who may see what."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.models.audit import DecisionRecord
from core.models.policy_versions import PolicyVersion
from core.policy import engine as policy_engine
from core.policy import registry
from core.settings import REPO_ROOT
from tests.batches_world import Credit, pain001, upload
from tests.factories import World, bearer, new_key, unit_of_work
from tests.policy_versions_world import second_officer, tighter_bookkeeper, with_policy_in_force
from tests.tenant_policy_world import (
    FRIDAY,
    REASON,
    SENTENCE,
    friday_extension,
    with_young_beneficiaries,
)


@pytest.fixture
def scene(app, world: World, db, clock) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    second_officer(world, db, app.state.services.passwords, clock)
    default_id = with_policy_in_force(db, clock)
    clock.at = FRIDAY
    payees = with_young_beneficiaries(db, world, clock)
    who = {
        name: bearer(app, world.users[name], clock)
        for name in (
            "manager",
            "compliance",
            "compliance-b",
            "acme-admin",
            "acme-payer",
            "acme-bookkeeper",
            "globex-admin",
            "globex-payer",
        )
    }
    return {"who": who, "payees": payees, "default_id": default_id}


@pytest.fixture(autouse=True)
def _back_to_the_files():  # type: ignore[no-untyped-def]
    yield
    registry.REGISTRY.clear()
    policy_engine.ensure_loaded(REPO_ROOT / "policies")


def _sync(app) -> None:  # type: ignore[no-untyped-def]
    """What the watcher thread of a served process does within its poll interval."""
    app.state.policy_watcher.sync()


def _pay(client: TestClient, who: dict[str, str], account: int, beneficiary: int) -> Any:
    return client.post(
        "/v1/payments",
        headers={**who, "Idempotency-Key": new_key()},
        json={
            "account_id": account,
            "beneficiary_id": beneficiary,
            "amount": 100_00,
            "currency": "EUR",
            "reference": "Invoice 7",
        },
    )


def _put_in_force(client: TestClient, scene: dict[str, Any], body: dict[str, Any]) -> Any:
    """The bank manager proposes, compliance approves and puts it in force."""
    who = scene["who"]
    proposed = client.post("/v1/policy/versions", json=body, headers=who["manager"])
    assert proposed.status_code == 201, proposed.text
    version = proposed.json()
    path = f"/v1/policy/versions/{version['id']}"
    assert client.post(f"{path}/approve", headers=who["compliance"]).status_code == 200
    activated = client.post(f"{path}/activate", headers=who["compliance"])
    assert activated.status_code == 200, activated.text
    return activated.json()


def test_acmes_extension_refuses_its_payment_with_its_sentence_and_globex_is_unaffected(
    client, app, db, world, clock, scene
):
    who, payees = scene["who"], scene["payees"]
    acme = world.tenants["acme"].id
    proposed = client.post(
        "/v1/policy/versions", json=friday_extension(acme), headers=who["manager"]
    )
    assert proposed.status_code == 201, proposed.text
    version = proposed.json()
    assert version["tenant_id"] == acme and version["status"] == "proposed"
    assert version["rules"] == [{"reason": REASON, "text": SENTENCE}]
    assert version["validation"]["cases_passed"] == version["validation"]["cases_run"] == 3
    path = f"/v1/policy/versions/{version['id']}"

    # Its impact: Acme's week only, under the policy Acme would run.
    impact = client.post(f"{path}/impact", json={}, headers=who["manager"])
    assert impact.status_code == 200, impact.text
    assert impact.json()["tenant_ids"] == [acme]
    assert [t["extension_version"] for t in impact.json()["tenants"]] == [version["hash"]]

    # Four eyes: who proposed it neither approves nor activates it.
    refused = client.post(f"{path}/approve", headers=who["manager"])
    assert refused.status_code == 403 and refused.json()["error"] == "self_approval_forbidden"
    assert client.post(f"{path}/approve", headers=who["compliance"]).status_code == 200
    refused = client.post(f"{path}/activate", headers=who["manager"])
    assert refused.status_code == 403 and refused.json()["error"] == "self_approval_forbidden"
    activated = client.post(f"{path}/activate", headers=who["compliance"])
    assert activated.status_code == 200, activated.text
    assert activated.json()["status"] == "active"
    _sync(app)

    acme_account = world.account_id("acme-operating")
    refused = _pay(client, who["acme-payer"], acme_account, payees["acme"])
    assert refused.status_code == 403, refused.text
    assert refused.json() == {"error": REASON, "detail": SENTENCE}
    # An old payee, or Globex's new one, is paid as ever.
    old = _pay(client, who["acme-payer"], acme_account, world.beneficiary_id("acme-supplier"))
    assert old.status_code in (201, 202), old.text
    globex = _pay(client, who["globex-payer"], world.account_id("globex-main"), payees["globex"])
    assert globex.status_code in (201, 202), globex.text

    # Each decision is logged with the policy it was made under.
    def logged(session, _ctx):  # type: ignore[no-untyped-def]
        rows = session.scalars(
            select(DecisionRecord).where(DecisionRecord.action == "payment.create")
        )
        return [(r.tenant_id, r.reason, r.extension_version) for r in rows]

    decisions = unit_of_work(db, clock, write=False).run(logged)
    assert (acme, REASON, version["hash"]) in decisions
    assert (acme, "ok", version["hash"]) in decisions
    assert (world.tenants["globex"].id, "ok", None) in decisions

    # Bank staff see who runs what; Acme's admins read their rules in words, Globex's not.
    assignments = client.get("/v1/policy/assignments", headers=who["compliance"]).json()
    rows = {row["tenant_id"]: row for row in assignments["tenants"]}
    assert rows[acme]["extension_id"] == version["id"] and not rows[acme]["pinned"]
    assert rows[world.tenants["globex"].id]["extension_id"] is None
    rules = client.get(f"/v1/tenants/{acme}/rules", headers=who["acme-admin"])
    assert rules.status_code == 200
    assert rules.json()["rules"] == [{"reason": REASON, "text": SENTENCE}]
    hidden = client.get(f"/v1/tenants/{acme}/rules", headers=who["globex-admin"])
    assert hidden.status_code == 404
    assert (
        client.get(f"/v1/policy/versions/{version['id']}", headers=who["acme-admin"]).status_code
        == 404
    )

    # Taken away again (four eyes as for putting it in force): Acme pays its new payee.
    moved = client.put(
        f"/v1/tenants/{acme}/policy",
        json={"version_id": None, "extension_id": None},
        headers=who["compliance-b"],
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["extension_id"] is None
    again = client.put(
        f"/v1/tenants/{acme}/policy",
        json={"version_id": None, "extension_id": None},
        headers=who["compliance"],
    )
    assert again.status_code == 200 and again.json() == moved.json()  # nothing changes
    _sync(app)
    assert _pay(client, who["acme-payer"], acme_account, payees["acme"]).status_code in (201, 202)
    retired = client.get(path, headers=who["compliance"]).json()
    assert retired["status"] == "retired"


BAD_EXTENSIONS = {
    "allows": 'decide(_request, "allow", "ok", nil, {});',
    "redefines a role": 'builtin_carries("bookkeeper", "transfer.create");',
    "an allow rule": "allow(_actor, _action, _resource);",
    "a resource block": 'resource Account { permissions = ["read"]; }',
    "a rule type": "type tenant_refuses(request: Dictionary, reason: String, text: String);",
    "a negation": ('tenant_refuses(request, "tenant_rule:x", "No.") if not request.amount > 5;'),
    "a call": 'tenant_refuses(request, "tenant_rule:x", "No.") if carries(request, "a");',
    "a reason of the platform's": 'tenant_refuses(request, "limit_daily", "No.");',
    "a second rule beside": (
        'tenant_refuses(request, "tenant_rule:x", "No.") if request.amount > 5;\n'
        "visible(_actor, _resource);"
    ),
}


@pytest.mark.parametrize("text", list(BAD_EXTENSIONS.values()), ids=list(BAD_EXTENSIONS))
def test_an_extension_that_would_allow_or_define_more_than_refusals_is_refused(
    client, world, db, clock, scene, text
):
    body = {**friday_extension(world.tenants["acme"].id), "files": {"acme.polar": text}}
    response = client.post("/v1/policy/versions", json=body, headers=scene["who"]["manager"])
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "policy_invalid"
    assert response.json()["report"]["extension_errors"]

    def stored(session, _ctx):  # type: ignore[no-untyped-def]
        return list(
            session.scalars(select(PolicyVersion).where(PolicyVersion.tenant_id.is_not(None)))
        )

    assert unit_of_work(db, clock, write=False).run(stored) == []


def test_an_extension_whose_cases_miss_its_rule_or_fail_is_refused(client, world, scene):
    acme = world.tenants["acme"].id
    uncovered = {**friday_extension(acme), "cases": {}}
    response = client.post("/v1/policy/versions", json=uncovered, headers=scene["who"]["manager"])
    assert response.status_code == 422
    assert response.json()["report"]["uncovered_rules"] == [REASON]
    wrong = friday_extension(acme)
    wrong["cases"]["acme.yaml"] = wrong["cases"]["acme.yaml"].replace(
        "beneficiary_age_days: 30, expect: allow", "beneficiary_age_days: 3, expect: allow"
    )
    response = client.post("/v1/policy/versions", json=wrong, headers=scene["who"]["manager"])
    assert response.status_code == 422
    assert [f["name"] for f in response.json()["failures"]] == ["an old one on a Friday"]


def test_an_extension_for_a_company_out_of_reach_is_not_found(client, scene):
    body = friday_extension(987_654)
    response = client.post("/v1/policy/versions", json=body, headers=scene["who"]["manager"])
    assert response.status_code == 404


def _statement(client: TestClient, who: dict[str, str], account: int) -> int:
    return client.get(f"/v1/accounts/{account}/entries", headers=who).status_code


def test_a_version_goes_to_globex_first_then_to_all_and_acme_moves_back(client, app, world, scene):
    who = scene["who"]
    acme, globex = world.tenants["acme"].id, world.tenants["globex"].id
    # Globex's payer carries statement.read as the bookkeeper does: the tighter version takes
    # it from bookkeepers only, so Acme's bookkeeper shows who runs which.
    acme_account = world.account_id("acme-operating")
    assert _statement(client, who["acme-bookkeeper"], acme_account) == 200
    proposed = client.post(
        "/v1/policy/versions", json=tighter_bookkeeper(), headers=who["compliance"]
    )
    assert proposed.status_code == 201, proposed.text
    version = proposed.json()
    path = f"/v1/policy/versions/{version['id']}"
    assert client.post(f"{path}/approve", headers=who["compliance-b"]).status_code == 200

    # Step 1, Globex: its impact, then the canary; Acme stays on the default.
    step = client.post(f"{path}/impact", json={"tenants": [globex]}, headers=who["compliance-b"])
    assert step.status_code == 200 and step.json()["tenant_ids"] == [globex]
    canary = client.post(
        f"{path}/activate", json={"tenants": [globex]}, headers=who["compliance-b"]
    )
    assert canary.status_code == 200, canary.text
    assert canary.json()["status"] == "approved"  # not the default yet
    _sync(app)
    rows = {
        r["tenant_id"]: r
        for r in client.get("/v1/policy/assignments", headers=who["compliance"]).json()["tenants"]
    }
    assert rows[globex]["pinned"] and rows[globex]["version_id"] == version["id"]
    assert not rows[acme]["pinned"] and rows[acme]["version_id"] == scene["default_id"]
    assert _statement(client, who["acme-bookkeeper"], acme_account) == 200

    # Step 2, all: Acme's impact shows its bookkeeper's reads turning to refusals.
    step = client.post(f"{path}/impact", json={"tenants": [acme]}, headers=who["compliance-b"])
    flips = {(c["action"], c["to_reason"]) for c in step.json()["changes"]}
    assert ("statement.read", "missing_permission") in flips
    promoted = client.post(f"{path}/activate", headers=who["compliance-b"])
    assert promoted.status_code == 200 and promoted.json()["status"] == "active"
    _sync(app)
    assert _statement(client, who["acme-bookkeeper"], acme_account) == 404
    rows = {
        r["tenant_id"]: r
        for r in client.get("/v1/policy/assignments", headers=who["compliance"]).json()["tenants"]
    }
    assert not rows[globex]["pinned"]  # it follows the default again, which is the version

    # Acme moves back to the old default: retired, it needs a fresh approval first.
    back = {"version_id": scene["default_id"], "extension_id": None}
    refused = client.put(f"/v1/tenants/{acme}/policy", json=back, headers=who["compliance"])
    assert refused.status_code == 409 and refused.json()["error"] == "policy_version_not_approved"
    old = f"/v1/policy/versions/{scene['default_id']}"
    assert client.post(f"{old}/approve", headers=who["compliance"]).status_code == 200
    refused = client.put(f"/v1/tenants/{acme}/policy", json=back, headers=who["compliance"])
    assert refused.status_code == 403 and refused.json()["error"] == "self_approval_forbidden"
    moved = client.put(f"/v1/tenants/{acme}/policy", json=back, headers=who["compliance-b"])
    assert moved.status_code == 200 and moved.json()["pinned"]
    _sync(app)
    assert _statement(client, who["acme-bookkeeper"], acme_account) == 200

    # A version some tenant runs is not rejected under it.
    refused = client.post(f"{old}/reject", json={"reason": "no"}, headers=who["compliance-b"])
    assert refused.status_code == 409 and refused.json()["error"] == "policy_version_in_use"


def test_a_payment_file_to_a_new_payee_is_refused_by_the_company_rule_as_one_payment_is(
    client, app, world, scene
):
    """A regression: a file's payments were decided without their beneficiary's age, so a rule
    on it (Acme's: no new payees on a Friday) was bypassed by uploading a pain.001."""
    who, acme = scene["who"], world.tenants["acme"].id
    _put_in_force(client, scene, friday_extension(acme))
    _sync(app)
    debtor = world.accounts["acme-operating"].iban or ""
    young = world.accounts["globex-main"].iban or ""
    old = world.beneficiaries["acme-supplier"].iban
    made = upload(
        client,
        who["acme-payer"],
        pain001(debtor, [Credit("New payee of acme", young, 100_00), Credit("Old", old, 100_00)]),
    )
    assert made.status_code in (201, 202), made.text
    items = made.json()["items"]
    assert (items[0]["status"], items[0]["error"], items[0]["detail"]) == (
        "refused",
        REASON,
        SENTENCE,
    )
    assert items[1]["status"] != "refused", items[1]
