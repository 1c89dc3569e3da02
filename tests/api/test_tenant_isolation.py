"""No user ever sees another tenant's data: every tenant-A URL answers 404 to tenant B."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from core.iam import service as iam
from tests.api.routes import PUBLIC_ROUTES, bodies, calls, ids_of, queries
from tests.batches_world import with_pending_batch
from tests.factories import PASSWORD, bearer
from tests.governance_world import with_change_request
from tests.oauth_world import with_api_client
from tests.operations_world import with_maintenance_window
from tests.payments_world import with_pending_payment


def test_every_tenant_a_url_is_not_found_for_tenant_b(client, app, db, world, clock):
    payments = with_pending_payment(db, app.state.services.passwords, world, clock)
    with_pending_batch(db, app.state.services.passwords, world, clock, payments)
    with_change_request(db, app.state.services.passwords, world, clock)
    with_api_client(db, world, clock)
    with_maintenance_window(db, world, clock)
    a_ids = ids_of(world, "acme")
    a_bodies = bodies(world, "acme")
    a_queries = queries(world, "acme")
    checked = 0
    for username in ("globex-admin", "globex-payer"):
        headers = bearer(app, world.users[username], clock)
        for call in calls(app, a_ids):
            if (call.method, call.template) in PUBLIC_ROUTES or "{" not in call.template:
                continue
            response = client.request(
                call.method,
                call.path,
                headers={**headers, "Idempotency-Key": "iso"},
                json=a_bodies.get((call.method, call.template)),
                params=a_queries.get((call.method, call.template)),
            )
            assert response.status_code == 404, (username, call, response.text)
            assert response.json()["error"] == "not_found"
            checked += 1
    assert checked >= 4


def test_tenant_b_cannot_move_tenant_a_money(client, app, world, clock):
    headers = {**bearer(app, world.users["globex-payer"], clock), "Idempotency-Key": "iso-1"}
    steal = {
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("globex-main"),
        "amount": 100,
        "currency": "EUR",
    }
    assert client.post("/v1/transfers", json=steal, headers=headers).status_code == 404
    push = {
        **steal,
        "from_account_id": world.account_id("globex-main"),
        "to_account_id": world.account_id("acme-operating"),
        "amount": 100,
    }
    response = client.post(
        "/v1/transfers", json=push, headers={**headers, "Idempotency-Key": "iso-2"}
    )
    assert response.status_code == 404
    assert "acme" not in response.text.lower()


def test_lists_hold_only_the_callers_tenant(client, app, world, clock):
    headers = bearer(app, world.users["globex-admin"], clock)
    for path in ("/v1/accounts", "/v1/transfers"):
        items = client.get(path, headers=headers).json()["items"]
        assert items, path
        assert all(
            world.account_id("acme-operating")
            not in (i.get("id"), i.get("from_account_id"), i.get("to_account_id"))
            for i in items
        )
        tenants = {i.get("tenant_id") for i in items if "tenant_id" in i}
        assert tenants <= {world.tenants["globex"].id}


# -- another tenant's id answers exactly as an id that does not exist ------------------------

UNUSED_ID = 999_999


@dataclass(frozen=True)
class Probe:
    """One request that carries an id; `X` in the path, query or body stands for it."""

    caller: str
    method: str
    path: str
    target: Callable[[Any], int]
    body: dict[str, Any] | None = None
    query: dict[str, Any] | None = None


def _account(name: str) -> Callable[[Any], int]:
    return lambda w: w.account_id(name)


def _user(name: str) -> Callable[[Any], int]:
    return lambda w: w.user_id(name)


def _acme_tenant(w: Any) -> int:
    return int(w.tenants["acme"].id)


def _acme_payer_role(w: Any) -> int:
    return int(w.grants["acme-payer"].role_id)


def _acme_payer_grant(w: Any) -> int:
    return int(w.grants["acme-payer"].id)


def _acme_transfer(w: Any) -> int:
    return int(w.transfer_ids["acme"])


def _acme_beneficiary(w: Any) -> int:
    return int(w.beneficiary_id("acme-new-supplier"))


def _acme_payment(w: Any) -> int:
    return int(w.payment_ids["acme"])


def _acme_supplier(w: Any) -> int:
    return int(w.beneficiary_id("acme-supplier"))


PAYMENT = {"account_id": "@globex-main", "beneficiary_id": "X", "amount": 100, "currency": "EUR"}
RULES = {"rules": [{"currency": "EUR", "min_amount": 100, "approvals": 1}]}


PAYER, ADMIN = "globex-payer", "globex-admin"
STAFF, OFFICER = "other-manager", "other-compliance"
PROBES = [
    # A transfer: the source, the counterparty (in another currency), both of the other tenant.
    Probe(
        PAYER,
        "POST",
        "/v1/transfers",
        _account("acme-usd"),
        body={
            "from_account_id": "@globex-main",
            "to_account_id": "X",
            "amount": 100,
            "currency": "EUR",
        },
    ),
    Probe(
        PAYER,
        "POST",
        "/v1/transfers",
        _account("acme-operating"),
        body={
            "from_account_id": "X",
            "to_account_id": "@acme-usd",
            "amount": 100,
            "currency": "EUR",
        },
    ),
    Probe(
        PAYER,
        "POST",
        "/v1/transfers",
        _account("acme-operating"),
        body={
            "from_account_id": "X",
            "to_account_id": "@globex-main",
            "amount": 100,
            "currency": "USD",
        },
    ),
    Probe(
        ADMIN,
        "POST",
        "/v1/deposits",
        _account("acme-operating"),
        body={"account_id": "X", "amount": 100, "currency": "USD"},
    ),
    Probe(
        ADMIN,
        "POST",
        "/v1/withdrawals",
        _account("acme-usd"),
        body={"account_id": "X", "amount": 100, "currency": "EUR"},
    ),
    # Explain and capabilities: the account, the counterparty, the user.
    Probe(
        ADMIN,
        "GET",
        "/v1/authz/explain",
        _account("acme-operating"),
        query={
            "user": "@@globex-payer",
            "action": "transfer.create",
            "account": "X",
            "amount": 100,
        },
    ),
    Probe(
        ADMIN,
        "GET",
        "/v1/authz/explain",
        _account("acme-operating"),
        query={"user": "@@globex-payer", "action": "account.read", "account": "X"},
    ),
    Probe(
        ADMIN,
        "GET",
        "/v1/authz/explain",
        _account("acme-usd"),
        query={
            "user": "@@globex-payer",
            "action": "transfer.create",
            "account": "@globex-main",
            "to_account": "X",
            "amount": 100,
        },
    ),
    Probe(
        ADMIN,
        "GET",
        "/v1/authz/explain",
        _user("acme-payer"),
        query={"user": "X", "action": "account.read"},
    ),
    Probe(ADMIN, "GET", "/v1/users/X/capabilities", _user("acme-payer")),
    # Grants: the role, the user, the accounts of another tenant.
    Probe(
        ADMIN,
        "POST",
        "/v1/grants",
        _acme_payer_role,
        body={"user_id": "@@globex-payer", "role_id": "X"},
    ),
    Probe(
        ADMIN,
        "POST",
        "/v1/grants",
        _user("acme-bookkeeper"),
        body={"user_id": "X", "role_id": "@role"},
    ),
    Probe(
        ADMIN,
        "POST",
        "/v1/grants",
        _account("acme-operating"),
        body={
            "user_id": "@@globex-payer",
            "role_id": "@role",
            "all_accounts": False,
            "account_ids": ["X"],
        },
    ),
    Probe(
        ADMIN,
        "PATCH",
        "/v1/grants/@grant",
        _account("acme-operating"),
        body={"all_accounts": False, "account_ids": ["X"]},
    ),
    Probe(ADMIN, "GET", "/v1/grants/X", _acme_payer_grant),
    Probe(ADMIN, "PATCH", "/v1/grants/X", _acme_payer_grant, body={"clear_window": True}),
    Probe(ADMIN, "DELETE", "/v1/grants/X", _acme_payer_grant),
    Probe(ADMIN, "GET", "/v1/grants", _user("acme-payer"), query={"user_id": "X"}),
    Probe(ADMIN, "GET", "/v1/grants", _acme_tenant, query={"tenant_id": "X"}),
    # Roles, users, tenants, caps.
    Probe(ADMIN, "GET", "/v1/roles/X", _acme_payer_role),
    Probe(ADMIN, "PATCH", "/v1/roles/X", _acme_payer_role, body={"description": "mine"}),
    Probe(ADMIN, "DELETE", "/v1/roles/X", _acme_payer_role),
    Probe(ADMIN, "GET", "/v1/roles", _acme_tenant, query={"tenant_id": "X"}),
    Probe(
        ADMIN,
        "POST",
        "/v1/roles",
        _acme_tenant,
        body={"name": "Clerk", "permissions": ["account.read"], "tenant_id": "X"},
    ),
    Probe(ADMIN, "GET", "/v1/users/X", _user("acme-payer")),
    Probe(ADMIN, "PATCH", "/v1/users/X", _user("acme-payer"), body={"is_active": False}),
    Probe(
        ADMIN,
        "POST",
        "/v1/users/X/password",
        _user("acme-payer"),
        body={"password": "another long password"},
    ),
    Probe(ADMIN, "GET", "/v1/users", _acme_tenant, query={"tenant_id": "X"}),
    Probe(
        ADMIN,
        "POST",
        "/v1/users",
        _acme_tenant,
        body={
            "username": "intruder",
            "display_name": "I",
            "password": "a long password!",
            "tenant_id": "X",
        },
    ),
    Probe(ADMIN, "GET", "/v1/tenants/X", _acme_tenant),
    Probe(ADMIN, "GET", "/v1/tenants/X/caps", _acme_tenant),
    Probe(ADMIN, "PUT", "/v1/tenants/X/caps/EUR", _acme_tenant, body={"daily": 100}),
    Probe(ADMIN, "PUT", "/v1/tenants/X/caps/eur", _acme_tenant, body={"daily": 100}),
    # Beneficiaries, and a tenant's payment rules.
    Probe(ADMIN, "GET", "/v1/beneficiaries/X", _acme_beneficiary),
    Probe(ADMIN, "PATCH", "/v1/beneficiaries/X", _acme_beneficiary, body={"name": "Mine"}),
    Probe(ADMIN, "DELETE", "/v1/beneficiaries/X", _acme_beneficiary),
    Probe(ADMIN, "POST", "/v1/beneficiaries/X/approve", _acme_beneficiary),
    Probe(PAYER, "GET", "/v1/beneficiaries/X", _acme_beneficiary),
    Probe(ADMIN, "GET", "/v1/beneficiaries", _acme_tenant, query={"tenant_id": "X"}),
    Probe(ADMIN, "PATCH", "/v1/tenants/X", _acme_tenant, body={"payment_expiry_days": 3}),
    # Accounts and transfers.
    Probe(
        ADMIN,
        "POST",
        "/v1/accounts",
        _acme_tenant,
        body={"tenant_id": "X", "name": "Mine", "currency": "EUR"},
    ),
    Probe(ADMIN, "GET", "/v1/accounts", _acme_tenant, query={"tenant_id": "X"}),
    Probe(ADMIN, "GET", "/v1/accounts/X", _account("acme-operating")),
    Probe(ADMIN, "PATCH", "/v1/accounts/X", _account("acme-operating"), body={"status": "closed"}),
    Probe(ADMIN, "GET", "/v1/accounts/X/entries", _account("acme-operating")),
    Probe(ADMIN, "GET", "/v1/transfers/X", _acme_transfer),
    Probe(ADMIN, "GET", "/v1/decisions", _account("acme-operating"), query={"account": "X"}),
    Probe(ADMIN, "GET", "/v1/changes", _acme_tenant, query={"tenant_id": "X"}),
    # Bank staff of another bank: every tenant, account, user and role of this one.
    Probe(STAFF, "GET", "/v1/tenants/X", _acme_tenant),
    Probe(STAFF, "PUT", "/v1/tenants/X/caps/EUR", _acme_tenant, body={"daily": 100}),
    Probe(STAFF, "PATCH", "/v1/tenants/X", _acme_tenant, body={"payment_expiry_days": 3}),
    Probe(STAFF, "GET", "/v1/beneficiaries/X", _acme_beneficiary),
    Probe(STAFF, "GET", "/v1/beneficiaries", _acme_tenant, query={"tenant_id": "X"}),
    Probe(
        STAFF,
        "POST",
        "/v1/accounts",
        _acme_tenant,
        body={"tenant_id": "X", "name": "Mine", "currency": "EUR"},
    ),
    Probe(
        STAFF,
        "POST",
        "/v1/users",
        _acme_tenant,
        body={
            "username": "intruder",
            "display_name": "I",
            "password": "a long password!",
            "tenant_id": "X",
        },
    ),
    Probe(
        STAFF,
        "POST",
        "/v1/deposits",
        _account("acme-operating"),
        body={"account_id": "X", "amount": 100, "currency": "USD"},
    ),
    Probe(STAFF, "GET", "/v1/accounts/X", _account("acme-operating")),
    Probe(STAFF, "PATCH", "/v1/accounts/X", _account("acme-operating"), body={"status": "frozen"}),
    Probe(STAFF, "GET", "/v1/users/X/capabilities", _user("acme-payer")),
    Probe(
        STAFF,
        "GET",
        "/v1/authz/explain",
        _user("manager"),
        query={"user": "X", "action": "tenant.read"},
    ),
    Probe(
        STAFF,
        "POST",
        "/v1/grants",
        lambda w: int(w.grants["manager"].role_id),
        body={"user_id": "@@other-compliance", "role_id": "X"},
    ),
    Probe(STAFF, "GET", "/v1/roles/X", lambda w: int(w.grants["manager"].role_id)),
    Probe(OFFICER, "GET", "/v1/decisions", _account("acme-operating"), query={"account": "X"}),
    Probe(OFFICER, "GET", "/v1/decisions", _user("acme-payer"), query={"actor": "X"}),
    Probe(OFFICER, "GET", "/v1/decisions", _acme_tenant, query={"tenant_id": "X"}),
    Probe(OFFICER, "GET", "/v1/changes", _acme_tenant, query={"tenant_id": "X"}),
    Probe(OFFICER, "GET", "/v1/grants", _user("acme-payer"), query={"user_id": "X"}),
    Probe(OFFICER, "GET", "/v1/users", _acme_tenant, query={"tenant_id": "X"}),
    # Payments: acme's waiting payment, its beneficiary, its rules.
    Probe(PAYER, "GET", "/v1/payments/X", _acme_payment),
    Probe(PAYER, "GET", "/v1/payments", _account("acme-operating"), query={"account_id": "X"}),
    Probe(PAYER, "GET", "/v1/payments", _acme_supplier, query={"beneficiary_id": "X"}),
    Probe(PAYER, "POST", "/v1/payments", _acme_supplier, body=PAYMENT),
    Probe(PAYER, "POST", "/v1/payment-previews", _acme_supplier, body=PAYMENT),
    Probe(ADMIN, "POST", "/v1/payments/X/approve", _acme_payment),
    Probe(ADMIN, "POST", "/v1/payments/X/reject", _acme_payment, body={"reason": "not ours"}),
    Probe(ADMIN, "POST", "/v1/payments/X/cancel", _acme_payment, body={"reason": "not ours"}),
    Probe(ADMIN, "GET", "/v1/approval-rules", _acme_tenant, query={"tenant_id": "X"}),
    Probe(ADMIN, "PUT", "/v1/approval-rules", _acme_tenant, body=RULES, query={"tenant_id": "X"}),
    Probe(STAFF, "GET", "/v1/payments/X", _acme_payment),
    Probe(STAFF, "POST", "/v1/payments/X/approve", _acme_payment),
    Probe(STAFF, "POST", "/v1/payments/X/cancel", _acme_payment, body={"reason": "not ours"}),
    Probe(STAFF, "GET", "/v1/approval-rules", _acme_tenant, query={"tenant_id": "X"}),
]


@pytest.fixture
def other_bank(world, db, app, clock):  # type: ignore[no-untyped-def]
    """A second bank with its own manager and compliance officer, next to the world's."""
    with db.unit_of_work() as session:
        bank = iam.create_bank(session, "Other Bank")
        for username, key in (
            ("other-manager", "bank_manager"),
            ("other-compliance", "compliance_officer"),
        ):
            user = iam.create_user(
                session,
                app.state.services.passwords,
                bank_id=bank.id,
                tenant_id=None,  # type: ignore[arg-type]
                username=username,
                display_name=username,
                password=PASSWORD,
                now=clock.now(),
            )
            role = iam.builtin_role(session, key, bank_id=bank.id, tenant_id=None)  # type: ignore[arg-type]
            iam.grant_role(session, user, role, now=clock.now())
            session.flush()
            session.refresh(user)
            world.users[username] = user
    # Payees, approvers and a payment waiting for approval, for the payment probes.
    with_pending_payment(db, app.state.services.passwords, world, clock)
    return world


