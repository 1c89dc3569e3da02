"""Statement export of an account with 1,000,000 entries, on PostgreSQL: the whole span as
camt.053 and as CSV, in-process through the service and the streamed file the API sends (the
policy check included), timed, with the peak of Python's memory while the file is written.

The account is seeded as bench.statement_paging seeds it (a million deposits, one second apart,
server-side).

    .venv/bin/python -m bench.statement_export [--entries 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import tracemalloc

from sqlalchemy import select

from bench.http_transfers import create_database
from bench.statement_paging import seed
from core.context import RequestContext
from core.db import Database
from core.models.iam import User, actor_of
from core.settings import Settings
from core.statements.export import open_export
from core.statements.files import statement_file
from core.uow import UnitOfWork


def export_once(
    db: Database, ctx: RequestContext, account_id: int, format: str
) -> tuple[int, float]:
    """(bytes written, seconds) of one export of the account's whole span."""
    today = dt.date.today()
    started = time.perf_counter()
    export = UnitOfWork(db, ctx, write=False).run(
        open_export,
        account_id,
        first_day=today - dt.timedelta(days=365),
        last_day=today,
        format=format,
    )
    size = sum(len(chunk) for chunk in statement_file(db, export))
    return size, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    url = create_database("mandate_bench_export")
    account_id, _ = seed(url, args.entries)
    db = Database(Settings(database_url=url).database_url)
    with db.unit_of_work(write=False) as session:
        user = session.scalar(select(User).where(User.username == "paging-bookkeeper"))
        assert user is not None
        ctx = RequestContext(actor=actor_of(user))
    for format in ("camt053", "csv"):
        size, seconds = export_once(db, ctx, account_id, format)
        tracemalloc.start()
        export_once(db, ctx, account_id, format)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"{format} export of {args.entries:,} entries: {seconds:.1f} s "
            f"({args.entries / seconds:,.0f} entries/s), {size / 1e6:.0f} MB, "
            f"peak Python memory while writing {peak / 1e6:.1f} MB",
            flush=True,
        )
    db.dispose()


if __name__ == "__main__":
    main()
