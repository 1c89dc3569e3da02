"""Impact of a policy: the logged decisions of a window, decided again under it.

Each logged decision keeps the facts it was made on (core.policy.recorded); replaying one is
deciding those facts under another engine and comparing outcome and reason with the logged
ones. Nothing is written: the replay asks the engine directly (core.policy.service.check,
which logs, is never called).

The window's newest `limit` decisions are streamed sorted by their request's text, so that
the decisions sharing static facts (one person's reads, one payer's transfers) come together:
each such group is decided in one pass of Polar's partial evaluation
(PolicyEngine.decide_each), a request seen once directly. Memory holds one group at a time.

What a replay sees: the facts gathered when the decision was made. They hold every grant of
the person that reached the resource, whether its role carried the action then or not (with
its role's facts, and its totals where it has a cumulative limit: core.policy.facts), and a
replay keeps of them those whose role carries the action under the policy it replays, as
deciding live under that policy would (core.policy.shaping.carrying). So a proposal that
gives a role a permission shows its holders' refusals turning to allow; under the policy of
the day the replay decides on exactly the grants decided on. Decisions logged before the log
kept every grant (those facts hold only the carrying ones) replay tightening exactly, not a
widening.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Row, Select, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.models.audit import DecisionRecord
from core.policy import recorded
from core.policy.engine import Decision, PolicyEngine, PolicyError

DEFAULT_WINDOW = dt.timedelta(days=7)
# Requests with the same static facts, at least this many, are decided together
# (PolicyEngine.decide_each: one partial evaluation, stopped once each is decided); fewer,
# each directly. A direct decision costs 3-7 ms for a transfer, 1 ms for a read; a partial
# answer about 3 ms each, and the first one allows most requests.
GROUP_AT = 2
# A group this large is decided by the compiled program, cached per static facts, in chunks
# of this many: memory holds one chunk.
CHUNK = 5_000
# Rows fetched from the database at a time.
FETCH = 2_000

Outcome = Literal["allow", "deny", "none"]
# What a policy that gives decide/5 no answer for a request is reported as (the live service
# would fail that request).
NO_ANSWER = "no_answer"


class ImpactChange(BaseModel):
    """Logged decisions of one action that the replay decided otherwise, the same way."""

    action: str
    from_decision: Literal["allow", "deny"]
    from_reason: str
    to_decision: Outcome
    to_reason: str
    count: int
    # Ids of original decisions (the decision log's), newest first, at most `samples`.
    sample_decision_ids: list[int]


class TenantImpact(BaseModel):
    """One tenant's share of a replay restricted to chosen tenants (a rollout's step)."""

    tenant_id: int
    # The policy its decisions were replayed under: the platform version and its extension.
    policy_version: str
    extension_version: str | None
    replayed: int
    allow_to_deny: int
    deny_to_allow: int
    reason_changed: int


class Impact(BaseModel):
    """What replaying a window of the decision log under a policy found."""

    policy_version: str
    since: dt.datetime
    until: dt.datetime
    tenant_id: int | None
    bank_id: int | None
    limit: int
    # Decisions in the window looked at (newest first, at most `limit`); `truncated` when the
    # window held more.
    considered: int
    truncated: bool
    replayed: int
    # Logged without their facts (before the log kept them): counted, not replayed.
    not_replayable: int
    unchanged: int
    allow_to_deny: int
    deny_to_allow: int
    # Same outcome, another reason (a refusal now refused for another cause).
    reason_changed: int
    # The policy gave decide/5 no answer (a broken proposal): counted apart, and in changes
    # with to_decision "none".
    unanswered: int
    changes: list[ImpactChange]
    elapsed_seconds: float
    # Restricted to chosen tenants (tenant_ids): each one's counts, and the extension the
    # replay loaded for it.
    tenant_ids: list[int] | None = None
    tenants: list[TenantImpact] = []


@dataclass
class _Group:
    count: int = 0
    samples: list[int] = field(default_factory=list)


_ChangeKey = tuple[str, str, str, str, str]


@dataclass
class _TenantTally:
    replayed: int = 0
    allow_to_deny: int = 0
    deny_to_allow: int = 0
    reason_changed: int = 0


@dataclass
class _Tally:
    samples: int
    considered: int = 0
    replayed: int = 0
    not_replayable: int = 0
    unchanged: int = 0
    allow_to_deny: int = 0
    deny_to_allow: int = 0
    reason_changed: int = 0
    unanswered: int = 0
    groups: dict[_ChangeKey, _Group] = field(default_factory=dict)
    by_tenant: dict[int, _TenantTally] = field(default_factory=dict)

    def add(
        self,
        decision_id: int,
        action: str,
        logged: tuple[str, str],
        now: tuple[str, str],
        tenant_id: int | None = None,
    ) -> None:
        self.replayed += 1
        tenant = self.by_tenant.setdefault(tenant_id or 0, _TenantTally())
        tenant.replayed += 1
        if logged == now:
            self.unchanged += 1
            return
        (was, was_reason), (became, reason) = logged, now
        if became == "none":
            self.unanswered += 1
        elif was == became:
            self.reason_changed += 1
            tenant.reason_changed += 1
        elif became == "deny":
            self.allow_to_deny += 1
            tenant.allow_to_deny += 1
        else:
            self.deny_to_allow += 1
            tenant.deny_to_allow += 1
        group = self.groups.setdefault((action, was, was_reason, became, reason), _Group())
        group.count += 1
        group.samples.append(decision_id)
        # The newest `samples` are kept: rows come grouped by their facts, not by time.
        if len(group.samples) > 4 * self.samples + 16:
            group.samples = sorted(group.samples, reverse=True)[: self.samples]

    def changes(self) -> list[ImpactChange]:
        rows = [
            ImpactChange(
                action=action,
                from_decision=was,
                from_reason=was_reason,
                to_decision=became,
                to_reason=reason,
                count=group.count,
                sample_decision_ids=sorted(group.samples, reverse=True)[: self.samples],
            )
            for (action, was, was_reason, became, reason), group in self.groups.items()
        ]
        return sorted(rows, key=lambda c: (-c.count, c.action, c.from_reason, c.to_reason))


def impact(
    session: Session,
    engine: PolicyEngine,
    *,
    since: dt.datetime,
    until: dt.datetime,
    limit: int = 100_000,
    samples: int = 5,
    tenant_id: int | None = None,
    bank_id: int | None = None,
    tenant_ids: Sequence[int] | None = None,
) -> Impact:
    """Replay the decisions logged in [since, until) (the newest `limit` of them; only
    `tenant_id`'s, or only `bank_id`'s, or only those of `tenant_ids`, when given) under
    `engine`'s policy, and count what would have been decided otherwise: per action and change
    of reason, with up to `samples` ids of the original decisions per change (and, with
    `tenant_ids`, per tenant). Reads only; writes nothing."""
    started = time.perf_counter()
    # An engine of its own: the replay fills a compile cache with the log's facts, which
    # must not push the live engine's out, nor hold its lock while live requests decide.
    replica = engine.replica()
    tally = _Tally(samples=samples)
    scope = _window(since, until, tenant_id, bank_id)
    if tenant_ids is not None:
        scope.append(col(DecisionRecord.tenant_id).in_(sorted(set(tenant_ids))))
    truncated = _more_than(session, scope, limit)
    replay_groups(replica, _grouped(logged_decisions(session, scope, limit)), tally)
    return Impact(
        policy_version=engine.version,
        since=since,
        until=until,
        tenant_id=tenant_id,
        bank_id=bank_id,
        limit=limit,
        considered=tally.considered,
        truncated=truncated,
        replayed=tally.replayed,
        not_replayable=tally.not_replayable,
        unchanged=tally.unchanged,
        allow_to_deny=tally.allow_to_deny,
        deny_to_allow=tally.deny_to_allow,
        reason_changed=tally.reason_changed,
        unanswered=tally.unanswered,
        changes=tally.changes(),
        elapsed_seconds=round(time.perf_counter() - started, 3),
        tenant_ids=sorted(set(tenant_ids)) if tenant_ids is not None else None,
        tenants=_tenant_impacts(tally, engine, tenant_ids or []),
    )


def _tenant_impacts(
    tally: _Tally, engine: PolicyEngine, tenant_ids: Sequence[int]
) -> list[TenantImpact]:
    return [
        TenantImpact(
            tenant_id=tenant,
            policy_version=engine.version,
            extension_version=engine.extension_version,
            **dataclasses.asdict(tally.by_tenant.get(tenant, _TenantTally())),
        )
        for tenant in sorted(set(tenant_ids))
    ]


def replay_groups(
    engine: PolicyEngine, groups: Iterator[tuple[str | None, list[Row[Any]], bool]], tally: _Tally
) -> None:
    """Decide each group of logged rows (sharing one request text) under `engine`."""
    for text, rows, compiled in groups:
        tally.considered += len(rows)
        if text is None:
            tally.not_replayable += len(rows)
            continue
        try:
            request = carried(engine, recorded.decode_part(text))
            values = [recorded.decode_part(row.fact_values) for row in rows]
        except (TypeError, ValueError, KeyError):
            tally.not_replayable += len(rows)
            continue
        for row, outcome in zip(rows, _decide(engine, request, values, compiled), strict=True):
            tally.add(row.id, row.action, (row.decision, row.reason), outcome, row.tenant_id)


def carried(engine: PolicyEngine, request: dict[str, Any]) -> dict[str, Any]:
    """A logged request as `engine` would decide it live: of the grants it recorded, those
    whose role carries the action under `engine`'s policy, in their order."""
    grants = request.get("grants")
    if not isinstance(grants, list) or not grants:
        return request
    action = request["action"]
    kept = [grant for grant in grants if engine.role_carries(grant["role"], action)]
    return request if len(kept) == len(grants) else {**request, "grants": kept}


