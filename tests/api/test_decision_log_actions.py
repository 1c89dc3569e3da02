"""The decision log's action filter: every action the policy can be asked about (and so can
be logged) is offered, payment.reject and payment.cancel among them, and the API and the
console take the list from one place (core.policy.matrix.actions: vocabulary.polar's
action/1); a name outside it is 422 unknown_action rather than an empty log."""

from __future__ import annotations

import re

import pytest
from oso import Variable

from core.policy import engine as policy_engine
from core.policy.matrix import actions
from tests.admin.console import sign_in
from tests.factories import bearer, new_key
from tests.payments_world import PaymentsWorld, build_payments_world


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    return build_payments_world(db, app.state.services.passwords, world, clock)


def test_every_action_asked_of_the_policy_is_offered():
    offered = actions()
    engine = policy_engine.current()
    names = ("name", "level", "text")
    permissions = {
        str(a["name"]) for a in engine.query("permission", *(Variable(n) for n in names))
    }
    assert permissions <= set(offered)
    assert {"payment.reject", "payment.cancel", "beneficiary.approve", "self.read"} <= set(offered)
    assert len(offered) == len(set(offered))


def test_the_api_filters_rejections_and_cancellations_and_refuses_unknown_actions(
    client, app, pw, clock
):
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    made = []
    for _ in range(2):
        answer = client.post(
            "/v1/payments",
            json={
                "account_id": pw.world.account_id("acme-operating"),
                "beneficiary_id": pw.beneficiary_id("supplier"),
                "amount": 20_000_00,
                "currency": "EUR",
            },
            headers={**payer, "Idempotency-Key": new_key()},
        )
        made.append(answer.json()["id"])
    approver = bearer(app, pw.world.users["acme-approver-b"], clock)
    client.post(f"/v1/payments/{made[0]}/reject", json={"reason": "no"}, headers=approver)
    client.post(f"/v1/payments/{made[1]}/cancel", json={}, headers=payer)
    compliance = bearer(app, pw.world.users["compliance"], clock)
    for action in ("payment.reject", "payment.cancel"):
        log = client.get("/v1/decisions", params={"action": action}, headers=compliance)
        assert log.status_code == 200, log.text
        assert {d["action"] for d in log.json()["items"]} == {action}, action
    unknown = client.get("/v1/decisions", params={"action": "payment.rejekt"}, headers=compliance)
    assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_action"


def test_the_console_offers_the_same_actions(client, world):
    sign_in(client, "compliance")
    page = client.get("/console/decisions").text
    select = page[
        page.index('id="f-action"') : page.index("</select>", page.index('id="f-action"'))
    ]
    assert re.findall(r'<option value="([^"]+)"', select) == actions()
