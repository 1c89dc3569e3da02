"""Signed checkpoints: each chain's head (position, hash, time) signed with the audit key.

The audit key is an Ed25519 key of its own (not the token key): whoever holds a checkpoint
and the key's public half can check, without trusting the database, that the chain read
later still passes through that head. Checkpoints are taken on demand (`mandate audit
checkpoint`), by every `mandate purge`, and before each export; a chain whose head has not
moved since its last checkpoint gets no new one. The key is loaded by the faces (API, CLI)
and handed in: the core never reads key files."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.audit import canonical
from core.context import RequestContext
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


def take_checkpoints(session: Session, key: AuditKey, now: dt.datetime) -> list[AuditCheckpoint]:
    """Sign the head of every chain that moved since its last checkpoint. The heads read are
    committed ones (a head and its links commit together), so each checkpoint names a link
    that exists."""
    latest = dict(
        session.execute(
            select(col(AuditCheckpoint.chain), func.max(col(AuditCheckpoint.seq))).group_by(
                col(AuditCheckpoint.chain)
            )
        ).all()
    )
    taken = []
    for head in session.scalars(select(AuditChain).order_by(col(AuditChain.chain))):
        if head.seq == 0 or latest.get(head.chain, -1) >= head.seq:
            continue
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
