"""The audit evidence over the API: compliance reads the signed checkpoints and the audit key;
customers and other staff find none."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization

from core.audit import canonical
from core.audit.checkpoints import take_checkpoints
from core.audit.verify import checkpoint_problem
from tests.core.audit.test_chain import _traffic
from tests.factories import bearer


def test_compliance_reads_checkpoints_that_verify_with_the_published_key(
    client, app, world, clock, db
):
    _traffic(client, app, world, clock)
    key = app.state.services.audit_key
    with db.unit_of_work() as session:
        taken = take_checkpoints(session, key, clock.now())
    assert taken
    compliance = bearer(app, world.users["compliance"], clock)
    published = client.get("/v1/audit/key", headers=compliance)
    assert published.status_code == 200, published.text
    public_key = serialization.load_pem_public_key(published.json()["public_key_pem"].encode())
    page = client.get("/v1/audit/checkpoints", headers=compliance).json()
    assert {p["chain"] for p in page["items"]} == {t.chain for t in taken}
    for point in page["items"]:
        assert point["key_id"] == published.json()["key_id"]
        as_stored = {**point, "at": canonical.utc(clock.now())}
        assert checkpoint_problem(as_stored, public_key) is None  # type: ignore[arg-type]
    acme = world.tenants["acme"].id
    only_acme = client.get(f"/v1/audit/checkpoints?tenant_id={acme}", headers=compliance).json()
    assert [p["tenant_id"] for p in only_acme["items"]] == [acme]


def test_customers_and_managers_find_no_audit_evidence(client, app, world, clock):
    for who in ("acme-admin", "manager", "globex-admin"):
        headers = bearer(app, world.users[who], clock)
        assert client.get("/v1/audit/checkpoints", headers=headers).status_code == 404
        assert client.get("/v1/audit/key", headers=headers).status_code == 404
