"""What compliance reviews: the policy as loaded, every decision (filtered, and as CSV), and
every change to who may do what."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from admin.deps import ConsoleUnit
from admin.params import Cursor, DecisionId
from admin.views import decimal_text, render
from admin.workspace import workspace
from core.audit import decisions as decision_log
from core.audit import service as audit
from core.audit.decisions import DecisionFilter, DecisionPublic
from core.context import RequestContext
from core.fields import MAX_ID, in_calendar
from core.iam import service as iam
from core.pagination import MAX_PAGE
from core.policy import engine as policy_engine
from core.policy.matrix import actions, condition_matrix
from core.policy.reasons import REASONS

router = APIRouter()

# Filter fields come from a GET form: an empty field is sent as "" and means "any".
OptionalId = Annotated[str, Query(max_length=12)]
Day = Annotated[str, Query(max_length=10)]
# A CSV export is one response built in memory: bounded so one click cannot exhaust the server.
CSV_MAX_ROWS = 50_000


def policy_page(request: Request, session: Session, ctx: RequestContext) -> HTMLResponse:
    loaded = audit.loaded_policy(session, ctx)
    # Beside the files, what they mean per action: generated from the loaded policy.
    matrix = condition_matrix(policy_engine.current())
    return render(
        request, session, ctx, "policy.html", title="Policy", policy=loaded, matrix=matrix
    )


@router.get("/policy", name="console.policy")
def policy(request: Request, uow: ConsoleUnit) -> HTMLResponse:
    return uow.run(lambda session, ctx: policy_page(request, session, ctx))


def user_names(session: Session, ctx: RequestContext) -> dict[int, str]:
    """Who is who, for the logs: the people the caller may see."""
    return {
        u.id: f"{u.display_name} ({u.username})"
        for u in iam.list_users(session, ctx, limit=MAX_PAGE).items
    }


def _id(text: str) -> int | None:
    return int(text) if text.isdigit() and 1 <= int(text) <= MAX_ID else None


def _day(text: str) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None
    return day if day is None or in_calendar(day) else None


Decision = Annotated[Literal["allow", "deny", ""], Query()]
Text = Annotated[str, Query(max_length=64)]


@dataclass(frozen=True)
class Asked:
    """The decision log's filters as the reader chose them; days are the reader's days."""

    actor: int | None
    tenant: int | None
    decision: str
    action: str
    reason: str
    since: dt.date | None
    until: dt.date | None

    def filters(self, zone: str) -> DecisionFilter:
        """From the start of `since` to the end of `until`, in the reader's time zone."""
        tz = ZoneInfo(zone)
        until = self.until + dt.timedelta(days=1) if self.until else None
        return DecisionFilter(
            actor_id=self.actor,
            tenant_id=self.tenant,
            decision=self.decision or None,
            action=self.action or None,
            reason=self.reason or None,
            since=dt.datetime.combine(self.since, dt.time(), tz) if self.since else None,
            until=dt.datetime.combine(until, dt.time(), tz) if until else None,
        )


@router.get("/decisions", name="console.decisions")
def decisions(
    request: Request,
    uow: ConsoleUnit,
    actor: OptionalId = "",
    tenant: OptionalId = "",
    decision: Decision = "",
    action: Text = "",
    reason: Text = "",
    since: Day = "",
    until: Day = "",
    cursor: Cursor = None,
) -> HTMLResponse:
    asked = Asked(_id(actor), _id(tenant), decision, action, reason, _day(since), _day(until))
    return uow.run(lambda session, ctx: decisions_page(request, session, ctx, asked, cursor))


def decisions_page(
    request: Request, session: Session, ctx: RequestContext, asked: Asked, cursor: str | None
) -> HTMLResponse:
    ws = workspace(session, ctx)
    filters = asked.filters(ws.time_zone)
    first, last = asked.since, asked.until
    page = decision_log.decisions(session, ctx, filters, cursor=cursor, limit=50)
    chosen = {
        "actor": asked.actor,
        "tenant": asked.tenant,
        "decision": asked.decision,
        "action": asked.action,
        "reason": asked.reason,
        "since": first.isoformat() if first else "",
        "until": last.isoformat() if last else "",
    }
    return render(
        request,
        session,
        ctx,
        "decisions.html",
        ws=ws,
        title="Decision log",
        page=page,
        cursor=cursor,
        chosen=chosen,
        people=user_names(session, ctx),
        tenants={t.id: t.name for t in iam.list_tenants(session, ctx)},
        actions=actions(),
        reasons=["ok", *REASONS],
    )


