"""A walk through the demo bank over HTTP: sign in, list accounts, send money with an
idempotency key, send it again (a replay, not a second transfer), read the statement and
your activity.

    make run                          # in one terminal: serves the demo on 127.0.0.1:8000
    .venv/bin/python examples/quickstart.py [http://127.0.0.1:8000]
"""

from __future__ import annotations

import sys
import uuid

import httpx

PASSWORD = "demo-password"


def money(minor: int, currency: str) -> str:
    return f"{minor / 100:,.2f} {currency}"


def main(base_url: str = "http://127.0.0.1:8000", out=print) -> dict:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=base_url, timeout=10) as http:
        # 1. Sign in as the payer of Acme Ltd.
        token = (
            http.post("/v1/auth/token", data={"username": "acme-payer", "password": PASSWORD})
            .raise_for_status()
            .json()["access_token"]
        )
        http.headers["Authorization"] = f"Bearer {token}"
        out("signed in as acme-payer")

        # 2. The accounts the policy lets this person read.
        accounts = http.get("/v1/accounts").raise_for_status().json()["items"]
        for a in accounts:
            out(f"  account {a['id']}: {a['name']:<16} {money(a['balance'], a['currency']):>16}")
        operating = next(a for a in accounts if a["name"] == "Acme Operating")
        payroll = next(a for a in accounts if a["name"] == "Acme Payroll")

        # 3. Send money. The idempotency key makes a retry safe.
        key = str(uuid.uuid4())
        body = {
            "from_account_id": operating["id"],
            "to_account_id": payroll["id"],
            "amount": 1_250_00,
            "currency": "EUR",
            "description": "November salaries top-up",
        }
        first = http.post("/v1/transfers", json=body, headers={"Idempotency-Key": key})
        first.raise_for_status()
        transfer = first.json()
        out(f"transfer {transfer['id']} posted: {money(transfer['amount'], 'EUR')}")

        # 4. Press "send" again: same key, same body -> the same transfer, replayed.
        again = http.post("/v1/transfers", json=body, headers={"Idempotency-Key": key})
        again.raise_for_status()
        assert again.json()["id"] == transfer["id"]
        replayed = again.headers["Idempotent-Replayed"]
        out(f"sent again, same key: Idempotent-Replayed={replayed}, transfer {transfer['id']}")

        # 5. Above the payer's per-transfer limit (200,000.00 EUR): the policy refuses and
        #    says why.
        refused = http.post(
            "/v1/transfers",
            json={**body, "amount": 250_000_00},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        out(f"250,000.00 EUR refused ({refused.status_code}): {refused.json()['detail']}")

        # 6. The statement, newest first, with the balance after each entry.
        entries = http.get(f"/v1/accounts/{operating['id']}/entries", params={"limit": 5})
        for e in entries.raise_for_status().json()["items"]:
            out(
                f"  entry {e['id']}: {money(e['amount'], e['currency']):>16}  "
                f"balance after {money(e['balance_after'], e['currency'])}"
            )

        # 7. What this person did, refusals included.
        activity = http.get("/v1/activity", params={"limit": 5}).raise_for_status().json()["items"]
        for item in activity:
            error = item["error"] or ""
            out(f"  {item['at'][:19]} {item['action']:<16} {item['outcome']:<9} {error}")
        return {
            "transfer": transfer,
            "replayed": again.headers["Idempotent-Replayed"],
            "refused": refused.json(),
            "activity": activity,
        }


if __name__ == "__main__":
    main(*sys.argv[1:2])
