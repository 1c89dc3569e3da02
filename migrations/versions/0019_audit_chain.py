"""Hash chains over money, decisions and changes (core.audit.chain), and signed checkpoints.

One chain per tenant and one per bank: `audit_chains` (each chain's head, locked to append),
`audit_links` (one per chained record: its place, its two digests, the salt of its personal
data's commitment, its predecessor's hash and its own) and `audit_checkpoints` (signed heads).
Existing transfers (with their entries), decisions and changes are chained here, each chain in
the order the records were made (time, then id), as the running code would have.

Revision ID: 0019_audit_chain
Revises: 0016_totp
Create Date: 2026-12-05
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

from core.audit import canonical
from core.db import BigIntKey, UTCDateTime

revision = "0019_audit_chain"
down_revision = "0018_authzen"
branch_labels = None
depends_on = None

_HASH = 64


def upgrade() -> None:
    op.create_table(
        "audit_chains",
        sa.Column("chain", sa.String(32), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(_HASH), nullable=False),
        sa.Column("anchor_seq", sa.BigInteger(), nullable=False),
        sa.Column("anchor_hash", sa.String(_HASH), nullable=False),
    )
    op.create_table(
        "audit_links",
        sa.Column("id", BigIntKey, primary_key=True),
        sa.Column("chain", sa.String(32), sa.ForeignKey("audit_chains.chain"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("record_table", sa.String(12), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("record_at", UTCDateTime(), nullable=False),
        sa.Column("digest", sa.String(_HASH), nullable=False),
        sa.Column("salt", sa.String(32), nullable=True),
        sa.Column("personal_digest", sa.String(_HASH), nullable=False),
        sa.Column("prev_hash", sa.String(_HASH), nullable=False),
        sa.Column("hash", sa.String(_HASH), nullable=False),
        sa.UniqueConstraint("chain", "seq", name="uq_audit_links_chain_seq"),
        sa.UniqueConstraint("record_table", "record_id", name="uq_audit_links_record"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", BigIntKey, primary_key=True),
        sa.Column("chain", sa.String(32), sa.ForeignKey("audit_chains.chain"), nullable=False),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(_HASH), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_checkpoints_chain", "audit_checkpoints", ["chain", "seq"])
    op.create_table(
        "audit_maintenance",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reason", sa.String(20), nullable=False),
    )
    _chain_existing_records(op.get_bind())
    for table in GUARDED:
        _guard(table)


# The trail's tables refuse UPDATE and DELETE unless the transaction holds a row of
# audit_maintenance (core.audit.guard: an erasure, a retention purge).
GUARDED = ("decisions", "changes", "audit_links", "audit_checkpoints")


def _guard(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION mandate_audit_guard() RETURNS trigger AS $$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM audit_maintenance) THEN
                    RAISE EXCEPTION '% is append-only: the audit trail', TG_TABLE_NAME
                        USING ERRCODE = 'restrict_violation';
                END IF;
                IF TG_OP = 'DELETE' THEN
                    RETURN OLD;
                END IF;
                RETURN NEW;
            END
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            f"CREATE TRIGGER {table}_audit_guard BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION mandate_audit_guard()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_audit_guard_{event.lower()} BEFORE {event} ON {table} "
            "WHEN NOT EXISTS (SELECT 1 FROM audit_maintenance) "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: the audit trail'); END"
        )


def _unguard(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_audit_guard ON {table}")
        return
    for event in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_audit_guard_{event}")


# The tables chained at this revision (canonical.CHAINED_TABLES grew since: 0021's log).
_CHAINED_HERE = (canonical.TRANSFERS, canonical.DECISIONS, canonical.CHANGES)


def _chain_existing_records(connection: sa.Connection) -> None:
    """Chain every record already written, in the order it was made."""
    # Reflected tables, so that times come back as datetimes on SQLite too (naive: UTC).
    metadata = sa.MetaData()
    tables = {
        name: sa.Table(name, metadata, autoload_with=connection, resolve_fks=False)
        for name in (*_CHAINED_HERE, "entries")
    }
    entries: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for entry in connection.execute(sa.select(tables["entries"])).mappings():
        entries[entry["transfer_id"]].append(dict(entry))
    times = {canonical.TRANSFERS: "created_at", canonical.DECISIONS: "at", canonical.CHANGES: "at"}
    records: list[tuple[Any, str, int, dict[str, Any], list[dict[str, Any]]]] = []
    for table, time_column in times.items():
        select = sa.select(tables[table]).order_by(tables[table].c.id)
        for row in connection.execute(select).mappings():
            record = dict(row)
            at = canonical.utc(record[time_column])
            records.append((at, table, record["id"], record, entries.get(record["id"], [])))
    records.sort(key=lambda r: (r[0], _CHAINED_HERE.index(r[1]), r[2]))
    heads: dict[str, tuple[int, str, int, int | None]] = {}
    links = []
    for at, table, record_id, row, record_entries in records:
        name = canonical.chain_of(row["bank_id"], row["tenant_id"])
        seq, prev, _bank, _tenant = heads.get(
            name, (0, canonical.GENESIS, row["bank_id"], row["tenant_id"])
        )
        seq += 1
        digest = canonical.record_digest(
            canonical.record_content(table, record_id, row, record_entries)
        )
        salt = secrets.token_hex(16)
        personal = canonical.personal_digest(salt, canonical.personal_content(table, row))
        link = canonical.link_hash(
            chain=name,
            seq=seq,
            table=table,
            record_id=record_id,
            at=at,
            digest=digest,
            personal=personal,
            prev=prev,
        )
        links.append(
            {
                "chain": name,
                "seq": seq,
                "record_table": table,
                "record_id": record_id,
                "record_at": at,
                "digest": digest,
                "salt": salt,
                "personal_digest": personal,
                "prev_hash": prev,
                "hash": link,
            }
        )
        heads[name] = (seq, link, row["bank_id"], row["tenant_id"])
    chains = sa.table(
        "audit_chains",
        *(
            sa.column(c)
            for c in (
                "chain",
                "bank_id",
                "tenant_id",
                "seq",
                "head_hash",
                "anchor_seq",
                "anchor_hash",
            )
        ),
    )
    link_columns = (
        (sa.column(c, UTCDateTime() if c == "record_at" else None) for c in links[0])
        if links
        else ()
    )
    link_table = sa.table("audit_links", *link_columns) if links else None
    if heads:
        connection.execute(
            chains.insert(),
            [
                {
                    "chain": name,
                    "bank_id": bank,
                    "tenant_id": tenant,
                    "seq": seq,
                    "head_hash": head,
                    "anchor_seq": 0,
                    "anchor_hash": canonical.GENESIS,
                }
                for name, (seq, head, bank, tenant) in heads.items()
            ],
        )
    if link_table is not None:
        connection.execute(link_table.insert(), links)


def downgrade() -> None:
    for table in GUARDED:
        _unguard(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS mandate_audit_guard()")
    op.drop_table("audit_maintenance")
    op.drop_index("ix_audit_checkpoints_chain", table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_links")
    op.drop_table("audit_chains")
