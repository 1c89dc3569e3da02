"""Ties between requester and approver, both ways and through chains (core.policy.ties): the
maker of a puppet does not approve the puppet's requests, a puppet's puppet does not approve
its maker's maker, nobody approves new rights for someone tied to them, a bank manager's
onboarding ties a company's admins to nobody, and ties older than the trust days count no
more."""

from __future__ import annotations

from typing import Any

from core.models.iam import User
from tests.api.test_change_requests import _approve, _ask_grant, _payer_role, _setup
from tests.factories import PASSWORD, bearer
from tests.governance_world import (
    SECOND_ADMIN,
    turn_on,
    with_second_admin,
    with_second_manager,
)


def _headers_of(app: Any, db: Any, clock: Any, user_id: int) -> dict[str, str]:
    with db.unit_of_work(write=False) as session:
        user = session.get(User, user_id)
        session.expunge(user)
    return bearer(app, user, clock)


def _admin_role(client: Any, headers: dict[str, str]) -> int:
    roles = client.get("/v1/roles", headers=headers).json()
    return next(r["id"] for r in roles if r["key"] == "corporate_admin")


def _new_admin(
    client: Any,
    app: Any,
    db: Any,
    clock: Any,
    maker: dict[str, str],
    second: dict[str, str],
    username: str,
) -> tuple[int, dict[str, str]]:
    """A corporate admin `maker` asks for (created and given the admin role, both approved by
    `second`): the maker counts as having created them and given them the grant."""
    made = client.post(
        "/v1/users",
        json={"username": username, "display_name": username, "password": PASSWORD},
        headers=maker,
    )
    assert made.status_code == 202, made.text
    created = _approve(client, made.json()["id"], second).json()
    assert created["status"] == "applied", created
    user_id = created["result_id"]
    promote = _ask_grant(client, maker, user_id, _admin_role(client, maker))
    assert _approve(client, promote.json()["id"], second).json()["status"] == "applied"
    return user_id, _headers_of(app, db, clock, user_id)


def test_the_maker_does_not_approve_its_puppets_requests(client, app, db, world, clock):
    first, second = _setup(app, db, world, clock)
    _puppet, puppet = _new_admin(client, app, db, clock, first, second, "puppet")
    asked = _ask_grant(client, puppet, world.user_id("acme-bookkeeper"), _payer_role(client, first))
    assert asked.status_code == 202, asked.text
    refused = _approve(client, asked.json()["id"], first)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "approver_tied_to_requester"
    assert "tied" in refused.json()["detail"]
    # Someone untied decides it.
    assert _approve(client, asked.json()["id"], second).json()["status"] == "applied"


def test_a_chain_of_puppets_is_tied_end_to_end(client, app, db, world, clock):
    """A created B, B created C (B's requests, approved by the second admin S): C does not
    approve A's requests, nor A a request that gives C rights; C and A's other puppet D are
    tied too (both A's)."""
    first, second = _setup(app, db, world, clock)
    _b, b = _new_admin(client, app, db, clock, first, second, "puppet-b")
    c_id, c = _new_admin(client, app, db, clock, b, second, "puppet-c")

    asked = _ask_grant(client, first, world.user_id("acme-bookkeeper"), _payer_role(client, first))
    refused = _approve(client, asked.json()["id"], c)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "approver_tied_to_requester"

    rights_for_c = _ask_grant(client, second, c_id, _payer_role(client, first))
    assert rights_for_c.status_code == 202, rights_for_c.text
    refused = _approve(client, rights_for_c.json()["id"], first)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "grantee_tied_to_approver"

    _d, d = _new_admin(client, app, db, clock, first, second, "puppet-d")
    by_c = _ask_grant(client, c, world.user_id("acme-bookkeeper"), _payer_role(client, first))
    refused = _approve(client, by_c.json()["id"], d)
    assert refused.status_code == 403 and refused.json()["error"] == "approver_tied_to_requester"


def test_ties_older_than_the_trust_days_count_no_more(client, app, db, world, clock):
    first, second = _setup(app, db, world, clock)
    b_id, b = _new_admin(client, app, db, clock, first, second, "puppet-b")
    c_id, _c = _new_admin(client, app, db, clock, b, second, "puppet-c")
    role = _payer_role(client, first)
    clock.advance(days=31)
    first = bearer(app, world.users["acme-admin"], clock)
    second = bearer(app, world.users[SECOND_ADMIN], clock)
    b, c = _headers_of(app, db, clock, b_id), _headers_of(app, db, clock, c_id)
    # The reverse tie and the chain, past the trust days: each a second person again.
    by_b = _ask_grant(client, b, world.user_id("acme-bookkeeper"), role)
    assert _approve(client, by_b.json()["id"], first).json()["status"] == "applied"
    by_a = _ask_grant(client, first, world.user_id("acme-payer"), role)
    assert _approve(client, by_a.json()["id"], c).json()["status"] == "applied"
    for_c = _ask_grant(client, second, c_id, role)
    assert _approve(client, for_c.json()["id"], first).json()["status"] == "applied"


