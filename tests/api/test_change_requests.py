"""Dual administration over the API: a corporate admin's change waits for a second admin
(202 with the change request), who applies it by approving; the chains that would let one
person change access alone are refused, each by its policy condition:

(a) own_change_request: nobody approves their own request;
(b) change_grants_approver_rights: nobody approves a request that gives themselves rights;
(c) approver_tied_to_requester: whoever is tied to the requester (either created the other
    or gave them a grant within the company's trust days, directly or through others:
    core.policy.ties; tests/api/test_change_request_ties.py) cannot approve the requester's
    requests; grantee_tied_to_approver: nobody approves new rights for someone tied to them;
(d) creating a user, and giving the admin role, are themselves requests.

Expired and stale requests are never applied; a request that no longer fits is refused with
its reason and applies nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from core.context import RequestContext
from core.iam import access
from core.iam.schemas import RoleCreate
from core.models.audit import ChangeRecord
from core.models.iam import Grant, User, actor_of
from tests.api.routes import bodies, fill, ids_of, queries
from tests.factories import PASSWORD, bearer, new_key, unit_of_work
from tests.governance_world import SECOND_ADMIN, turn_on, with_second_admin, with_second_manager


def _setup(app: Any, db: Any, world: Any, clock: Any) -> tuple[dict[str, str], dict[str, str]]:
    with_second_admin(db, app.state.services.passwords, world, clock)
    turn_on(db, clock, tenant=world.tenants["acme"])
    first = bearer(app, world.users["acme-admin"], clock)
    second = bearer(app, world.users[SECOND_ADMIN], clock)
    return first, second


def _payer_role(client: Any, headers: dict[str, str]) -> int:
    roles = client.get("/v1/roles", headers=headers).json()
    return next(r["id"] for r in roles if r["key"] == "payer")


def _grants_of(db: Any, user_id: int) -> int:
    with db.unit_of_work(write=False) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Grant)
                .where(Grant.user_id == user_id, Grant.revoked_at.is_(None))
            )
        )


def _approve(client: Any, request_id: int, headers: dict[str, str], key: str | None = None) -> Any:
    return client.post(
        f"/v1/change-requests/{request_id}/approve",
        headers={**headers, "Idempotency-Key": key or new_key()},
    )


def _ask_grant(client: Any, headers: dict[str, str], user_id: int, role_id: int) -> Any:
    return client.post(
        "/v1/grants",
        json={
            "user_id": user_id,
            "role_id": role_id,
            "limits": {"currency": "EUR", "per_transfer": 500_00},
        },
        headers=headers,
    )


def test_a_grant_waits_for_a_second_admin_who_applies_it(client, app, db, world, clock):
    first, second = _setup(app, db, world, clock)
    bookkeeper = world.user_id("acme-bookkeeper")
    asked = _ask_grant(client, first, bookkeeper, _payer_role(client, first))
    assert asked.status_code == 202, asked.text
    request = asked.json()
    assert request["status"] == "pending" and request["kind"] == "grant.create"
    assert request["before"] is None and request["after"]["role_key"] == "payer"
    assert request["after"]["limits"]["per_transfer"] == 500_00
    assert request["links"]["approve"] == f"/v1/change-requests/{request['id']}/approve"
    assert _grants_of(db, bookkeeper) == 1  # only the bookkeeper grant: nothing applied yet
    # The requester's activity says what happened: asked, answered 202.
    [asking] = client.get("/v1/activity", headers=first).json()["items"][:1]
    assert asking["status_code"] == 202 and asking["outcome"] == "succeeded"
    assert f"change request {request['id']}" in asking["detail"], asking

    # The requester cannot approve their own (a).
    own = _approve(client, request["id"], first)
    assert own.status_code == 403 and own.json()["error"] == "own_change_request", own.text

    listed = client.get("/v1/change-requests", params={"status": "pending"}, headers=second)
    assert [r["id"] for r in listed.json()["items"]] == [request["id"]]
    assert (
        client.get("/v1/change-requests", params={"kind": "user.create"}, headers=second).json()[
            "items"
        ]
        == []
    )

    approved = _approve(client, request["id"], second)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "applied"
    assert approved.json()["decided_by_name"] == "Acme Second Admin"
    grant_id = approved.json()["result_id"]
    assert client.get(f"/v1/grants/{grant_id}", headers=second).json()["role_key"] == "payer"
    # The grantee can act: a transfer within the grant's limit posts.
    grantee = bearer(app, world.users["acme-bookkeeper"], clock)
    sent = client.post(
        "/v1/transfers",
        json={
            "from_account_id": world.account_id("acme-operating"),
            "to_account_id": world.account_id("acme-payroll"),
            "amount": 100_00,
            "currency": "EUR",
        },
        headers={**grantee, "Idempotency-Key": new_key()},
    )
    assert sent.status_code == 201, sent.text

    # The change log names requester and approver, the times, before and after.
    compliance = bearer(app, world.users["compliance"], clock)
    changes = client.get("/v1/changes", headers=compliance).json()["items"]
    change = next(c for c in changes if c["entity"] == "grant" and c["entity_id"] == grant_id)
    assert change["actor_id"] == world.user_id("acme-admin")
    assert change["approved_by_id"] == world.user_id(SECOND_ADMIN)
    assert change["change_request_id"] == request["id"]
    assert change["requested_at"] is not None and change["after"]["role_key"] == "payer"

    # Approved once: a second approval is refused, the grant given once.
    again = _approve(client, request["id"], second)
    assert again.status_code == 403 and again.json()["error"] == "change_request_not_pending"
    assert _grants_of(db, bookkeeper) == 2


def test_same_idempotency_key_replays_the_approval(client, app, db, world, clock):
    first, second = _setup(app, db, world, clock)
    asked = _ask_grant(client, first, world.user_id("acme-bookkeeper"), _payer_role(client, first))
    key = new_key()
    one = _approve(client, asked.json()["id"], second, key)
    two = _approve(client, asked.json()["id"], second, key)
    assert one.status_code == two.status_code == 200
    assert two.json() == one.json()
    assert _grants_of(db, world.user_id("acme-bookkeeper")) == 2


def test_b_nobody_approves_their_own_new_rights(client, app, db, world, clock):
    first, second = _setup(app, db, world, clock)
    # acme-admin asks for a payer grant for acme-admin-2; acme-admin-2 may not approve it.
    asked = _ask_grant(client, first, world.user_id(SECOND_ADMIN), _payer_role(client, first))
    assert asked.status_code == 202, asked.text
    refused = _approve(client, asked.json()["id"], second)
    assert refused.status_code == 403
    assert refused.json()["error"] == "change_grants_approver_rights"
    # And nobody asks for their own: the request is refused as the change would be.
    own = _ask_grant(client, first, world.user_id("acme-admin"), _payer_role(client, first))
    assert own.status_code == 403 and own.json()["error"] == "self_change_forbidden"


def test_sock_puppet_chain_is_refused(client, app, db, world, clock):
    """Admin A creates admin P and asks for P to be corporate admin; B approves both (d). P
    then cannot approve A's request for A's own payer grant (it gives A rights: A cannot even
    ask: self_change_forbidden), nor any request of A's (c), and B cannot be made to approve
    new rights for P by A either way: A's requests need someone A did not create."""
    first, second = _setup(app, db, world, clock)
    # (d) creating the puppet is a request.
    made = client.post(
        "/v1/users",
        json={"username": "puppet", "display_name": "Puppet", "password": PASSWORD},
        headers=first,
    )
    assert made.status_code == 202, made.text
    created = _approve(client, made.json()["id"], second)
    assert created.json()["status"] == "applied", created.text
    puppet_id = created.json()["result_id"]
    roles = client.get("/v1/roles", headers=first).json()
    admin_role = next(r["id"] for r in roles if r["key"] == "corporate_admin")
    promote = _ask_grant(client, first, puppet_id, admin_role)
    assert promote.status_code == 202, promote.text
    assert _approve(client, promote.json()["id"], second).json()["status"] == "applied"

    # The puppet signs in; A asks for a grant for the bookkeeper: the puppet may not approve.
    with db.unit_of_work(write=False) as session:
        puppet = session.get(User, puppet_id)
        session.expunge(puppet)
    puppet_headers = bearer(app, puppet, clock)
    asked = _ask_grant(client, first, world.user_id("acme-bookkeeper"), _payer_role(client, first))
    refused = _approve(client, asked.json()["id"], puppet_headers)
    assert refused.status_code == 403
    assert refused.json()["error"] == "approver_tied_to_requester", refused.text

    # The puppet asks for new rights for A: A may not approve (b), and B, who did not create
    # the puppet, could; but rights for a user the approver created are refused to them too:
    # the puppet asks for a grant to a user B created lately, B may not approve.
    for_a = _ask_grant(
        client, puppet_headers, world.user_id("acme-admin"), _payer_role(client, first)
    )
    assert for_a.status_code == 202, for_a.text
    assert (
        _approve(client, for_a.json()["id"], first).json()["error"]
        == "change_grants_approver_rights"
    )
    by_b = client.post(
        "/v1/users",
        json={"username": "b-made", "display_name": "B made", "password": PASSWORD},
        headers=second,
    )
    b_made = _approve(client, by_b.json()["id"], first).json()["result_id"]
    for_b_made = _ask_grant(client, puppet_headers, b_made, _payer_role(client, first))
    refused = _approve(client, for_b_made.json()["id"], second)
    assert refused.status_code == 403
    assert refused.json()["error"] == "grantee_tied_to_approver", refused.text

    # Past the trust days, the puppet is a second person like any other.
    role = _payer_role(client, first)
    clock.advance(days=31)
    fresh = bearer(app, puppet, clock)
    a_now = bearer(app, world.users["acme-admin"], clock)
    later = _ask_grant(client, a_now, world.user_id("acme-bookkeeper"), role)
    assert _approve(client, later.json()["id"], fresh).json()["status"] == "applied"