def _fill(value: Any, world: Any, target: int, extra: dict[str, int]) -> Any:
    """X -> the id probed; @name -> an account of that name; @@name -> a user; @role, @grant:
    the caller's tenant's payer role and grant."""
    if isinstance(value, dict):
        return {k: _fill(v, world, target, extra) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world, target, extra) for v in value]
    if not isinstance(value, str):
        return value
    if value == "X":
        return target
    if value.startswith("@@"):
        return world.user_id(value[2:])
    if value.startswith("@") and value[1:] in extra:
        return extra[value[1:]]
    if value.startswith("@"):
        return world.account_id(value[1:])
    return value


def _answer(client, app, world, clock, probe: Probe, target: int, n: int):  # type: ignore[no-untyped-def]
    extra = {
        "role": int(world.grants["globex-payer"].role_id),
        "grant": int(world.grants["globex-payer"].id),
    }
    path = probe.path.replace("X", str(target))
    for name, value in extra.items():
        path = path.replace(f"@{name}", str(value))
    headers = {**bearer(app, world.users[probe.caller], clock), "Idempotency-Key": f"probe-{n}"}
    response = client.request(
        probe.method,
        path,
        headers=headers,
        json=_fill(probe.body, world, target, extra),
        params=_fill(probe.query, world, target, extra),
    )
    return response.status_code, response.text


