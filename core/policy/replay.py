"""Impact of a policy: the logged decisions of a window, decided again under it.

Each logged decision keeps the facts it was made on (core.policy.recorded); replaying one is
deciding those facts under another engine and comparing outcome and reason with the logged
ones. Nothing is written: the replay asks the engine directly (core.policy.service.check,
which logs, is never called), and reads the log in keyset batches, newest first, so memory
stays bounded whatever the window.

What a replay can and cannot see: the facts are those gathered when the decision was made,
under the policy of the day. Grants whose role did not carry the action then were left out
of them (core.policy.shaping.carrying), so a proposal that gives a role a permission it did
not have shows no deny -> allow for that role's holders; tightening, and any change to the
conditions, limits, windows or reasons of what the facts hold, replays exactly.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Row, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.models.audit import DecisionRecord
from core.policy import recorded
from core.policy.engine import PolicyEngine, PolicyError

BATCH = 2_000
DEFAULT_WINDOW = dt.timedelta(days=7)
# Parsed requests kept while replaying: many decisions share one request text (the same
# person, grants and resource kind), and parsing it is most of a replay's cost.
_PARSED_REQUESTS = 20_000
# Compiled programs the replay's own engine keeps (one per distinct static facts).
_PROGRAMS = 50_000

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


@dataclass
class _Group:
    count: int = 0
    samples: list[int] = field(default_factory=list)


_ChangeKey = tuple[str, str, str, str, str]


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

    def add(
        self, decision_id: int, action: str, logged: tuple[str, str], now: tuple[str, str]
    ) -> None:
        self.replayed += 1
        if logged == now:
            self.unchanged += 1
            return
        (was, was_reason), (became, reason) = logged, now
        if became == "none":
            self.unanswered += 1
        elif was == became:
            self.reason_changed += 1
        elif became == "deny":
            self.allow_to_deny += 1
        else:
            self.deny_to_allow += 1
        group = self.groups.setdefault((action, was, was_reason, became, reason), _Group())
        group.count += 1
        if len(group.samples) < self.samples:
            group.samples.append(decision_id)

    def changes(self) -> list[ImpactChange]:
        rows = [
            ImpactChange(
                action=action,
                from_decision=was,
                from_reason=was_reason,
                to_decision=became,
                to_reason=reason,
                count=group.count,
                sample_decision_ids=group.samples,
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
) -> Impact:
    """Replay the decisions logged in [since, until) (the newest `limit` of them; only
    `tenant_id`'s, or only `bank_id`'s, when given) under `engine`'s policy, and count what
    would have been decided otherwise: per action and change of reason, with up to `samples`
    ids of the original decisions per change. Reads only; writes nothing."""
    started = time.perf_counter()
    # An engine of its own: the replay fills a compile cache with the log's facts, which
    # must not push the live engine's out, nor hold its lock while live requests decide.
    replica = PolicyEngine(
        engine.files, compile=engine.compile_enabled, cache_size=_PROGRAMS, source=engine.source
    )
    tally = _Tally(samples=samples)
    parsed: dict[str, dict[str, Any]] = {}
    rows = logged_decisions(
        session, since=since, until=until, limit=limit + 1, tenant_id=tenant_id, bank_id=bank_id
    )
    truncated = False
    for row in rows:
        if tally.considered == limit:
            truncated = True
            break
        tally.considered += 1
        outcome = _replay(replica, row, parsed)
        if outcome is None:
            tally.not_replayable += 1
            continue
        tally.add(row.id, row.action, (row.decision, row.reason), outcome)
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
    )


def _replay(
    engine: PolicyEngine, row: Row[Any], parsed: dict[str, dict[str, Any]]
) -> tuple[str, str] | None:
    """(outcome, reason) of the logged decision `row` under `engine`; None without facts."""
    if row.facts is None or row.fact_values is None:
        return None
    request = parsed.get(row.facts)
    try:
        if request is None:
            if len(parsed) >= _PARSED_REQUESTS:
                parsed.clear()
            request = parsed[row.facts] = recorded.decode_part(row.facts)
        values = recorded.decode_part(row.fact_values)
    except ValueError:
        return None
    try:
        # The parsed request is shared by every row with the same text: decide never changes
        # the facts it is given.
        decision = engine.decide(request, values)
    except PolicyError:
        return ("none", NO_ANSWER)
    return (decision.outcome, decision.reason)


def logged_decisions(
    session: Session,
    *,
    since: dt.datetime,
    until: dt.datetime,
    limit: int,
    tenant_id: int | None = None,
    bank_id: int | None = None,
    batch: int = BATCH,
) -> Iterator[Row[Any]]:
    """The decisions logged in [since, until), newest first, at most `limit`: rows of (id,
    action, decision, reason, facts, fact_values), read in keyset batches of `batch`."""
    columns: Sequence[Any] = (
        col(DecisionRecord.id),
        col(DecisionRecord.action),
        col(DecisionRecord.decision),
        col(DecisionRecord.reason),
        col(DecisionRecord.facts),
        col(DecisionRecord.fact_values),
    )
    stmt = select(*columns).where(col(DecisionRecord.at) >= since, col(DecisionRecord.at) < until)
    if tenant_id is not None:
        stmt = stmt.where(col(DecisionRecord.tenant_id) == tenant_id)
    if bank_id is not None:
        stmt = stmt.where(col(DecisionRecord.bank_id) == bank_id)
    stmt = stmt.order_by(col(DecisionRecord.id).desc())
    last: int | None = None
    left = limit
    while left > 0:
        page = stmt if last is None else stmt.where(col(DecisionRecord.id) < last)
        rows = session.execute(page.limit(min(batch, left))).all()
        yield from rows
        if len(rows) < min(batch, left):
            return
        left -= len(rows)
        last = rows[-1].id