def test_an_expired_request_is_not_applied(client, app, db, world, clock):
    first, second = _setup(app, db, world, clock)
    asked = _ask_grant(client, first, world.user_id("acme-bookkeeper"), _payer_role(client, first))
    clock.advance(hours=73)
    second = bearer(app, world.users[SECOND_ADMIN], clock)
    shown = client.get(f"/v1/change-requests/{asked.json()['id']}", headers=second).json()
    assert shown["status"] == "expired"
    refused = _approve(client, asked.json()["id"], second)
    assert refused.status_code == 403
    assert refused.json()["error"] == "change_request_not_pending"
    assert "expired" in refused.json()["detail"]
    assert _grants_of(db, world.user_id("acme-bookkeeper")) == 1


def test_a_stale_request_is_refused_and_applies_nothing(client, app, db, world, clock):
    first, second = _setup(app, db, world, clock)
    grant_id = world.grants["acme-payer"].id
    asked = client.patch(
        f"/v1/grants/{grant_id}",
        json={"limits": {"currency": "EUR", "per_transfer": 10_00}},
        headers=first,
    )
    assert asked.status_code == 202, asked.text
    assert asked.json()["before"]["id"] == grant_id
    other = client.patch(
        f"/v1/grants/{grant_id}",
        json={"limits": {"currency": "EUR", "per_transfer": 20_00}},
        headers=second,
    )
    assert _approve(client, other.json()["id"], first).json()["status"] == "applied"
    stale = _approve(client, asked.json()["id"], second)
    assert stale.status_code == 200, stale.text
    assert stale.json()["status"] == "refused"
    assert stale.json()["reason"] == "change_request_stale"
    limits = client.get(f"/v1/grants/{grant_id}", headers=first).json()["limits"]
    assert limits["per_transfer"] == 20_00


