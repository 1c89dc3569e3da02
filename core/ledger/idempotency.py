"""Idempotency keys, Stripe's semantics.

The key is claimed inside the same transaction that moves the money, so the stored response
and the transfer commit together or not at all: a crash can never leave a key that claims a
transfer which does not exist, nor a transfer without its key.

* Same key, same body, same user: the stored response, replayed (Idempotent-Replayed: true).
* Same key, another body or another user: 422 idempotency_key_reused.
* Same key while the first request still runs: on PostgreSQL 409 idempotency_key_in_flight
  with Retry-After (seconds), and a retry then replays; SQLite runs one writer at a time, so
  there the second request waits for the first and replays its response.

Keys are scoped per tenant (per bank for staff). Only successful responses are stored: a
refused request changed nothing and may be sent again with the same key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from core.context import Actor
from core.db import table_of
from core.errors import Conflict, InvalidRequest, MalformedRequest
from core.models.ledger import IdempotencyRecord

MAX_KEY_LENGTH = 255
# The records keep the answer in the API's wire format (status and JSON body), as Stripe
# does. Only posted transfers are stored, so the status kept is always 201 Created: a replay
# answers it again, marked Idempotent-Replayed.
STORED_STATUS = 201


@dataclass(frozen=True)
class IdempotencyClaim:
    scope: str
    key: str
    fingerprint: str
    user_id: int


_RECORDS = table_of(IdempotencyRecord)
_RECORD = select(_RECORDS).where(
    _RECORDS.c.scope == bindparam("scope"), _RECORDS.c.key == bindparam("key")
)
_INSERT_RECORD = insert(_RECORDS)
_TRY_LOCK = select(func.pg_try_advisory_xact_lock(bindparam("lock_id")))


def validate_key(key: str | None) -> str:
    if key is None or key == "":
        raise MalformedRequest(
            "money-moving requests need an Idempotency-Key header (for example a UUID)",
            code="idempotency_key_required",
        )
    if len(key) > MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in key):
        raise MalformedRequest(
            "an Idempotency-Key is 1 to 255 printable ASCII characters",
            code="idempotency_key_invalid",
        )
    return key


def scope_of(actor: Actor) -> str:
    return f"tenant:{actor.tenant_id}" if actor.tenant_id is not None else f"bank:{actor.bank_id}"


def fingerprint(operation: str, payload: dict[str, Any]) -> str:
    canonical = json.dumps([operation, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _lock_id(scope: str, key: str) -> int:
    digest = hashlib.blake2b(f"{scope}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# Seconds to wait before retrying a key still in flight: a transfer takes milliseconds, so
# by then the first request has committed (the retry replays it) or rolled back (it runs).
IN_FLIGHT_RETRY_AFTER = 1


def hold(
    session: Session, actor: Actor, key: str, operation: str, payload: dict[str, Any]
) -> IdempotencyClaim:
    """Hold the key for this transaction: on PostgreSQL a concurrent request with the key
    does not wait, it is answered 409 idempotency_key_in_flight (SQLite runs one writer at a
    time: the second request waits for the first, then replays)."""
    ticket = IdempotencyClaim(scope_of(actor), key, fingerprint(operation, payload), actor.user_id)
    if session.get_bind().dialect.name == "postgresql":
        # Held until this transaction ends.
        got = session.connection().scalar(_TRY_LOCK, {"lock_id": _lock_id(ticket.scope, key)})
        if not got:
            raise Conflict(
                "a request with this Idempotency-Key is still being processed; retry in "
                f"{IN_FLIGHT_RETRY_AFTER} s",
                code="idempotency_key_in_flight",
                retry_after=IN_FLIGHT_RETRY_AFTER,
            )
    return ticket


@dataclass(frozen=True)
class Stored:
    """What an earlier request left under the key: whose it was, which request, its answer."""

    fingerprint: str
    user_id: int
    body: dict[str, Any]


def stored(session: Session, ticket: IdempotencyClaim) -> Stored | None:
    """What is stored under the held key, if it was used before."""
    record = (
        session.connection().execute(_RECORD, {"scope": ticket.scope, "key": ticket.key}).first()
    )
    if record is None:
        return None
    return Stored(record.fingerprint, record.user_id, json.loads(record.response_body))


def replay(earlier: Stored, ticket: IdempotencyClaim) -> dict[str, Any]:
    """The answer to replay for this request; a key used for another request (body or user)
    is refused: 422 idempotency_key_reused."""
    if earlier.fingerprint != ticket.fingerprint or earlier.user_id != ticket.user_id:
        raise InvalidRequest(
            "this Idempotency-Key was already used for a different request; use a new key",
            code="idempotency_key_reused",
        )
    return earlier.body


def store(
    session: Session,
    ticket: IdempotencyClaim,
    *,
    body: dict[str, Any],
    transfer_id: int | None,
    at: Any,
) -> None:
    """Keep the answer under the key, in the transaction that posted it."""
    session.connection().execute(
        _INSERT_RECORD,
        {
            "scope": ticket.scope,
            "key": ticket.key,
            "fingerprint": ticket.fingerprint,
            "user_id": ticket.user_id,
            "response_status": STORED_STATUS,
            "response_body": json.dumps(body, default=str),
            "transfer_id": transfer_id,
            "created_at": at,
        },
    )
