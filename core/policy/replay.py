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

BATCH = 5_000
DEFAULT_WINDOW = dt.timedelta(days=7)
# A request seen this many times is compiled (once: PolicyEngine caches the program per
# static facts); fewer, and each is evaluated directly. Compiling a transfer's request costs
# about twenty direct evaluations, a read's about two (measured: 65 ms against 3.3 ms, 2 ms
# against 1 ms), and most requests of a week's log are either seen once or very often.
COMPILE_AT = 8
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
        group.samples.append(decision_id)
        # The newest `samples` are kept: rows come newest first, but grouped by facts
        # within a batch.
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
    replayer = _Replayer(replica)
    batches = logged_decisions(
        session, since=since, until=until, limit=limit + 1, tenant_id=tenant_id, bank_id=bank_id
    )
    truncated = False
    for rows in batches:
        if tally.considered + len(rows) > limit:
            rows = rows[: limit - tally.considered]
            truncated = True
        tally.considered += len(rows)
        replayer.replay(rows, tally)
        if truncated:
            break
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


class _Replayer:
    """Decides logged requests under one engine: rows of a batch grouped by their request's
    text, so that each text is parsed once a batch, and compiled once it is seen often."""

    def __init__(self, engine: PolicyEngine) -> None:
        self.engine = engine
        self.seen: dict[int, int] = {}  # hash of a request's text: times evaluated directly
        self.compiled: set[int] = set()

    def replay(self, rows: Sequence[Row[Any]], tally: _Tally) -> None:
        groups: dict[str, list[Row[Any]]] = {}
        for row in rows:
            if row.facts is None or row.fact_values is None:
                tally.not_replayable += 1
            else:
                groups.setdefault(row.facts, []).append(row)
        for text, group in groups.items():
            try:
                request = recorded.decode_part(text)
            except ValueError:
                tally.not_replayable += len(group)
                continue
            key = hash(text)
            seen = self.seen.get(key, 0) + len(group)
            if self.engine.compile_enabled and (key in self.compiled or seen >= COMPILE_AT):
                self.compiled.add(key)
                self.seen.pop(key, None)
                decide = self.engine.decide
            else:
                self.seen[key] = seen
                decide = self.engine.decide_direct
            for row in group:
                try:
                    values = recorded.decode_part(row.fact_values)
                except ValueError:
                    tally.not_replayable += 1
                    continue
                try:
                    # The request is shared by the group: deciding never changes the facts.
                    decision = decide(request, values)
                    now = (decision.outcome, decision.reason)
                except PolicyError:
                    now = ("none", NO_ANSWER)
                tally.add(row.id, row.action, (row.decision, row.reason), now)


def logged_decisions(
    session: Session,
    *,
    since: dt.datetime,
    until: dt.datetime,
    limit: int,
    tenant_id: int | None = None,
    bank_id: int | None = None,
    batch: int = BATCH,
) -> Iterator[Sequence[Row[Any]]]:
    """The decisions logged in [since, until), newest first, at most `limit`, in keyset
    batches of `batch` rows of (id, action, decision, reason, facts, fact_values)."""
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
        if rows:
            yield rows
        if len(rows) < min(batch, left):
            return
        left -= len(rows)
        last = rows[-1].id