def test_a_request_whose_requester_lost_the_right_is_refused(client, app, db, world, clock):
    first, second = _setup(app, db, world, clock)
    asked = _ask_grant(client, first, world.user_id("acme-bookkeeper"), _payer_role(client, first))
    # acme-admin's admin grant is revoked (through a request acme-admin-2 asks, A cannot
    # approve it: it is about A's own access... so the bank's manager revokes it directly).
    manager = bearer(app, world.users["manager"], clock)
    admin_grant = world.grants["acme-admin"].id
    assert client.delete(f"/v1/grants/{admin_grant}", headers=manager).status_code == 200
    refused = _approve(client, asked.json()["id"], second)
    assert refused.json()["status"] == "refused", refused.text
    # Applied as acme-admin now: who no longer reaches the company's users is refused there.
    assert refused.json()["reason"] in ("not_found", "missing_permission")
    assert _grants_of(db, world.user_id("acme-bookkeeper")) == 1


def test_a_request_that_no_longer_validates_is_refused(client, app, db, world, clock):
    first, second = _setup(app, db, world, clock)
    # 500.00 EUR per transfer, asked within the caps; then the bank lowers the company's cap.
    asked = _ask_grant(client, first, world.user_id("acme-bookkeeper"), _payer_role(client, first))
    manager = bearer(app, world.users["manager"], clock)
    acme = world.tenants["acme"].id
    lowered = client.put(
        f"/v1/tenants/{acme}/caps/EUR", json={"per_transfer": 100_00}, headers=manager
    )
    assert lowered.status_code == 200, lowered.text
    refused = _approve(client, asked.json()["id"], second)
    assert refused.json()["status"] == "refused"
    assert refused.json()["reason"] == "exceeds_cap", refused.text
    assert _grants_of(db, world.user_id("acme-bookkeeper")) == 1


