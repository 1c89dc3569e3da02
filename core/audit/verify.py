"""`mandate audit verify`: recompute every hash chain on a live database.

Each chain is walked from its anchor (its start, or where a retention purge left it) in
order of position: every link must follow its predecessor (next position, its predecessor's
hash), its own hash must be what its fields give, and its record must still be there with
the content its digest was made of (and, unless the person was erased, the personal fields
its commitment was made of). The walk must end at the chain's head; every chained record
must have a link; every checkpoint must be signed by the audit key and agree with the link
at its position. The first break of each chain is reported, naming the table and record.
Everything is read in one snapshot (PostgreSQL: REPEATABLE READ, READ ONLY)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, and_, select
from sqlalchemy.engine import RowMapping

from core.audit import canonical
from core.audit.records import RECORD_TABLES, records_of
from core.db import Database, table_of
from core.models.audit_chain import AuditChain, AuditCheckpoint, AuditLink
from core.progress import NoProgress, Progress

_CHAINS = table_of(AuditChain)
_LINKS = table_of(AuditLink)
_CHECKPOINTS = table_of(AuditCheckpoint)
# The change that records an erasure names the links whose personal commitment it opened.
ERASED_CHANGE = "erased"


@dataclass(frozen=True)
class Break:
    """Where a chain stopped holding: the chain, the record (table and id), its position."""

    chain: str
    table: str | None
    record_id: int | None
    seq: int | None
    problem: str
    expected: str | None = None
    found: str | None = None

    def render(self) -> str:
        where = f"{self.table} {self.record_id}" if self.table else "chain"
        text = f"{self.chain} seq {self.seq}: {where}: {self.problem}"
        if self.expected is not None or self.found is not None:
            text += f" (expected {self.expected}, found {self.found})"
        return text


@dataclass
class AuditReport:
    chains: int = 0
    links: int = 0
    checkpoints: int = 0
    # Decisions found purged past their retention (their links kept).
    purged: int = 0
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    def render(self) -> str:
        lines = [
            f"{self.chains} chains, {self.links} links, {self.checkpoints} checkpoints verified"
            f" ({self.purged} decisions purged past retention)"
        ]
        if self.ok:
            lines.append("ok: every chain holds")
        else:
            lines.append(f"BROKEN: {len(self.breaks)} problem(s)")
            lines.extend(f"  {b.render()}" for b in self.breaks)
        return "\n".join(lines)


def verify_database(
    db: Database,
    *,
    tenant_id: int | None = None,
    public_key: Ed25519PublicKey | None = None,
    purged_before: dt.datetime | None = None,
    batch_size: int = 1000,
    progress: Progress | None = None,
) -> AuditReport:
    """Verify the chains (one tenant's with `tenant_id`) in one read-only snapshot, telling
    `progress` how far it got. A decision made before `purged_before` may be gone (purged past
    its retention)."""
    conn = db.engine.connect()
    try:
        if db.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            if db.dialect == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            return verify_chains(
                conn,
                tenant_id=tenant_id,
                public_key=public_key,
                purged_before=purged_before,
                batch_size=batch_size,
                progress=progress,
            )
    finally:
        conn.close()


def verify_chains(
    conn: Connection,
    *,
    tenant_id: int | None = None,
    public_key: Ed25519PublicKey | None = None,
    purged_before: dt.datetime | None = None,
    batch_size: int = 1000,
    progress: Progress | None = None,
) -> AuditReport:
    """Verify the chains on an open connection (inside the caller's transaction). `progress`
    hears of the links walked (the heads say how many there are), then of the record tables
    searched for records outside every chain."""
    progress = progress or NoProgress()
    report = AuditReport()
    stmt = select(_CHAINS).order_by(_CHAINS.c.chain)
    if tenant_id is not None:
        stmt = stmt.where(_CHAINS.c.tenant_id == tenant_id)
    erased = erased_links(conn)
    heads = conn.execute(stmt).mappings().all()
    progress.begin("links", sum(head["seq"] - head["anchor_seq"] for head in heads))
    for head in heads:
        report.chains += 1
        walk = _ChainWalk(conn, head, erased, batch_size, purged_before, progress)
        report.links += walk.run()
        report.purged += walk.purged
        report.breaks.extend(walk.breaks[:1])
        report.checkpoints += _check_checkpoints(conn, head, walk, public_key, report.breaks)
    progress.end()
    report.breaks.extend(_unchained(conn, tenant_id, progress))
    return report


def erased_links(conn: Connection) -> set[int]:
    """The links whose personal commitment an erasure opened, as the erasures' own change
    records name them. Only an erasure record whose own link is still sealed and agrees with
    it counts: one rewritten to name more links would have to be unsealed itself."""
    changes = RECORD_TABLES[canonical.CHANGES]
    stmt = (
        select(changes.c.before, changes.c.after, _LINKS.c.salt, _LINKS.c.personal_digest)
        .join(
            _LINKS,
            and_(_LINKS.c.record_table == canonical.CHANGES, _LINKS.c.record_id == changes.c.id),
        )
        .where(changes.c.change == ERASED_CHANGE, _LINKS.c.salt.is_not(None))
    )
    opened: set[int] = set()
    for row in conn.execute(stmt):
        personal = canonical.personal_content(canonical.CHANGES, row._mapping)
        if canonical.personal_digest(row.salt, personal) != row.personal_digest:
            continue  # caught as altered where the walk reaches it
        opened.update(int(i) for i in json.loads(row.after or "{}").get("unsealed_links", []))
    return opened


class _ChainWalk:
    """One chain, link by link from its anchor; `hashes` keeps the hash at each position a
    checkpoint may name."""

    def __init__(
        self,
        conn: Connection,
        head: RowMapping,
        erased: set[int],
        batch_size: int,
        purged_before: dt.datetime | None,
        progress: Progress,
    ) -> None:
        self.conn = conn
        self.progress = progress
        self.purged_before = purged_before
        self.purged = 0
        self.head = head
        self.erased = erased
        self.batch_size = batch_size
        self.breaks: list[Break] = []
        self.hashes: dict[int, str] = {head["anchor_seq"]: head["anchor_hash"]}

    def run(self) -> int:
        seq, prev = self.head["anchor_seq"], self.head["anchor_hash"]
        walked = 0
        for page in self._pages():
            records = records_of(self.conn, page)
            for link in page:
                walked += 1
                if not self._link_holds(link, seq, prev, records):
                    return walked
                seq, prev = link["seq"], link["hash"]
                self.hashes[seq] = prev
        if (seq, prev) != (self.head["seq"], self.head["head_hash"]):
            self._break(
                None,
                "the chain's head is not where its links end (links removed from its end?)",
                expected=f"seq {self.head['seq']} {self.head['head_hash']}",
                found=f"seq {seq} {prev}",
            )
        return walked

    def _pages(self) -> Iterator[list[RowMapping]]:
        after = self.head["anchor_seq"]
        while True:
            stmt = (
                select(_LINKS)
                .where(_LINKS.c.chain == self.head["chain"], _LINKS.c.seq > after)
                .order_by(_LINKS.c.seq)
                .limit(self.batch_size)
            )
            page = list(self.conn.execute(stmt).mappings())
            if not page:
                return
            yield page
            self.progress.advance(len(page))
            after = page[-1]["seq"]

    def _link_holds(
        self,
        link: RowMapping,
        seq: int,
        prev: str,
        records: Mapping[tuple[str, int], tuple[RowMapping, list[RowMapping]]],
    ) -> bool:
        table, record_id = link["record_table"], link["record_id"]
        if link["seq"] != seq + 1:
            return self._break(
                link, "a link is missing before this one", str(seq + 1), str(link["seq"])
            )
        if link["prev_hash"] != prev:
            return self._break(link, "does not follow its predecessor", prev, link["prev_hash"])
        recomputed = canonical.link_hash(
            chain=link["chain"],
            seq=link["seq"],
            table=table,
            record_id=record_id,
            at=link["record_at"],
            digest=link["digest"],
            personal=link["personal_digest"],
            prev=link["prev_hash"],
        )
        if recomputed != link["hash"]:
            return self._break(link, "the link was altered", recomputed, link["hash"])
        found = records.get((table, record_id))
        if found is None:
            if self._past_retention(link):
                self.purged += 1
                return True
            return self._break(link, "the record is missing (deleted?)", link["digest"], None)
        row, entries = found
        digest = canonical.record_digest(canonical.record_content(table, record_id, row, entries))
        if digest != link["digest"]:
            return self._break(link, "the record was altered", link["digest"], digest)
        return self._personal_holds(link, row)

    def _past_retention(self, link: RowMapping) -> bool:
        """A decision purged past its retention: its link, whose hash covers its time, says
        it was old enough."""
        return (
            link["record_table"] == canonical.DECISIONS
            and self.purged_before is not None
            and link["record_at"] < self.purged_before
        )

    def _personal_holds(self, link: RowMapping, row: RowMapping) -> bool:
        if link["salt"] is None:
            if link["id"] in self.erased:
                return True
            return self._break(link, "its personal data was unsealed without an erasure")
        personal = canonical.personal_digest(
            link["salt"], canonical.personal_content(link["record_table"], row)
        )
        if personal != link["personal_digest"]:
            return self._break(
                link, "the record's personal fields were altered", link["personal_digest"], personal
            )
        return True

    def _break(
        self,
        link: RowMapping | None,
        problem: str,
        expected: str | None = None,
        found: str | None = None,
    ) -> bool:
        self.breaks.append(
            Break(
                chain=self.head["chain"],
                table=link["record_table"] if link else None,
                record_id=link["record_id"] if link else None,
                seq=link["seq"] if link else self.head["seq"],
                problem=problem,
                expected=expected,
                found=found,
            )
        )
        return False


def _check_checkpoints(
    conn: Connection,
    head: RowMapping,
    walk: _ChainWalk,
    public_key: Ed25519PublicKey | None,
    breaks: list[Break],
) -> int:
    """Every checkpoint of the chain: signed by the audit key, and agreeing with the chain."""
    stmt = select(_CHECKPOINTS).where(_CHECKPOINTS.c.chain == head["chain"])
    checked = 0
    anchored = head["anchor_seq"] == 0
    for point in conn.execute(stmt.order_by(_CHECKPOINTS.c.id)).mappings():
        checked += 1
        problem = checkpoint_problem(point, public_key)
        if problem is None and point["seq"] >= head["anchor_seq"] and not walk.breaks:
            held = walk.hashes.get(point["seq"])
            if held is None:
                problem = "names a position the chain no longer reaches (links removed?)"
            elif held != point["head_hash"]:
                problem = f"disagrees with the chain at seq {point['seq']} ({held})"
        if problem is not None:
            breaks.append(
                Break(head["chain"], "audit_checkpoints", point["id"], point["seq"], problem)
            )
        elif (point["seq"], point["head_hash"]) == (head["anchor_seq"], head["anchor_hash"]):
            anchored = True
    if not anchored:
        breaks.append(
            Break(
                head["chain"],
                None,
                None,
                head["anchor_seq"],
                "the chain starts from an anchor no signed checkpoint holds (links removed?)",
            )
        )
    return checked


def checkpoint_problem(point: Mapping[Any, Any], public_key: Ed25519PublicKey | None) -> str | None:
    """What is wrong with a checkpoint's signature, if anything (None: no key to check)."""
    if public_key is None:
        return None
    message = canonical.checkpoint_message(
        point["chain"], point["seq"], point["head_hash"], point["at"], point["key_id"]
    )
    try:
        public_key.verify(bytes.fromhex(point["signature"]), message)
    except (InvalidSignature, ValueError):
        return "its signature does not verify with the audit key"
    return None


def _unchained(conn: Connection, tenant_id: int | None, progress: Progress) -> list[Break]:
    """Records written without a link (inserted behind Mandate's back): a few of each table."""
    found: list[Break] = []
    progress.begin("records", len(RECORD_TABLES))
    for name, table in RECORD_TABLES.items():
        link = and_(_LINKS.c.record_table == name, _LINKS.c.record_id == table.c.id)
        stmt = (
            select(table.c.id, table.c.bank_id, table.c.tenant_id)
            .outerjoin(_LINKS, link)
            .where(_LINKS.c.id.is_(None))
            .order_by(table.c.id)
            .limit(5)
        )
        if tenant_id is not None:
            stmt = stmt.where(table.c.tenant_id == tenant_id)
        for row in conn.execute(stmt):
            chain = canonical.chain_of(row.bank_id, row.tenant_id)
            found.append(Break(chain, name, row.id, None, "the record is in no chain"))
        progress.advance(1)
    progress.end()
    return found