def _decide(
    engine: PolicyEngine, request: dict[str, Any], values: list[dict[str, Any]], compiled: bool
) -> list[tuple[str, str]]:
    decisions: list[Decision | None]
    if compiled and engine.compile_enabled:
        decisions = [_or_none(engine.decide, request, v) for v in values]
    elif len(values) >= GROUP_AT and engine.compile_enabled:
        decisions = engine.decide_each(request, values)
    else:
        decisions = [_or_none(engine.decide_direct, request, v) for v in values]
    return [("none", NO_ANSWER) if d is None else (d.outcome, d.reason) for d in decisions]


def _or_none(
    decide: Callable[[dict[str, Any], dict[str, Any]], Decision],
    request: dict[str, Any],
    values: dict[str, Any],
) -> Decision | None:
    try:
        return decide(request, values)
    except PolicyError:
        return None


def _grouped(rows: Iterator[Row[Any]]) -> Iterator[tuple[str | None, list[Row[Any]], bool]]:
    """Consecutive rows with the same request text, as (text, rows, compiled): a group of
    more than CHUNK rows comes in chunks, compiled (decided by the cached program)."""
    text: str | None = None
    group: list[Row[Any]] = []
    compiled = False
    for row in rows:
        if group and row.facts != text:
            yield text, group, compiled
            group, compiled = [], False
        text = row.facts
        group.append(row)
        if len(group) >= CHUNK:
            yield text, group, True
            group, compiled = [], True
    if group:
        yield text, group, compiled


