"""Cumulative limits count per currency, and the company's caps count per person: what one
person sent under all their grants, in the cap's currency."""

from __future__ import annotations

from typing import Any

from tests.factories import bearer, new_key
from tests.ledger_checks import assert_ledger_consistent


def _send(  # type: ignore[no-untyped-def]
    client, headers: dict[str, str], source: int, target: int, amount: int, currency: str
):
    return client.post(
        "/v1/transfers",
        json={
            "from_account_id": source,
            "to_account_id": target,
            "amount": amount,
            "currency": currency,
        },
        headers={**headers, "Idempotency-Key": new_key()},
    )


def _open_account(client: Any, manager: dict[str, str], tenant_id: int, currency: str) -> int:
    opened = client.post(
        "/v1/accounts",
        json={"tenant_id": tenant_id, "name": f"second {currency}", "currency": currency},
        headers=manager,
    )
    assert opened.status_code == 201, opened.text
    return int(opened.json()["id"])


def test_spend_in_one_currency_does_not_count_against_a_cap_in_another(
    client, app, db, world, clock
):
    manager = bearer(app, world.users["manager"], clock)
    payer = bearer(app, world.users["acme-payer"], clock)
    acme = world.tenants["acme"].id
    cap = client.put(f"/v1/tenants/{acme}/caps/EUR", json={"daily": 1_000_00}, headers=manager)
    assert cap.status_code == 200, cap.text
    usd_target = _open_account(client, manager, acme, "USD")
    operating, payroll = world.account_id("acme-operating"), world.account_id("acme-payroll")

    # The payer's grant sets no limits; only the company's EUR cap binds, and only EUR.
    usd = _send(client, payer, world.account_id("acme-usd"), usd_target, 900_00, "USD")
    assert usd.status_code == 201, usd.text
    eur = _send(client, payer, operating, payroll, 200_00, "EUR")
    assert eur.status_code == 201, eur.text

    over = _send(client, payer, operating, payroll, 800_01, "EUR")
    assert over.status_code == 403, over.text
    assert over.json() == {
        "error": "limit_daily",
        "detail": "Daily limit 1,000.00 EUR for each person (set by the company): 200.00 EUR "
        "already sent today by you, this transfer needs 800.01 EUR.",
    }
    assert _send(client, payer, operating, payroll, 800_00, "EUR").status_code == 201
    # USD has no cap: the EUR total never counts against it either.
    more_usd = _send(client, payer, world.account_id("acme-usd"), usd_target, 5_000_00, "USD")
    assert more_usd.status_code == 201, more_usd.text
    with db.unit_of_work(write=False) as session:
        assert_ledger_consistent(session)


def test_the_company_cap_binds_each_person_across_all_their_grants(client, app, db, world, clock):
    manager = bearer(app, world.users["manager"], clock)
    admin = bearer(app, world.users["acme-admin"], clock)
    payer = bearer(app, world.users["acme-payer"], clock)
    acme = world.tenants["acme"].id
    cap = client.put(f"/v1/tenants/{acme}/caps/EUR", json={"daily": 300_00}, headers=manager)
    assert cap.status_code == 200, cap.text
    # A second grant over the same accounts: it must not double what the company allows.
    second = client.post(
        "/v1/grants",
        json={
            "user_id": world.user_id("acme-payer"),
            "role_id": world.grants["acme-payer"].role_id,
            "limits": {"currency": "EUR", "daily": 200_00},
        },
        headers=admin,
    )
    assert second.status_code == 201, second.text
    operating, payroll = world.account_id("acme-operating"), world.account_id("acme-payroll")

    assert _send(client, payer, operating, payroll, 200_00, "EUR").status_code == 201
    refused = _send(client, payer, operating, payroll, 200_00, "EUR")
    assert refused.status_code == 403, refused.text
    assert refused.json() == {
        "error": "limit_daily",
        "detail": "Daily limit 300.00 EUR for each person (set by the company): 200.00 EUR "
        "already sent today by you, this transfer needs 200.00 EUR.",
    }
    assert _send(client, payer, operating, payroll, 100_00, "EUR").status_code == 201
    assert _send(client, payer, operating, payroll, 1, "EUR").status_code == 403

    # Explain and capabilities show the per-person level with what remains of it.
    explained = client.get(
        "/v1/authz/explain",
        params={
            "user": world.user_id("acme-payer"),
            "action": "transfer.create",
            "account": operating,
            "amount": 1,
        },
        headers=admin,
    ).json()
    assert explained["reason"] == "limit_daily"
    assert "for each person" in explained["message"]
    by_grant = {g["grant_id"]: g for g in explained["grants"]}
    limits = by_grant[second.json()["id"]]["effective_limits"]
    assert {(x["kind"], x["per"], x["set_by"], x["amount"], x["remaining"]) for x in limits} == {
        ("daily", "grant", "grant", 200_00, 200_00),
        ("daily", "person", "tenant", 300_00, 0),
    }
    rows = client.get(f"/v1/users/{world.user_id('acme-payer')}/capabilities", headers=admin)
    row = next(r for r in rows.json() if r["account_id"] == operating)
    person = next(x for x in row["limits"] if x["per"] == "person")
    assert (person["kind"], person["set_by"], person["remaining"]) == ("daily", "tenant", 0)
    assert person["text"] == "daily 300.00 EUR for each person"
    with db.unit_of_work(write=False) as session:
        assert_ledger_consistent(session)
