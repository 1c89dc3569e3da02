"""Policy versions are the deployment's (one policy for every bank it serves): every bank's
staff who read versions read them all, since each bank decides under the version in force.
Deciding one — approve, reject, activate — is for the staff of the author's bank alone
(peer_required), never the author nor anyone tied to them among the bank's staff
(approver_tied_to_requester: core.policy.ties). A version's impact replays the asking staff's
own bank's decisions only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from core.models.audit import DecisionRecord
from core.models.iam import User
from tests.factories import PASSWORD, bearer, with_logged_decision
from tests.policy_versions_world import other_bank_officer, second_officer, stored_version


def _status(client: Any, headers: dict[str, str], version_id: int) -> str:
    answer = client.get(f"/v1/policy/versions/{version_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["status"])


def _decide(client: Any, headers: dict[str, str], version_id: int, step: str) -> Any:
    body = {"reason": "not ours"} if step == "reject" else None
    return client.post(f"/v1/policy/versions/{version_id}/{step}", json=body, headers=headers)


def test_another_banks_staff_read_a_version_but_do_not_decide_it(client, app, db, world, clock):
    other = bearer(app, other_bank_officer(db, app.state.services.passwords, clock), clock)
    compliance = bearer(app, world.users["compliance"], clock)
    proposed = stored_version(db, clock, world.user_id("manager"), "the manager's proposal")
    # Read: the version would govern the other bank too.
    assert _status(client, other, proposed) == "proposed"
    for step in ("approve", "reject"):
        refused = _decide(client, other, proposed, step)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "peer_required"
    assert _status(client, compliance, proposed) == "proposed"
    assert _decide(client, compliance, proposed, "approve").status_code == 200
    refused = _decide(client, other, proposed, "activate")
    assert refused.status_code == 403 and refused.json()["error"] == "peer_required"
    assert _status(client, compliance, proposed) == "approved"
    # The deploy's own proposal has no author bank: any bank's staff may decide it.
    deployed = stored_version(db, clock, None, "the deploy's proposal")
    assert _decide(client, other, deployed, "approve").status_code == 200


def test_who_is_tied_to_the_author_does_not_decide_a_version(client, app, db, world, clock):
    """The manager creates an officer and gives them the role (dual control off: at once):
    neither decides the other's version."""
    manager = bearer(app, world.users["manager"], clock)
    made = client.post(
        "/v1/users",
        json={"username": "puppet-officer", "display_name": "Puppet", "password": PASSWORD},
        headers=manager,
    )
    assert made.status_code == 201, made.text
    puppet_id = made.json()["id"]
    roles = client.get("/v1/roles", headers=manager).json()
    officer_role = next(r["id"] for r in roles if r["key"] == "compliance_officer")
    granted = client.post(
        "/v1/grants", json={"user_id": puppet_id, "role_id": officer_role}, headers=manager
    )
    assert granted.status_code == 201, granted.text
    with db.unit_of_work(write=False) as session:
        puppet_user = session.get(User, puppet_id)
        session.expunge(puppet_user)
    puppet = bearer(app, puppet_user, clock)

    by_manager = stored_version(db, clock, world.user_id("manager"), "the manager's")
    by_puppet = stored_version(db, clock, puppet_id, "the puppet's")
    for who, version_id in ((puppet, by_manager), (manager, by_puppet)):
        for step in ("approve", "reject"):
            refused = _decide(client, who, version_id, step)
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"] == "approver_tied_to_requester"
    # An untied officer decides both; and activating is held to the same tie.
    second = bearer(app, second_officer(world, db, app.state.services.passwords, clock), clock)
    compliance = bearer(app, world.users["compliance"], clock)
    assert _decide(client, compliance, by_puppet, "approve").status_code == 200
    refused = _decide(client, manager, by_puppet, "activate")
    assert refused.status_code == 403 and refused.json()["error"] == "approver_tied_to_requester"
    assert _decide(client, second, by_puppet, "activate").status_code == 200


def test_the_impact_replays_the_asking_banks_decisions_only(client, app, db, world, clock):
    other_user = other_bank_officer(db, app.state.services.passwords, clock)
    other = bearer(app, other_user, clock)
    compliance = bearer(app, world.users["compliance"], clock)
    with_logged_decision(db, world, clock)
    with db.unit_of_work() as session:
        session.add(
            DecisionRecord(
                at=clock.now(),
                actor_id=other_user.id,
                bank_id=other_user.bank_id,
                action="decision.read",
                resource_type="bank",
                decision="allow",
                reason="ok",
                policy_version="0" * 16,
                eval_us=1,
            )
        )
    with db.unit_of_work(write=False) as session:
        counted = dict(
            session.execute(
                select(DecisionRecord.bank_id, func.count()).group_by(DecisionRecord.bank_id)
            ).all()
        )
    version_id = stored_version(db, clock, world.user_id("manager"), "impact")
    for who, bank_id in ((compliance, world.bank.id), (other, other_user.bank_id)):
        impact = client.post(f"/v1/policy/versions/{version_id}/impact", json={}, headers=who)
        assert impact.status_code == 200, impact.text
        assert impact.json()["bank_id"] == bank_id
        assert impact.json()["considered"] == counted[bank_id]