def test_reject_and_withdraw(client, app, db, world, clock):
    first, second = _setup(app, db, world, clock)
    role = _payer_role(client, first)
    one = _ask_grant(client, first, world.user_id("acme-bookkeeper"), role).json()
    rejected = client.post(
        f"/v1/change-requests/{one['id']}/reject", json={"reason": "not this week"}, headers=second
    )
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["reason_detail"] == "not this week"
    assert _approve(client, one["id"], second).json()["error"] == "change_request_not_pending"
    two = _ask_grant(client, first, world.user_id("acme-bookkeeper"), role).json()
    withdrawn = client.post(f"/v1/change-requests/{two['id']}/reject", json={}, headers=first)
    assert withdrawn.json()["status"] == "rejected"
    assert _grants_of(db, world.user_id("acme-bookkeeper")) == 1


def test_another_tenants_request_is_not_found(client, app, db, world, clock):
    first, _second = _setup(app, db, world, clock)
    asked = _ask_grant(client, first, world.user_id("acme-bookkeeper"), _payer_role(client, first))
    other = bearer(app, world.users["globex-admin"], clock)
    request_id = asked.json()["id"]
    for response in (
        client.get(f"/v1/change-requests/{request_id}", headers=other),
        _approve(client, request_id, other),
        client.post(f"/v1/change-requests/{request_id}/reject", json={}, headers=other),
        client.get(f"/v1/change-requests/{request_id + 1000}", headers=other),
    ):
        assert response.status_code == 404, response.text
    assert client.get("/v1/change-requests", headers=other).json()["items"] == []


def test_bank_level_changes_need_a_second_bank_manager(client, app, db, world, clock):
    with_second_manager(db, app.state.services.passwords, world, clock)
    turn_on(db, clock, bank=True)
    manager = bearer(app, world.users["manager"], clock)
    other = bearer(app, world.users["manager-2"], clock)
    asked = client.put("/v1/bank/caps/EUR", json={"per_transfer": 7_00}, headers=manager)
    assert asked.status_code == 202, asked.text
    assert asked.json()["tenant_id"] is None
    assert _approve(client, asked.json()["id"], manager).json()["error"] == "own_change_request"
    admin = bearer(app, world.users["acme-admin"], clock)
    assert _approve(client, asked.json()["id"], admin).status_code == 404
    assert _approve(client, asked.json()["id"], other).json()["status"] == "applied"
    caps = client.get("/v1/bank/caps", headers=manager).json()
    assert next(c for c in caps if c["currency"] == "EUR")["per_transfer"] == 7_00
    # Turning dual control off is itself a request.
    off = client.patch("/v1/bank/settings", json={"dual_control": False}, headers=manager)
    assert off.status_code == 202, off.text
    assert client.get("/v1/bank/settings", headers=manager).json()["dual_control"] is True


