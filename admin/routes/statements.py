"""Statement downloads from an account's page: the API's export (core.statements), streamed
to the browser as a file, behind the console's own sign-in."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from admin.deps import ConsoleUnit
from admin.params import AccountId
from core.fields import CalendarDate
from core.statements.export import open_export
from core.statements.files import MEDIA_TYPES, statement_file

router = APIRouter()


def last_month(now: dt.datetime, time_zone: str) -> tuple[dt.date, dt.date]:
    """The first and last day of the month before `now`'s, in `time_zone`: what the
    download form offers first."""
    first_of_this = now.astimezone(ZoneInfo(time_zone)).date().replace(day=1)
    last = first_of_this - dt.timedelta(days=1)
    return last.replace(day=1), last


@router.get("/accounts/{account_id}/statement-file", name="console.statement_file")
def statement_download(
    uow: ConsoleUnit,
    account_id: AccountId,
    first_day: Annotated[CalendarDate, Query(alias="from")],
    last_day: Annotated[CalendarDate, Query(alias="to")],
    format: Annotated[str, Query(max_length=20)] = "camt053",
) -> StreamingResponse:
    export = uow.run(open_export, account_id, first_day=first_day, last_day=last_day, format=format)
    return StreamingResponse(
        statement_file(uow.db, export),
        media_type=MEDIA_TYPES[export.format],
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )
