"""What a change request's stored body keeps once the request ends: everything but its
secrets. A user created or a password reset through a request waits with the new password's
hash in its payload (never the password); once the request is applied, rejected, withdrawn or
refused the hash has done its work, and it is removed from the row in the same transaction.
A request that expired while nobody decided it is swept by `mandate purge`
(forget_expired_secrets). No answer ever carried the payload (core.governance.public shows
before and after, the API's own shapes)."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.governance.kinds import KINDS
from core.models.governance import ChangeRequest


def forget_secrets(request: ChangeRequest) -> bool:
    """Remove the request's secret fields from its payload; True if there were any."""
    secrets = KINDS[request.kind].secrets
    payload = json.loads(request.payload)
    kept = {name: value for name, value in payload.items() if name not in secrets}
    if kept == payload:
        return False
    request.payload = json.dumps(kept, sort_keys=True, default=str)
    return True


def forget_expired_secrets(session: Session, now: dt.datetime) -> int:
    """Forget the secrets of every request that expired undecided: how many had one. Those
    swept before no longer name a secret field, and are not read again."""
    kinds = [kind for kind in KINDS.values() if kind.secrets]
    still_secret = or_(
        *(
            (col(ChangeRequest.kind) == kind.name)
            & col(ChangeRequest.payload).contains(f'"{field}"')
            for kind in kinds
            for field in kind.secrets
        )
    )
    expired = session.scalars(
        select(ChangeRequest).where(
            col(ChangeRequest.status) == "pending",
            col(ChangeRequest.expires_at) <= now,
            still_secret,
        )
    )
    forgotten = sum(forget_secrets(request) for request in expired)
    session.flush()
    return forgotten
