"""Retention: decisions and activity are kept MANDATE_DECISION_RETENTION_DAYS and
MANDATE_ACTIVITY_RETENTION_DAYS (default 396, about 13 months; never under 366: PCI DSS
10.5.1 keeps a year), money records (transfers, payments' logs) and changes are never purged
here (money: 10 years).

Purging a decision deletes its row and keeps its link: the link's hash covers the record's
time, so verify knows the record was past retention when it finds it gone, and the chain
stays whole. When a chain's oldest links all name purged records, that prefix is pruned:
the purge first checks the prefix links still follow one another, signs a checkpoint of the
last of them with the audit key, and makes it the chain's anchor (where verify starts; verify
requires the anchor's signed checkpoint)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, exists, func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session
from sqlmodel import col

from core.audit import canonical
from core.audit.checkpoints import AuditKey
from core.audit.guard import trail_maintenance
from core.audit.records import RECORD_TABLES
from core.db import table_of
from core.models.audit import ActivityRecord, DecisionRecord
from core.models.audit_chain import AuditChain, AuditCheckpoint, AuditLink

_CHAINS = table_of(AuditChain)
_LINKS = table_of(AuditLink)


@dataclass(frozen=True)
class RetentionPurged:
    decisions: int
    activity: int
    links_pruned: int
    anchors_signed: int


def purge_past_retention(
    session: Session,
    key: AuditKey,
    now: dt.datetime,
    *,
    decisions_kept: dt.timedelta,
    activity_kept: dt.timedelta,
) -> RetentionPurged:
    """Delete decisions and activity past their retention; prune the chains' purged prefixes."""
    if min(decisions_kept, activity_kept) < dt.timedelta(days=366):
        raise ValueError("decisions and activity are kept at least 366 days")
    with trail_maintenance(session, "retention"):
        return _purge(session, key, now, decisions_kept, activity_kept)


def _purge(
    session: Session,
    key: AuditKey,
    now: dt.datetime,
    decisions_kept: dt.timedelta,
    activity_kept: dt.timedelta,
) -> RetentionPurged:
    conn = session.connection()
    decisions = conn.execute(
        delete(DecisionRecord).where(col(DecisionRecord.at) < now - decisions_kept)
    ).rowcount
    activity = conn.execute(
        delete(ActivityRecord).where(col(ActivityRecord.at) < now - activity_kept)
    ).rowcount
    pruned = anchors = 0
    heads = conn.execute(select(_CHAINS).order_by(_CHAINS.c.chain)).mappings().all()
    for head in heads:
        count = _prune_prefix(session, key, head, now)
        pruned += count
        anchors += count > 0
    return RetentionPurged(decisions, activity, pruned, anchors)


def _first_kept(conn: Connection, chain: str) -> int | None:
    """The position of the chain's oldest link whose record is still there."""
    firsts = []
    for name, table in RECORD_TABLES.items():
        held = exists().where(table.c.id == _LINKS.c.record_id)
        firsts.append(
            conn.execute(
                select(func.min(_LINKS.c.seq)).where(
                    _LINKS.c.chain == chain, _LINKS.c.record_table == name, held
                )
            ).scalar()
        )
    kept = [seq for seq in firsts if seq is not None]
    return min(kept) if kept else None


def _prune_prefix(session: Session, key: AuditKey, head: RowMapping, now: dt.datetime) -> int:
    """Prune the chain's links up to the last whose record and every earlier one's are
    purged: after checking them and signing the new anchor. How many links were pruned."""
    conn = session.connection()
    first_kept = _first_kept(conn, head["chain"])
    last = (first_kept - 1) if first_kept is not None else head["seq"]
    if last <= head["anchor_seq"]:
        return 0
    prefix = conn.execute(
        select(_LINKS)
        .where(_LINKS.c.chain == head["chain"], _LINKS.c.seq <= last)
        .order_by(_LINKS.c.seq)
    ).mappings()
    anchor = _holds_together(prefix, head)
    if anchor is None:
        return 0  # tampered: left for `mandate audit verify` to report, never signed over
    message = canonical.checkpoint_message(head["chain"], last, anchor, now, key.key_id)
    session.add(
        AuditCheckpoint(
            chain=head["chain"],
            bank_id=head["bank_id"],
            tenant_id=head["tenant_id"],
            seq=last,
            head_hash=anchor,
            at=now,
            key_id=key.key_id,
            signature=key.sign(message),
        )
    )
    session.flush()
    pruned = conn.execute(
        delete(_LINKS).where(and_(_LINKS.c.chain == head["chain"], _LINKS.c.seq <= last))
    ).rowcount
    conn.execute(
        update(_CHAINS)
        .where(_CHAINS.c.chain == head["chain"])
        .values(anchor_seq=last, anchor_hash=anchor)
    )
    return pruned


def _holds_together(links: Iterable[RowMapping], head: RowMapping) -> str | None:
    """The last link's hash if the links follow one another from the chain's anchor."""
    seq, prev = head["anchor_seq"], head["anchor_hash"]
    for link in links:
        recomputed = canonical.link_hash(
            chain=link["chain"],
            seq=link["seq"],
            table=link["record_table"],
            record_id=link["record_id"],
            at=link["record_at"],
            digest=link["digest"],
            personal=link["personal_digest"],
            prev=link["prev_hash"],
        )
        if link["seq"] != seq + 1 or link["prev_hash"] != prev or recomputed != link["hash"]:
            return None
        seq, prev = link["seq"], link["hash"]
    return prev
