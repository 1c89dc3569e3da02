"""Appending to the hash chains, in the transaction that writes the records.

Whoever writes a chained record notes it on the session (`note`); when the session commits,
`seal` appends every noted record to its chain in that same transaction, so a record and its
link commit or vanish together. Sealing happens last, just before COMMIT: the chain heads
involved are locked then (SELECT ... FOR UPDATE in chain order on PostgreSQL; SQLite's write
transaction already holds the database's lock), after every account lock the work took, so
lock order is always accounts then chains and two transactions never wait on each other in a
cycle. A head is locked for the few statements between sealing and COMMIT only: one tenant's
transactions queue there, other tenants' do not."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, event, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.audit import canonical
from core.db import SessionQueue, table_of
from core.models.audit_chain import AuditChain, AuditLink

# Records noted in this transaction, waiting for their links (a savepoint rolled back takes
# its own with it).
_PENDING = SessionQueue("mandate.audit.pending")
_CHAINS = table_of(AuditChain)
_LINKS = table_of(AuditLink)
_INSERT_LINKS = insert(_LINKS)
_MOVE_HEAD = (
    update(_CHAINS)
    .where(_CHAINS.c.chain == bindparam("chain_name"))
    .values(seq=bindparam("new_seq"), head_hash=bindparam("new_hash"))
)


@dataclass(frozen=True)
class PendingLink:
    """A record written in this transaction, waiting for its place in its chain."""

    chain: str
    bank_id: int
    tenant_id: int | None
    table: str
    record_id: int
    at: Any
    digest: str
    personal: dict[str, Any]


def note(
    session: Session,
    table: str,
    record_id: int,
    row: Mapping[str, Any],
    entries: Iterable[Mapping[str, Any]] = (),
) -> None:
    """Note that `row` (a chained table's row, as written) was written as `record_id`: it is
    chained when the session commits. A transfer's `entries` are part of its record."""
    content = canonical.record_content(table, record_id, row, entries)
    _PENDING.add(
        session,
        PendingLink(
            chain=canonical.chain_of(row["bank_id"], row["tenant_id"]),
            bank_id=row["bank_id"],
            tenant_id=row["tenant_id"],
            table=table,
            record_id=record_id,
            at=row[canonical.TIME_FIELD[table]],
            digest=canonical.record_digest(content),
            personal=canonical.personal_content(table, row),
        ),
    )


def seal(session: Session) -> None:
    """Append the records noted on `session` to their chains (called just before COMMIT)."""
    if session.in_nested_transaction():
        return  # a savepoint's release: the chains are sealed with the transaction itself
    pending: list[PendingLink] = _PENDING.take(session)
    if not pending:
        return
    heads = lock_heads(session, {p.chain: (p.bank_id, p.tenant_id) for p in pending})
    links = []
    for item in pending:
        seq, prev = heads[item.chain]
        seq += 1
        salt = secrets.token_hex(16)
        personal = canonical.personal_digest(salt, item.personal)
        link = canonical.link_hash(
            chain=item.chain,
            seq=seq,
            table=item.table,
            record_id=item.record_id,
            at=item.at,
            digest=item.digest,
            personal=personal,
            prev=prev,
        )
        links.append(
            {
                "chain": item.chain,
                "seq": seq,
                "record_table": item.table,
                "record_id": item.record_id,
                "record_at": item.at,
                "digest": item.digest,
                "salt": salt,
                "personal_digest": personal,
                "prev_hash": prev,
                "hash": link,
            }
        )
        heads[item.chain] = (seq, link)
    moved = [
        {"chain_name": name, "new_seq": heads[name][0], "new_hash": heads[name][1]}
        for name in sorted({p.chain for p in pending})
    ]
    _write_links(session, links, moved)


# On PostgreSQL the links and the heads' moves are one statement (data-modifying CTEs): one
# round trip instead of two, under the head locks the commit is about to release.
_APPEND_PG = text(
    """
WITH appended AS (
    INSERT INTO audit_links (chain, seq, record_table, record_id, record_at, digest, salt,
                             personal_digest, prev_hash, hash)
    SELECT chain, seq, record_table, record_id, record_at, digest, salt, personal_digest,
           prev_hash, hash
    FROM jsonb_to_recordset(CAST(:links AS jsonb)) AS l (
        chain text, seq bigint, record_table text, record_id bigint, record_at timestamptz,
        digest text, salt text, personal_digest text, prev_hash text, hash text)
)
UPDATE audit_chains SET seq = h.new_seq, head_hash = h.new_hash
FROM jsonb_to_recordset(CAST(:heads AS jsonb)) AS h (chain_name text, new_seq bigint, new_hash text)
WHERE audit_chains.chain = h.chain_name
"""
)


def _write_links(
    session: Session, links: list[dict[str, Any]], moved: list[dict[str, Any]]
) -> None:
    connection = session.connection()
    if session.get_bind().dialect.name == "postgresql":
        rows = [{**link, "record_at": canonical.plain(link["record_at"])} for link in links]
        connection.execute(_APPEND_PG, {"links": json.dumps(rows), "heads": json.dumps(moved)})
        return
    connection.execute(_INSERT_LINKS, links)
    connection.execute(_MOVE_HEAD, moved)


def lock_heads(
    session: Session, owners: Mapping[str, tuple[int, int | None]]
) -> dict[str, tuple[int, str]]:
    """Lock the heads of the chains named in `owners` (chain -> (bank, tenant)), creating
    those that do not exist yet, in chain order; their (seq, head hash)."""
    names = sorted(owners)
    heads = _read_heads(session, names)
    missing = [name for name in names if name not in heads]
    if missing:
        rows = [
            {
                "chain": name,
                "bank_id": owners[name][0],
                "tenant_id": owners[name][1],
                "seq": 0,
                "head_hash": canonical.GENESIS,
                "anchor_seq": 0,
                "anchor_hash": canonical.GENESIS,
            }
            for name in missing
        ]
        postgres = session.get_bind().dialect.name == "postgresql"
        dialect_insert = pg_insert if postgres else sqlite_insert
        # A concurrent transaction may create the same head first: then we wait for it.
        session.connection().execute(dialect_insert(_CHAINS).on_conflict_do_nothing(), rows)
        heads = _read_heads(session, names)
    return heads


_HEADS = (
    select(_CHAINS.c.chain, _CHAINS.c.seq, _CHAINS.c.head_hash)
    .where(_CHAINS.c.chain.in_(bindparam("names", expanding=True)))
    .order_by(_CHAINS.c.chain)
)
_LOCK_HEADS = _HEADS.with_for_update()


def _read_heads(session: Session, names: list[str]) -> dict[str, tuple[int, str]]:
    postgres = session.get_bind().dialect.name == "postgresql"
    rows = session.connection().execute(_LOCK_HEADS if postgres else _HEADS, {"names": names})
    return {row.chain: (row.seq, row.head_hash) for row in rows}


# Every session seals on commit: a record written by any unit of work (a request's, a
# command's, a test's) is chained, never one that was rolled back (the queue forgets those).
event.listen(Session, "before_commit", seal)
