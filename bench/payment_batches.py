"""A payment batch of 1,000 payments, from upload to posted, through the whole HTTP stack
(in process: the app under Starlette's test client, bearer tokens, the middleware's size
limit, idempotency, the decision log and the activity), on SQLite and on PostgreSQL.

The demo bank is seeded, its company given 1,000 employees as beneficiaries (added a month
ago), and sepaxml writes a pain.001.001.09 file paying each of them from Acme Operating. The
payer uploads it (1,000 payment.create decisions, each under the person's lock with the
items before it counted), approver B and then approver A approve it (the last approval posts
1,000 payments); `mandate ledger check` then runs over the database. Each run gets a fresh
database; the figures are the medians of the runs.

    .venv/bin/python -m bench.payment_batches [--items 1000] [--runs 3] [--postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from schwifty import IBAN
from sepaxml import SepaTransfer
from sqlalchemy import select

from api.app import create_app
from bench.http_transfers import create_database
from core import demo, migrate
from core.db import Database
from core.ledger.check import run_checks
from core.models.iam import Tenant
from core.models.ledger import Account
from core.models.payments import Beneficiary
from core.settings import Settings


def prepare(url: str, items: int, keys: Path) -> tuple[TestClient, bytes]:
    settings = Settings(
        database_url=url,
        token_key_path=keys / "key.pem",
        password_time_cost=1,
        password_memory_kib=64,
        policy_watch=False,
        audit_checkpoint_seconds=0,
        environment="test",
    )
    migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    app = create_app(settings, database=db)
    with db.unit_of_work() as session:
        demo.seed(session, app.state.services.passwords, app.state.services.clock)
        acme = session.scalars(select(Tenant).where(Tenant.name.startswith("Acme"))).one()
        account = session.scalars(select(Account).where(Account.name == "Acme Operating")).one()
        added = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
        ibans = [
            str(IBAN.generate("DE", bank_code="37040044", account_code=str(100_000 + n)))
            for n in range(items)
        ]
        session.add_all(
            Beneficiary(
                bank_id=acme.bank_id,
                tenant_id=acme.id,  # type: ignore[arg-type]
                name=f"Employee {n}",
                iban=iban,
                created_by_id=account.id or 0,
                created_at=added,
                updated_at=added,
            )
            for n, iban in enumerate(ibans)
        )
        debtor = account.iban or ""
    sepa = SepaTransfer(
        {
            "name": "Acme Ltd",
            "IBAN": debtor,
            "BIC": "MANDDEB1XXX",
            "batch": True,
            "currency": "EUR",
        },
        schema="pain.001.001.09",
    )
    for n, iban in enumerate(ibans):
        sepa.add_payment(
            {
                "name": f"Employee {n}",
                "IBAN": iban,
                "amount": 200_00 + n % 100,
                "execution_date": dt.date(1999, 1, 1),
                "description": "Salary",
                "endtoend_id": f"BENCH-{n}",
            }
        )
    return TestClient(app), bytes(sepa.export(validate=True))


def _sign_in(client: TestClient, username: str) -> dict[str, str]:
    answer = client.post(
        "/v1/auth/token", data={"username": username, "password": demo.DEMO_PASSWORD}
    )
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def one_run(url: str, items: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as keys:
        client, data = prepare(url, items, Path(keys))
        with client:
            payer, b, a = (
                _sign_in(client, u) for u in ("acme-payer", "acme-approver-b", "acme-approver-a")
            )
            started = time.perf_counter()
            made = client.post(
                "/v1/payment-batches",
                content=data,
                headers={**payer, "Idempotency-Key": str(uuid.uuid4())},
            )
            uploaded = time.perf_counter()
            assert made.status_code == 202, made.text[:500]
            batch = made.json()
            assert batch["accepted_count"] == items, batch["refused_count"]
            timings = {"upload": uploaded - started}
            for name, approver in (("approve B", b), ("approve A (posts)", a)):
                before = time.perf_counter()
                answer = client.post(
                    f"/v1/payment-batches/{batch['id']}/approve",
                    headers={**approver, "Idempotency-Key": str(uuid.uuid4())},
                )
                assert answer.status_code in (201, 202), answer.text[:500]
                timings[name] = time.perf_counter() - before
            assert answer.json()["status"] == "approved"
            timings["upload to posted"] = time.perf_counter() - started
        db = Database(Settings(database_url=url).database_url)
        before = time.perf_counter()
        with db.engine.connect() as conn:
            report = run_checks(conn)
        timings["ledger check"] = time.perf_counter() - before
        assert report.ok, report.render()
        db.dispose()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    args = parser.parse_args()
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    for backend in backends:
        runs = []
        for run in range(args.runs):
            if backend == "postgresql":
                url = create_database(f"bench_batches_{run}")
            else:
                url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
            runs.append(one_run(url, args.items))
        print(f"{backend}: a batch of {args.items:,} payments, median of {args.runs} runs")
        for step in runs[0]:
            values = [r[step] for r in runs]
            print(
                f"  {step:<20} {statistics.median(values):7.2f} s  (runs: "
                + ", ".join(f"{v:.2f}" for v in values)
                + ")"
            )


if __name__ == "__main__":
    main()
