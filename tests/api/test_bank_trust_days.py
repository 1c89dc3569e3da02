"""The bank's trust days (`dual_admin_trust_days`, a bank setting: 0..365, 30 by default): how
long what one of its staff did to another ties them (core.policy.ties), for the bank's change
requests and for versions of the policy alike. Set through PATCH /v1/bank/settings (under the
bank's dual control when that is on), shown by GET."""

from __future__ import annotations

from typing import Any

import pytest

from core.models.iam import User
from tests.api.test_change_requests import _approve
from tests.factories import PASSWORD, bearer
from tests.governance_world import turn_on
from tests.policy_versions_world import stored_version


def _settings(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    answer = client.get("/v1/bank/settings", headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_the_trust_days_are_a_bank_setting(client, app, world, clock):
    manager = bearer(app, world.users["manager"], clock)
    assert _settings(client, manager)["dual_admin_trust_days"] == 30
    changed = client.patch("/v1/bank/settings", json={"dual_admin_trust_days": 7}, headers=manager)
    assert changed.status_code == 200, changed.text
    assert changed.json()["dual_admin_trust_days"] == 7
    assert _settings(client, manager)["dual_admin_trust_days"] == 7
    compliance = bearer(app, world.users["compliance"], clock)
    assert _settings(client, compliance)["dual_admin_trust_days"] == 7


@pytest.mark.parametrize("days", [-1, 366, "7", 1.5, None])
def test_trust_days_out_of_range_are_refused(client, app, world, clock, days):
    manager = bearer(app, world.users["manager"], clock)
    refused = client.patch(
        "/v1/bank/settings", json={"dual_admin_trust_days": days}, headers=manager
    )
    if days is None:  # a patch that leaves it out changes nothing
        assert refused.status_code == 200 and refused.json()["dual_admin_trust_days"] == 30
        return
    assert refused.status_code == 422, refused.text
    assert _settings(client, manager)["dual_admin_trust_days"] == 30


def test_under_dual_control_changing_them_waits_for_a_second_manager(client, app, db, world, clock):
    turn_on(db, clock, bank=True)
    manager = bearer(app, world.users["manager"], clock)
    asked = client.patch("/v1/bank/settings", json={"dual_admin_trust_days": 0}, headers=manager)
    assert asked.status_code == 202, asked.text
    assert asked.json()["after"]["dual_admin_trust_days"] == 0
    assert _settings(client, manager)["dual_admin_trust_days"] == 30


def test_the_banks_ties_last_its_trust_days(client, app, db, world, clock):
    """A manager who made another manager lately is tied to them for the bank's trust days (7
    here), for a bank-level change request as for a version of the policy; then no more."""
    manager = bearer(app, world.users["manager"], clock)
    assert (
        client.patch(
            "/v1/bank/settings", json={"dual_admin_trust_days": 7}, headers=manager
        ).status_code
        == 200
    )
    made = client.post(
        "/v1/users",
        json={"username": "manager-3", "display_name": "Third", "password": PASSWORD},
        headers=manager,
    ).json()
    roles = client.get("/v1/roles", headers=manager).json()
    role = next(r["id"] for r in roles if r["key"] == "bank_manager")
    granted = client.post(
        "/v1/grants", json={"user_id": made["id"], "role_id": role}, headers=manager
    )
    assert granted.status_code == 201, granted.text
    turn_on(db, clock, bank=True)
    with db.unit_of_work(write=False) as session:
        third_user = session.get(User, made["id"])
        session.expunge(third_user)
    third = bearer(app, third_user, clock)
    asked = client.put("/v1/bank/caps/EUR", json={"per_transfer": 9_00}, headers=third)
    version_id = stored_version(db, clock, made["id"], "the third manager's")
    refused = _approve(client, asked.json()["id"], manager)
    assert refused.status_code == 403 and refused.json()["error"] == "approver_tied_to_requester"
    refused = client.post(f"/v1/policy/versions/{version_id}/approve", headers=manager)
    assert refused.status_code == 403 and refused.json()["error"] == "approver_tied_to_requester"

    clock.advance(days=8)
    manager = bearer(app, world.users["manager"], clock)
    third = bearer(app, third_user, clock)
    later = client.put("/v1/bank/caps/EUR", json={"per_transfer": 8_00}, headers=third)
    assert _approve(client, later.json()["id"], manager).json()["status"] == "applied"
    approved = client.post(f"/v1/policy/versions/{version_id}/approve", headers=manager)
    assert approved.status_code == 200, approved.text
