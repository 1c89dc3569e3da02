"""The hash chains over the records that matter (core.audit.chain): one chain per tenant
and one per bank, each a head row (locked to append, so chains never fork) and its links; and
the signed checkpoints of chain heads (core.audit.checkpoints)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from core.db import BigIntKey, UTCDateTime

HASH_LENGTH = 64


class AuditChain(SQLModel, table=True):
    """A chain's head: its last link's position and hash. Appending locks this row. After a
    retention purge, links up to `anchor_seq` are gone and `anchor_hash` (the hash of link
    `anchor_seq`, held by a signed checkpoint) is where verification starts."""

    __tablename__ = "audit_chains"

    chain: str = Field(primary_key=True, max_length=32)
    bank_id: int = Field(foreign_key="banks.id")
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id")
    seq: int = Field(default=0, sa_type=BigInteger)
    head_hash: str = Field(max_length=HASH_LENGTH)
    anchor_seq: int = Field(default=0, sa_type=BigInteger)
    anchor_hash: str = Field(max_length=HASH_LENGTH)


class AuditLink(SQLModel, table=True):
    """One record's place in its chain (core.audit.canonical says what each hash covers).
    `salt` opens the commitment to the record's personal fields; an erasure forgets it."""

    __tablename__ = "audit_links"
    __table_args__ = (
        UniqueConstraint("chain", "seq", name="uq_audit_links_chain_seq"),
        UniqueConstraint("record_table", "record_id", name="uq_audit_links_record"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntKey)
    chain: str = Field(foreign_key="audit_chains.chain", max_length=32)
    seq: int = Field(sa_type=BigInteger)
    record_table: str = Field(max_length=12)
    record_id: int = Field(sa_type=BigInteger)
    # The record's time (covered by the link's hash): a record purged past its retention is
    # still known by its link to have been that old.
    record_at: dt.datetime = Field(sa_type=UTCDateTime)
    digest: str = Field(max_length=HASH_LENGTH)
    salt: str | None = Field(default=None, max_length=32)
    personal_digest: str = Field(max_length=HASH_LENGTH)
    prev_hash: str = Field(max_length=HASH_LENGTH)
    hash: str = Field(max_length=HASH_LENGTH)


class AuditCheckpoint(SQLModel, table=True):
    """A chain's head at an instant, signed with the audit key (Ed25519): an auditor holding
    it can check that the chain later read extends it."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (Index("ix_audit_checkpoints_chain", "chain", "seq"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntKey)
    chain: str = Field(foreign_key="audit_chains.chain", max_length=32)
    bank_id: int = Field(foreign_key="banks.id")
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id")
    seq: int = Field(sa_type=BigInteger)
    head_hash: str = Field(max_length=HASH_LENGTH)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    key_id: str = Field(max_length=64)
    signature: str = Field(sa_type=Text)


class AuditMaintenance(SQLModel, table=True):
    """While a row is here, in the transaction that wrote it, the trail's tables accept
    UPDATE and DELETE (their triggers refuse them otherwise): an erasure's or a retention
    purge's own transaction, which removes its row before it commits (core.audit.guard)."""

    __tablename__ = "audit_maintenance"

    id: int | None = Field(default=None, primary_key=True)
    reason: str = Field(max_length=20)
