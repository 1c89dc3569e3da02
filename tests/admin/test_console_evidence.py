"""The console's evidence for compliance: the audit key, the latest checkpoints and a form
that downloads the same signed bundle as GET /v1/audit/export (verified offline here); and
GDPR access as a download, for the person themself and their admin. Customers, managers and
other companies find none of it."""

from __future__ import annotations

import io
import json
import zipfile

from core.audit import offline
from core.audit.checkpoints import take_checkpoints
from tests.admin.console import sign_in
from tests.core.audit.test_chain import _traffic

DAY = "2026-11-25"  # the tests' clock's day


def test_compliance_sees_checkpoints_and_downloads_a_bundle_that_verifies(
    client, app, world, clock, db, tmp_path
):
    _traffic(client, app, world, clock)
    with db.unit_of_work() as session:
        taken = take_checkpoints(session, app.state.services.audit_key, clock.now())
    sign_in(client, "compliance")
    page = client.get("/console/evidence")
    assert page.status_code == 200, page.text
    assert app.state.services.audit_key.key_id in page.text
    assert all(point.head_hash[:16] in page.text for point in taken)
    assert 'id="export"' in page.text

    acme = world.tenants["acme"].id
    bundle = client.get(f"/console/evidence/export?from={DAY}&to={DAY}&tenant={acme}")
    assert bundle.status_code == 200, bundle.text
    assert bundle.headers["content-type"] == "application/zip"
    assert f"mandate-audit-{acme}-{DAY}-{DAY}.zip" in bundle.headers["content-disposition"]
    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle.content)
    assert offline.verify_bundle(str(path)).ok
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert [c["chain"] for c in manifest["chains"]] == [f"tenant:{acme}"]


def test_a_period_the_export_cannot_take_is_shown_again(client, world):
    sign_in(client, "compliance")
    backwards = client.get("/console/evidence/export?from=2026-11-25&to=2026-11-01")
    assert backwards.status_code == 422
    assert 'role="alert"' in backwards.text and 'value="2026-11-25"' in backwards.text
    not_a_day = client.get("/console/evidence/export?from=yesterday&to=2026-11-01")
    assert not_a_day.status_code == 422 and "A day, as 2026-11-30." in not_a_day.text
    foreign = client.get(f"/console/evidence/export?from={DAY}&to={DAY}&tenant=99999")
    assert foreign.status_code == 404


def test_customers_and_managers_find_no_evidence_page(client, world):
    for who in ("acme-admin", "manager", "globex-admin", "acme-payer"):
        sign_in(client, who)
        assert client.get("/console/evidence").status_code == 404, who
        export = client.get(f"/console/evidence/export?from={DAY}&to={DAY}")
        assert export.status_code == 404, who
        assert "Audit evidence" not in client.get("/console/activity").text


def test_a_person_and_their_admin_download_their_personal_data(client, world):
    payer = world.user_id("acme-payer")
    sign_in(client, "acme-payer")
    activity = client.get("/console/activity")
    assert f"/console/users/{payer}/personal-data.json" in activity.text
    own = client.get(f"/console/users/{payer}/personal-data.json")
    assert own.status_code == 200, own.text
    assert "attachment" in own.headers["content-disposition"]
    held = json.loads(own.content)
    assert held["profile"]["username"] == "acme-payer"
    # A colleague's is refused (as the API refuses it: the matrix's row); another
    # company's person is not found, as if there were no such person.
    other = world.user_id("acme-bookkeeper")
    assert client.get(f"/console/users/{other}/personal-data.json").status_code == 403

    sign_in(client, "acme-admin")
    assert f"/users/{payer}/personal-data.json" in client.get(f"/console/users/{payer}").text
    by_admin = client.get(f"/console/users/{payer}/personal-data.json")
    assert by_admin.status_code == 200
    again = json.loads(by_admin.content)
    assert (again["profile"], again["grants"]) == (held["profile"], held["grants"])
    # The first download was itself a decision about the payer (logged, and so shown).
    assert [d["action"] for d in again["decisions"]] == ["personal_data.read"]

    sign_in(client, "globex-admin")
    assert client.get(f"/console/users/{payer}/personal-data.json").status_code == 404