def test_two_admins_sharing_their_work_stay_second_persons(client, app, db, world, clock):
    """Both admins gave grants to the same bookkeeper (a third admin approving one of them):
    neither got a hold over the other, so each still approves the other's requests."""
    first, second = _setup(app, db, world, clock)
    third = bearer(
        app,
        with_second_admin(db, app.state.services.passwords, world, clock, "acme-admin-3"),
        clock,
    )
    role = _payer_role(client, first)
    bookkeeper = world.user_id("acme-bookkeeper")
    by_first = _ask_grant(client, first, bookkeeper, role)
    assert _approve(client, by_first.json()["id"], second).json()["status"] == "applied"
    by_second = _ask_grant(client, second, bookkeeper, role)
    assert _approve(client, by_second.json()["id"], third).json()["status"] == "applied"
    # Each asks the other for rights for someone neither touched.
    for asker, approver in ((first, second), (second, first)):
        asked = client.patch(
            f"/v1/users/{world.user_id('acme-payer')}", json={"is_active": False}, headers=asker
        )
        approved = _approve(client, asked.json()["id"], approver)
        assert approved.status_code == 200 and approved.json()["status"] == "applied", approved.text
        reactivated = client.patch(
            f"/v1/users/{world.user_id('acme-payer')}", json={"is_active": True}, headers=approver
        )
        assert _approve(client, reactivated.json()["id"], asker).status_code == 200


def test_the_banks_onboarding_ties_a_companys_admins_to_nobody(client, app, db, world, clock):
    """The bank manager created both admins of a company: they are each other's second
    person (the walk stays among the company's people)."""
    manager = bearer(app, world.users["manager"], clock)
    acme = world.tenants["acme"].id
    admin_role = _admin_role(client, bearer(app, world.users["acme-admin"], clock))
    made = []
    for username in ("onboarded-1", "onboarded-2"):
        user = client.post(
            "/v1/users",
            json={
                "username": username,
                "display_name": username,
                "password": PASSWORD,
                "tenant_id": acme,
            },
            headers=manager,
        )
        assert user.status_code == 201, user.text
        grant = client.post(
            "/v1/grants",
            json={"user_id": user.json()["id"], "role_id": admin_role},
            headers=manager,
        )
        assert grant.status_code == 201, grant.text
        made.append(_headers_of(app, db, clock, user.json()["id"]))
    turn_on(db, clock, tenant=world.tenants["acme"])
    asked = _ask_grant(
        client, made[0], world.user_id("acme-bookkeeper"), _payer_role(client, made[0])
    )
    assert asked.status_code == 202, asked.text
    assert _approve(client, asked.json()["id"], made[1]).json()["status"] == "applied"


def test_bank_staff_are_tied_the_same_way(client, app, db, world, clock):
    """A bank manager who created another manager lately does not approve that manager's
    requests (the reverse tie, among one bank's staff)."""
    with_second_manager(db, app.state.services.passwords, world, clock)
    turn_on(db, clock, bank=True)
    manager = bearer(app, world.users["manager"], clock)
    second = bearer(app, world.users["manager-2"], clock)
    made = client.post(
        "/v1/users",
        json={"username": "manager-3", "display_name": "Third Manager", "password": PASSWORD},
        headers=manager,
    )
    assert made.status_code == 202, made.text
    new_id = _approve(client, made.json()["id"], second).json()["result_id"]
    roles = client.get("/v1/roles", headers=manager).json()
    bank_manager = next(r["id"] for r in roles if r["key"] == "bank_manager")
    promote = client.post(
        "/v1/grants", json={"user_id": new_id, "role_id": bank_manager}, headers=manager
    )
    assert promote.status_code == 202, promote.text
    assert _approve(client, promote.json()["id"], second).json()["status"] == "applied"
    third = _headers_of(app, db, clock, new_id)
    asked = client.put("/v1/bank/caps/EUR", json={"per_transfer": 7_00}, headers=third)
    assert asked.status_code == 202, asked.text
    refused = _approve(client, asked.json()["id"], manager)
    assert refused.status_code == 403 and refused.json()["error"] == "approver_tied_to_requester"
    assert _approve(client, asked.json()["id"], second).json()["status"] == "applied"


def test_narrowing_the_rights_of_someone_tied_to_the_approver_needs_no_third_person(
    client, app, db, world, clock
):
    """acme-admin gave the bookkeeper a grant (so they are tied): lowering its limit, or
    taking a permission from a role the bookkeeper holds, gives nobody new rights, and
    acme-admin may approve it; raising the limit, or adding a permission, they may not."""
    first, second = _setup(app, db, world, clock)
    bookkeeper = world.user_id("acme-bookkeeper")
    given = _ask_grant(client, first, bookkeeper, _payer_role(client, first))
    grant_id = _approve(client, given.json()["id"], second).json()["result_id"]

    def limit(per_transfer: int) -> Any:
        return client.patch(
            f"/v1/grants/{grant_id}",
            json={"limits": {"currency": "EUR", "per_transfer": per_transfer}},
            headers=second,
        )

    lower = limit(100_00)
    lowered = _approve(client, lower.json()["id"], first)
    assert lowered.status_code == 200 and lowered.json()["status"] == "applied", lowered.text
    higher = limit(900_00)
    refused = _approve(client, higher.json()["id"], first)
    assert refused.status_code == 403 and refused.json()["error"] == "grantee_tied_to_approver"

    role = client.post(
        "/v1/roles",
        json={"name": "Reader", "permissions": ["account.read", "statement.read"]},
        headers=second,
    )
    role_id = _approve(client, role.json()["id"], first).json()["result_id"]
    held = _ask_grant(client, first, bookkeeper, role_id)
    assert _approve(client, held.json()["id"], second).json()["status"] == "applied"

    def permissions(*names: str) -> Any:
        return client.patch(
            f"/v1/roles/{role_id}", json={"permissions": list(names)}, headers=second
        )

    fewer = permissions("account.read")
    assert _approve(client, fewer.json()["id"], first).json()["status"] == "applied"
    more = permissions("account.read", "beneficiary.read")
    refused = _approve(client, more.json()["id"], first)
    assert refused.status_code == 403 and refused.json()["error"] == "grantee_tied_to_approver"