def _normalised(answer: tuple[int, str], *ids: int) -> tuple[int, str]:
    """Both ids, wherever they stand alone, read as <id>, in both answers alike (so that a
    digit elsewhere, the 1 in ISO 4217, cannot tell them apart)."""
    status, text = answer
    for number in ids:
        text = re.sub(rf"(?<!\d){number}(?!\d)", "<id>", text)
    return status, text


@pytest.mark.parametrize(
    "probe", PROBES, ids=[f"{p.method} {p.path} {sorted(p.body or p.query or {})}" for p in PROBES]
)
def test_another_tenants_id_answers_as_an_unused_id(client, app, other_bank, clock, probe):
    """Byte for byte (the id normalised): a different status, code or detail would tell the
    caller that the other tenant's object exists."""
    world = other_bank
    ids = (probe.target(world), UNUSED_ID)
    theirs = _normalised(_answer(client, app, world, clock, probe, ids[0], 1), *ids)
    unused = _normalised(_answer(client, app, world, clock, probe, ids[1], 2), *ids)
    assert theirs == unused, probe
    assert theirs[0] in (200, 404, 422), theirs


def test_a_payment_between_companies_shows_neither_the_others_account_nor_its_sender(  # type: ignore[no-untyped-def]
    client, app, db, world, clock
):
    """A regression (the outsider attack): Globex's statement and transfers named the id of
    Acme's account a book payment came from, and the Acme user who sent it; Acme's named
    Globex's receiving account."""
    from tests.factories import new_key
    from tests.payments_world import build_payments_world

    pw = build_payments_world(db, app.state.services.passwords, world, clock)
    acme = bearer(app, world.users["acme-payer"], clock)
    paid = client.post(
        "/v1/payments",
        json={
            "account_id": world.account_id("acme-operating"),
            "beneficiary_id": pw.beneficiary_id("globex"),
            "amount": 1_00,
            "currency": "EUR",
        },
        headers={**acme, "Idempotency-Key": new_key()},
    )
    assert paid.status_code == 201, paid.text
    acme_account, globex_account = (
        world.account_id("acme-operating"),
        world.account_id("globex-main"),
    )
    globex = bearer(app, world.users["globex-admin"], clock)
    [entry] = client.get(f"/v1/accounts/{globex_account}/entries", headers=globex).json()["items"][
        :1
    ]
    assert entry["amount"] == 1_00 and entry["counterparty_account_id"] is None, entry
    transfer = client.get(f"/v1/transfers/{entry['transfer_id']}", headers=globex).json()
    assert (transfer["from_account_id"], transfer["initiated_by"]) == (None, None), transfer
    assert transfer["to_account_id"] == globex_account
    listed = client.get("/v1/transfers", headers=globex).json()["items"]
    assert [t for t in listed if t["id"] == entry["transfer_id"]] == [transfer]
    # Acme sees its own side, and of Globex's nothing.
    seen_by_acme = client.get(f"/v1/transfers/{entry['transfer_id']}", headers=acme).json()
    assert seen_by_acme["from_account_id"] == acme_account
    assert seen_by_acme["to_account_id"] is None
    assert seen_by_acme["initiated_by"] == world.user_id("acme-payer")
    [sent] = client.get(f"/v1/accounts/{acme_account}/entries", headers=acme).json()["items"][:1]
    assert sent["amount"] == -1_00 and sent["counterparty_account_id"] is None, sent
    # Bank staff see both sides.
    staff = bearer(app, world.users["manager"], clock)
    whole = client.get(f"/v1/transfers/{entry['transfer_id']}", headers=staff).json()
    assert (whole["from_account_id"], whole["to_account_id"]) == (acme_account, globex_account)