def test_mandatory_dual_admin_cannot_be_turned_off(client, app, db, world, clock):
    manager = bearer(app, world.users["manager"], clock)
    on = client.patch("/v1/bank/settings", json={"dual_admin_mandatory": True}, headers=manager)
    assert on.status_code == 200, on.text
    acme = world.tenants["acme"].id
    assert client.get(f"/v1/tenants/{acme}", headers=manager).json()["dual_admin"] is True
    off = client.patch(f"/v1/tenants/{acme}", json={"dual_admin": False}, headers=manager)
    assert off.status_code == 422 and off.json()["error"] == "dual_admin_mandatory"
    new = client.post("/v1/tenants", json={"name": "Initech"}, headers=manager)
    assert new.json()["dual_admin"] is True


def test_with_dual_admin_off_changes_apply_at_once(client, app, world, clock):
    admin = bearer(app, world.users["acme-admin"], clock)
    made = _ask_grant(client, admin, world.user_id("acme-bookkeeper"), _payer_role(client, admin))
    assert made.status_code == 201, made.text
    assert client.get("/v1/change-requests", headers=admin).json()["items"] == []


# Every route a second person now governs, with who asks it: a corporate admin under the
# company's dual administration, a bank manager under the bank's dual control.
GOVERNED_ROUTES = {
    "acme-admin": [
        ("POST", "/v1/users"),
        ("PATCH", "/v1/users/{user_id}"),
        ("POST", "/v1/users/{user_id}/password"),
        ("POST", "/v1/roles"),
        ("PATCH", "/v1/roles/{role_id}"),
        ("DELETE", "/v1/roles/{role_id}"),
        ("POST", "/v1/grants"),
        ("PATCH", "/v1/grants/{grant_id}"),
        ("DELETE", "/v1/grants/{grant_id}"),
        ("PUT", "/v1/approval-rules"),
    ],
    "manager": [
        ("PUT", "/v1/bank/caps/{currency}"),
        ("PUT", "/v1/tenants/{tenant_id}/caps/{currency}"),
        ("PUT", "/v1/bank/approval-rules"),
        ("PATCH", "/v1/tenants/{tenant_id}"),
        ("PATCH", "/v1/bank/settings"),
        ("POST", "/v1/users"),
        ("POST", "/v1/grants"),
    ],
}


def test_every_governed_route_answers_202_and_changes_nothing(client, app, db, world, clock):
    def custom_role(session: Any, _ctx: Any) -> int:
        ctx = RequestContext(actor=actor_of(world.users["acme-admin"]), clock=clock)
        body = RoleCreate(name="Statement reader", permissions=["statement.read"])
        return access.create_role(session, ctx, body).id

    ids = {**ids_of(world, "acme"), "role_id": unit_of_work(db, clock).run(custom_role)}
    turn_on(db, clock, tenant=world.tenants["acme"], bank=True)
    valid, query = bodies(world, "acme"), queries(world, "acme")

    def changes() -> int:
        with db.unit_of_work(write=False) as session:
            return int(session.scalar(select(func.count()).select_from(ChangeRecord)))

    before = changes()
    for username, routes in GOVERNED_ROUTES.items():
        headers = bearer(app, world.users[username], clock)
        for method, template in routes:
            response = client.request(
                method,
                fill(template, ids),
                json=valid.get((method, template)),
                params=query.get((method, template)),
                headers=headers,
            )
            assert response.status_code == 202, (username, method, template, response.text)
            body = response.json()
            assert body["status"] == "pending" and body["requested_by"] == world.user_id(username)
            assert body["tenant_id"] == (None if username == "manager" else ids["tenant_id"])
    assert changes() == before


def test_explain_names_every_condition_of_deciding_a_change_request(client, app, db, world, clock):
    """Regression: explaining change_request.approve (about an account: the change request's
    facts are missing, so its conditions refuse) answered 500, its checks having no API name."""
    first, _second = _setup(app, db, world, clock)
    explained = client.get(
        "/v1/authz/explain",
        params={
            "user": world.user_id(SECOND_ADMIN),
            "action": "change_request.approve",
            "account": world.account_id("acme-operating"),
        },
        headers=first,
    )
    assert explained.status_code == 200, explained.text
    names = {c["reason"] for g in explained.json()["grants"] for c in g["conditions"]}
    assert "own_change_request" in names and "grantee_tied_to_approver" in names
