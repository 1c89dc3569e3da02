"""Signed checkpoints: each chain's head (position, hash, time) signed with the audit key.

The audit key is an Ed25519 key of its own (not the token key): whoever holds a checkpoint
and the key's public half can check, without trusting the database, that the chain read
later still passes through that head. Checkpoints are taken every minute by each API process
(core.audit.periodic, MANDATE_AUDIT_CHECKPOINT_SECONDS), on demand (`mandate audit
checkpoint`), by every `mandate purge`, and before each export; a chain whose head has not
moved since its last checkpoint gets no new one. The key is loaded by the faces (API, CLI)
and handed in: the core never reads key files."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, Field
from sqlalchemy import Row, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.audit import canonical
from core.audit.chain import lock_heads
from core.context import RequestContext
from core.db import table_of
from core.models.audit_chain import AuditChain, AuditCheckpoint
from core.pagination import MAX_BIG_KEY, Page, PageRequest, paginate
from core.policy.facts import Resource
from core.policy.service import require_readable


@dataclass(frozen=True)
class AuditKey:
    """The audit signing key, and what is published of it."""

    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)

    @property
    def public_pem(self) -> str:
        return public_pem(self.public_key)

    def sign(self, message: bytes) -> str:
        return self.private_key.sign(message).hex()


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """A key's id: the start of the SHA-256 of its raw public bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


class CheckpointPublic(BaseModel):
    id: int
    chain: str = Field(description="tenant:<id> for a company's chain, bank:<id> for the bank's")
    tenant_id: int | None
    seq: int = Field(description="The position of the chain's head when it was signed")
    head_hash: str
    at: dt.datetime
    key_id: str = Field(description="The audit key that signed it (GET /v1/audit/key)")
    signature: str = Field(description="Ed25519, hex, over core.audit.canonical's message")


class AuditKeyPublic(BaseModel):
    key_id: str
    algorithm: str = "Ed25519"
    public_key_pem: str


def take_checkpoints(
    session: Session,
    key: AuditKey,
    now: dt.datetime,
    *,
    every: dt.timedelta = dt.timedelta(0),
) -> list[AuditCheckpoint]:
    """Sign the head of every chain that moved since its last checkpoint and, with `every`,
    whose last checkpoint is at least that old. The heads read are committed ones (a head and
    its links commit together), so each checkpoint names a link that exists.

    Each process of a deployment takes them periodically (core.audit.periodic): the decision
    is made again under the lock of the chains' head rows, taken in chain order as appending
    takes it, so of two processes taking at once the second finds the first's checkpoints
    (READ COMMITTED reads them once it holds the locks; on SQLite the write transaction
    already excludes the other) and signs none: one checkpoint per chain per interval,
    however many processes run."""
    due = _due(session, now - every)
    if not due:
        return []
    lock_heads(session, {head.chain: (head.bank_id, head.tenant_id) for head in due})
    taken = []
    for head in _due(session, now - every, among=[head.chain for head in due]):
        message = canonical.checkpoint_message(
            head.chain, head.seq, head.head_hash, now, key.key_id
        )
        point = AuditCheckpoint(
            chain=head.chain,
            bank_id=head.bank_id,
            tenant_id=head.tenant_id,
            seq=head.seq,
            head_hash=head.head_hash,
            at=now,
            key_id=key.key_id,
            signature=key.sign(message),
        )
        session.add(point)
        taken.append(point)
    session.flush()
    return taken


_CHAINS = table_of(AuditChain)
_POINTS = table_of(AuditCheckpoint)
# A chain's newest checkpoint of its head (the one at its highest position; a retention
# anchor sits below it): found through the (chain, seq) index, never a scan of them all.
_NEWEST = (
    select(_POINTS.c.seq, _POINTS.c.at)
    .where(_POINTS.c.chain == _CHAINS.c.chain)
    .order_by(_POINTS.c.seq.desc(), _POINTS.c.id.desc())
    .limit(1)
    .correlate(_CHAINS)
)
_HEADS_WITH_NEWEST = select(
    _CHAINS,
    _NEWEST.with_only_columns(_POINTS.c.seq).scalar_subquery().label("checkpoint_seq"),
    _NEWEST.with_only_columns(_POINTS.c.at).scalar_subquery().label("checkpoint_at"),
).order_by(_CHAINS.c.chain)


def _due(
    session: Session, taken_before: dt.datetime, among: list[str] | None = None
) -> list[Row[Any]]:
    """The heads due a checkpoint: moved since their newest one, which was taken before
    `taken_before` (or none yet)."""
    stmt = _HEADS_WITH_NEWEST
    if among is not None:
        stmt = stmt.where(_CHAINS.c.chain.in_(among))
    return [
        head
        for head in session.connection().execute(stmt)
        if head.seq > (head.checkpoint_seq or 0)
        and (head.checkpoint_at is None or head.checkpoint_at <= taken_before)
    ]


def checkpoint_public(point: AuditCheckpoint) -> CheckpointPublic:
    assert point.id is not None
    return CheckpointPublic(
        id=point.id,
        chain=point.chain,
        tenant_id=point.tenant_id,
        seq=point.seq,
        head_hash=point.head_hash,
        at=point.at,
        key_id=point.key_id,
        signature=point.signature,
    )


def checkpoints(
    session: Session,
    ctx: RequestContext,
    *,
    tenant_id: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[CheckpointPublic]:
    """The signed checkpoints of the caller's bank's chains, newest first (one tenant's with
    `tenant_id`): for compliance, once the policy lets them read the audit evidence."""
    actor = ctx.require_actor()
    require_readable(
        session, ctx, "audit.read", Resource.of_bank(actor.bank_id), not_found="not found"
    )
    page = PageRequest.of(cursor, limit, max_key=MAX_BIG_KEY)
    stmt = select(AuditCheckpoint).where(col(AuditCheckpoint.bank_id) == actor.bank_id)
    if tenant_id is not None:
        stmt = stmt.where(col(AuditCheckpoint.tenant_id) == tenant_id)
    key = col(AuditCheckpoint.id)
    return paginate(session, stmt, key, page, shape=checkpoint_public, newest_first=True)


def published_key(session: Session, ctx: RequestContext, key: AuditKey) -> AuditKeyPublic:
    """The audit key's public half, which checkpoints and export bundles are checked with."""
    actor = ctx.require_actor()
    require_readable(
        session, ctx, "audit.read", Resource.of_bank(actor.bank_id), not_found="not found"
    )
    return AuditKeyPublic(key_id=key.key_id, public_key_pem=key.public_pem)