def _window(
    since: dt.datetime, until: dt.datetime, tenant_id: int | None, bank_id: int | None
) -> list[ColumnElement[bool]]:
    scope = [col(DecisionRecord.at) >= since, col(DecisionRecord.at) < until]
    if tenant_id is not None:
        scope.append(col(DecisionRecord.tenant_id) == tenant_id)
    if bank_id is not None:
        scope.append(col(DecisionRecord.bank_id) == bank_id)
    return scope


def _newest(scope: list[ColumnElement[bool]], limit: int) -> Select[Any]:
    return (
        select(col(DecisionRecord.id))
        .where(*scope)
        .order_by(col(DecisionRecord.id).desc())
        .limit(limit)
    )


def _more_than(session: Session, scope: list[ColumnElement[bool]], limit: int) -> bool:
    """Whether the window holds more than `limit` decisions."""
    beyond = _newest(scope, 1).offset(limit)
    return session.execute(beyond).first() is not None


def logged_decisions(
    session: Session, scope: list[ColumnElement[bool]], limit: int
) -> Iterator[Row[Any]]:
    """The newest `limit` decisions within `scope`, as rows of (id, action, decision, reason,
    facts, fact_values, tenant_id), sorted by request text (then newest first) and streamed: the
    database sorts, and hands them over FETCH at a time."""
    facts = col(DecisionRecord.facts)
    # Byte order: a collation's rules would only slow PostgreSQL's sort down.
    order = facts.collate("C") if session.get_bind().dialect.name == "postgresql" else facts
    stmt = (
        select(
            col(DecisionRecord.id),
            col(DecisionRecord.action),
            col(DecisionRecord.decision),
            col(DecisionRecord.reason),
            facts,
            col(DecisionRecord.fact_values),
            col(DecisionRecord.tenant_id),
        )
        .where(col(DecisionRecord.id).in_(_newest(scope, limit)))
        .order_by(order, col(DecisionRecord.id).desc())
        .execution_options(yield_per=FETCH)
    )
    result: Iterator[Row[Any]] = iter(session.execute(stmt))
    yield from result