@router.get("/decisions/{decision_id}", name="console.decision")
def decision(request: Request, uow: ConsoleUnit, decision_id: DecisionId) -> HTMLResponse:
    return uow.run(lambda session, ctx: decision_page(request, session, ctx, decision_id))


def decision_page(
    request: Request, session: Session, ctx: RequestContext, decision_id: int
) -> HTMLResponse:
    """One decision of the log and the facts it was made on (an impact report's samples link
    here): another bank's, like a missing one, is the console's 404 page."""
    found = decision_log.decision(session, ctx, decision_id)
    shown = json.dumps(found.facts, indent=2, ensure_ascii=False) if found.facts else ""
    return render(
        request,
        session,
        ctx,
        "decision.html",
        title=f"Decision {found.id}",
        d=found,
        facts=shown.replace("\\u0000dynamic:", "dynamic:"),
        fact_values=json.dumps(found.fact_values, indent=2) if found.fact_values else "",
        people=user_names(session, ctx),
        tenants={t.id: t.name for t in iam.list_tenants(session, ctx)},
    )


def _csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A cell starting like a formula would run as one in a spreadsheet (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_row(d: DecisionPublic, people: dict[int, str]) -> list[str]:
    return [
        _csv_cell(v)
        for v in (
            d.id,
            d.at.isoformat(),
            d.actor_id,
            d.actor_username,
            people.get(d.actor_id, d.actor_username),
            d.tenant_id,
            d.action,
            d.resource_type,
            d.resource_id,
            d.account_id,
            decimal_text(d.amount, d.currency) if d.amount is not None and d.currency else "",
            d.currency,
            d.decision,
            d.reason,
            d.grant_id,
            d.detail,
            d.policy_version,
            d.eval_us,
        )
    ]


CSV_HEADER = [
    "id",
    "at_utc",
    "actor_id",
    "actor_username",
    "actor",
    "tenant_id",
    "action",
    "resource_type",
    "resource_id",
    "account_id",
    "amount",
    "currency",
    "decision",
    "reason",
    "grant_id",
    "detail",
    "policy_version",
    "eval_us",
]


@router.get("/decisions.csv", name="console.decisions_csv")
def decisions_csv(
    uow: ConsoleUnit,
    actor: OptionalId = "",
    tenant: OptionalId = "",
    decision: Decision = "",
    action: Text = "",
    reason: Text = "",
    since: Day = "",
    until: Day = "",
) -> Response:
    asked = Asked(_id(actor), _id(tenant), decision, action, reason, _day(since), _day(until))
    return uow.run(decisions_export, asked)


def decisions_export(session: Session, ctx: RequestContext, asked: Asked) -> Response:
    ws = workspace(session, ctx)
    filters = asked.filters(ws.time_zone)
    people = user_names(session, ctx)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    cursor: str | None = None
    rows = 0
    while rows < CSV_MAX_ROWS:
        page = decision_log.decisions(session, ctx, filters, cursor=cursor, limit=MAX_PAGE)
        for item in page.items:
            writer.writerow(_csv_row(item, people))
        rows += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    stamp = ctx.now().strftime("%Y%m%d-%H%M")
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="mandate-decisions-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


Entity = Annotated[
    Literal["user", "role", "grant", "cap", "tenant", "beneficiary", "approval_rules", ""],
    Query(),
]


@router.get("/changes", name="console.changes")
def changes(
    request: Request,
    uow: ConsoleUnit,
    tenant: OptionalId = "",
    entity: Entity = "",
    cursor: Cursor = None,
) -> HTMLResponse:
    chosen = _id(tenant)
    return uow.run(lambda session, ctx: changes_page(request, session, ctx, chosen, entity, cursor))


def changes_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    tenant: int | None,
    entity: str,
    cursor: str | None,
) -> HTMLResponse:
    page = audit.changes(
        session, ctx, tenant_id=tenant, entity=entity or None, cursor=cursor, limit=50
    )
    return render(
        request,
        session,
        ctx,
        "changes.html",
        title="Change log",
        page=page,
        cursor=cursor,
        chosen={"tenant": tenant, "entity": entity},
        people=user_names(session, ctx),
        tenants={t.id: t.name for t in iam.list_tenants(session, ctx)},
    )
