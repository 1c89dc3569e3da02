"""What a chained record's hash covers, as canonical JSON: no database here.

A record is hashed in two parts. Its stable, impersonal fields (ids, amounts, codes, times)
are hashed plainly into `digest`. Its fields that may hold personal data (a transfer's
description, a decision's message, a change's before and after) are hashed behind a random
salt into `personal_digest` (a salted commitment): erasing a person replaces those fields and
forgets the salt, and the chain still verifies, because the link's hash covers the
commitment, never the personal data itself. The standalone verifier an auditor runs
(examples/verify_audit_bundle.py) repeats these few rules; keep the two in step."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

# The hash a chain starts from (its first link's prev_hash).
GENESIS = "0" * 64

TRANSFERS = "transfers"
DECISIONS = "decisions"
CHANGES = "changes"
# A payment's steps (payments rows change status; their log is append-only).
PAYMENT_LOG = "payment_log"
CHAINED_TABLES = (TRANSFERS, DECISIONS, CHANGES, PAYMENT_LOG)

# The impersonal fields of each chained table, and the personal ones (the commitment).
STABLE_FIELDS: dict[str, tuple[str, ...]] = {
    TRANSFERS: (
        "bank_id",
        "tenant_id",
        "kind",
        "debit_account_id",
        "credit_account_id",
        "amount",
        "currency",
        "initiated_by_id",
        "grant_id",
        "created_at",
    ),
    DECISIONS: (
        "at",
        "actor_id",
        "bank_id",
        "tenant_id",
        "action",
        "resource_type",
        "resource_id",
        "account_id",
        "amount",
        "currency",
        "decision",
        "reason",
        "grant_id",
        "policy_version",
        "extension_version",
        "eval_us",
        "facts",
        "fact_values",
        "payment_batch_id",
    ),
    CHANGES: (
        "at",
        "actor_id",
        "bank_id",
        "tenant_id",
        "entity",
        "entity_id",
        "change",
        "change_request_id",
        "requested_at",
        "approved_by_id",
    ),
    PAYMENT_LOG: (
        "bank_id",
        "tenant_id",
        "payment_id",
        "step",
        "status",
        "actor_id",
        "amount",
        "currency",
        "transfer_id",
        "approval_group",
        "payment_batch_id",
        "at",
    ),
}
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    TRANSFERS: ("description",),
    DECISIONS: ("detail",),
    CHANGES: ("before", "after"),
    PAYMENT_LOG: ("detail",),
}
# Where a person's username or name is written as text outside their own row (users) and
# their sign-in attempts: erasure rewrites these columns, of the rows linked to the person,
# and no other (never keys, credentials, clients' JWKS or stored responses). Free text loses
# the names as whole words; JSON loses a string value equal to a name, nothing inside one.
# A chained table's columns here are among its PERSONAL_FIELDS (behind the commitment).
PERSON_TEXT: dict[str, tuple[str, ...]] = {
    "activity": ("target", "detail"),
    DECISIONS: ("detail",),
    PAYMENT_LOG: ("detail",),
    "change_requests": ("summary", "reason_detail"),
}
PERSON_JSON: dict[str, tuple[str, ...]] = {
    CHANGES: ("before", "after"),
    "change_requests": ("target", "payload", "before", "after"),
}
# The time of each chained table's record, which its link carries (retention is judged by it).
TIME_FIELD = {TRANSFERS: "created_at", DECISIONS: "at", CHANGES: "at", PAYMENT_LOG: "at"}
# A transfer's entries are part of the money record it chains (one link per transfer).
ENTRY_FIELDS = ("account_id", "amount", "currency", "balance_after", "created_at")


def utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC time (SQLite hands back naive UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def plain(value: Any) -> Any:
    """A value as canonical JSON holds it: times as UTC ISO 8601 to the microsecond."""
    if isinstance(value, dt.datetime):
        return utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def canonical(document: Any) -> bytes:
    """`document` as canonical JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=plain
    ).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pick(row: Mapping[Any, Any], names: Iterable[str]) -> dict[str, Any]:
    return {name: plain(row.get(name)) for name in names}


def record_content(
    table: str,
    record_id: int,
    row: Mapping[Any, Any],
    entries: Iterable[Mapping[Any, Any]] = (),
) -> dict[str, Any]:
    """The impersonal content of a chained record (a transfer with its entries)."""
    content: dict[str, Any] = {
        "table": table,
        "id": record_id,
        "fields": _pick(row, STABLE_FIELDS[table]),
    }
    if table == TRANSFERS:
        picked = [_pick(entry, ENTRY_FIELDS) for entry in entries]
        content["entries"] = sorted(picked, key=lambda e: (e["amount"], e["account_id"]))
    return content


def personal_content(table: str, row: Mapping[Any, Any]) -> dict[str, Any]:
    return _pick(row, PERSONAL_FIELDS[table])


def record_digest(content: Mapping[Any, Any]) -> str:
    return sha256(canonical(content))


def personal_digest(salt: str, personal: Mapping[Any, Any]) -> str:
    """The salted commitment to a record's personal fields."""
    return sha256(salt.encode() + b"\x00" + canonical(personal))


def link_hash(
    *,
    chain: str,
    seq: int,
    table: str,
    record_id: int,
    at: dt.datetime,
    digest: str,
    personal: str,
    prev: str,
) -> str:
    """A link's hash: its place in its chain, its record (table, id, time, two digests), and
    its predecessor's hash. The time is the link's own, so that a record purged past its
    retention is still known, by its link, to have been old enough."""
    return sha256(
        canonical(
            {
                "chain": chain,
                "seq": seq,
                "table": table,
                "id": record_id,
                "at": plain(at),
                "digest": digest,
                "personal": personal,
                "prev": prev,
            }
        )
    )


def chain_of(bank_id: int, tenant_id: int | None) -> str:
    """The chain a record belongs to: its tenant's, or its bank's for the bank's own."""
    return f"tenant:{tenant_id}" if tenant_id is not None else f"bank:{bank_id}"


def checkpoint_message(chain: str, seq: int, head_hash: str, at: dt.datetime, key_id: str) -> bytes:
    """What a checkpoint's signature covers."""
    return canonical(
        {"chain": chain, "seq": seq, "head_hash": head_hash, "at": plain(at), "key_id": key_id}
    )
