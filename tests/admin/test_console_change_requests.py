"""Dual administration in the console: a corporate admin's grant is sent for approval, the
second admin sees it counted in the sidebar, with its change before and after, and approves it;
the requester sees no Approve button, and a forged approve form of theirs is refused."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from core.models.iam import Grant
from tests.admin.console import sign_in
from tests.factories import new_key
from tests.governance_world import SECOND_ADMIN, turn_on, with_second_admin


def _payer_role(client) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r'href="/console/roles/(\d+)">Payer<', client.get("/console/roles").text)
    assert found
    return found.group(1)


def _grants(db, user_id: int) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Grant)
                .where(Grant.user_id == user_id, Grant.revoked_at.is_(None))
            )
        )


def test_a_grant_is_sent_for_approval_and_the_second_admin_approves(client, app, db, world, clock):
    with_second_admin(db, app.state.services.passwords, world, clock)
    turn_on(db, clock, tenant=world.tenants["acme"])
    bookkeeper = world.user_id("acme-bookkeeper")

    token = sign_in(client, "acme-admin")
    sent = client.post(
        "/console/grants",
        data={
            "csrf_token": token,
            "user_id": str(bookkeeper),
            "role_id": _payer_role(client),
            "scope": "all",
            "limit_currency": "EUR",
            "per_transfer": "500.00",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    location = sent.headers["location"]
    assert re.match(r"/console/change-requests/\d+\?done=change-requested", location), location
    request_id = int(location.split("/")[-1].split("?")[0])
    page = client.get(location).text
    assert "Sent for approval" in page
    assert 'id="approve"' not in page and "You asked for this change" in page
    assert _grants(db, bookkeeper) == 1

    # A forged approve form from the requester is refused, and applies nothing.
    forged = client.post(
        f"/console/change-requests/{request_id}/approve",
        data={"csrf_token": token, "idempotency_key": new_key()},
        follow_redirects=False,
    )
    assert forged.status_code == 403, forged.text
    assert "another person must approve it" in forged.text
    assert _grants(db, bookkeeper) == 1

    second = sign_in(client, SECOND_ADMIN)
    inbox = client.get("/console/change-requests").text
    assert re.search(r"Change requests <span class=\"count\"[^>]*>.*?1", inbox, re.S)
    assert f'href="/console/change-requests/{request_id}"' in inbox
    detail = client.get(f"/console/change-requests/{request_id}").text
    assert 'id="approve"' in detail and "Payer" in detail and "<ins>" in detail
    approved = client.post(
        f"/console/change-requests/{request_id}/approve",
        data={"csrf_token": second, "idempotency_key": new_key()},
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    assert "done=change-applied" in approved.headers["location"]
    assert _grants(db, bookkeeper) == 2
    shown = client.get(approved.headers["location"]).text
    assert "Approved: the change is applied." in shown and "Applied" in shown


def test_with_dual_admin_off_the_grant_is_given_at_once(client, app, db, world, clock):
    token = sign_in(client, "acme-admin")
    given = client.post(
        "/console/grants",
        data={
            "csrf_token": token,
            "user_id": str(world.user_id("acme-bookkeeper")),
            "role_id": _payer_role(client),
            "scope": "all",
        },
        follow_redirects=False,
    )
    assert given.status_code == 303
    assert "done=grant-created" in given.headers["location"]


def test_the_change_log_names_requester_and_approver(client, app, db, world, clock):
    with_second_admin(db, app.state.services.passwords, world, clock)
    turn_on(db, clock, tenant=world.tenants["acme"])
    token = sign_in(client, "acme-admin")
    sent = client.post(
        f"/console/users/{world.user_id('acme-bookkeeper')}/status",
        data={"csrf_token": token, "active": "false"},
        follow_redirects=False,
    )
    request_id = int(sent.headers["location"].split("/")[-1].split("?")[0])
    second = sign_in(client, SECOND_ADMIN)
    client.post(
        f"/console/change-requests/{request_id}/approve",
        data={"csrf_token": second, "idempotency_key": new_key()},
    )
    sign_in(client, "compliance")
    log = client.get("/console/changes").text
    assert f"request {request_id}</a>), approved by Acme Second Admin" in log


def test_the_bank_turns_dual_administration_on_in_the_console(client, app, db, world, clock):
    acme = world.tenants["acme"].id
    token = sign_in(client, "manager")
    page = client.get(f"/console/tenants/{acme}").text
    assert 'name="dual_admin"' in page and "No dual administration" in page
    saved = client.post(
        f"/console/tenants/{acme}/settings",
        data={
            "csrf_token": token,
            "new_beneficiary_hours": "24",
            "payment_expiry_days": "7",
            "dual_admin": "true",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303 and "done=tenant-updated" in saved.headers["location"]
    assert "a corporate admin's changes wait" in client.get(f"/console/tenants/{acme}").text
    # Now an admin's new user is sent for approval.
    admin = sign_in(client, "acme-admin")
    asked = client.post(
        "/console/users",
        data={
            "csrf_token": admin,
            "username": "eve",
            "display_name": "Eve",
            "password": "a long first password",
        },
        follow_redirects=False,
    )
    assert "done=change-requested" in asked.headers["location"], asked.headers["location"]
    # Under the bank's dual control, turning it off again waits for a second manager.
    turn_on(db, clock, bank=True)
    token = sign_in(client, "manager")
    off = client.post(
        f"/console/tenants/{acme}/settings",
        data={"csrf_token": token, "new_beneficiary_hours": "24", "payment_expiry_days": "7"},
        follow_redirects=False,
    )
    assert "done=change-requested" in off.headers["location"], off.headers["location"]
    assert "a corporate admin's changes wait" in client.get(f"/console/tenants/{acme}").text
