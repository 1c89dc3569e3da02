from tests.factories import bearer, new_key


def test_payer_moves_money_and_sees_it(client, app, world, clock):
    headers = bearer(app, world.users["acme-payer"], clock)
    body = {
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("acme-payroll"),
        "amount": 500_00,
        "currency": "EUR",
    }
    created = client.post(
        "/v1/transfers", json=body, headers={**headers, "Idempotency-Key": new_key()}
    )
    assert created.status_code == 201, created.text
    accounts = client.get("/v1/accounts", headers=headers).json()["items"]
    balances = {a["name"]: a["balance"] for a in accounts}
    assert balances["acme-operating"] == 1_000_000_00 - 500_00
    assert balances["acme-payroll"] == 100_000_00 + 500_00
