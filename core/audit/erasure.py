"""GDPR erasure (article 17) by pseudonymization: a person's name and username are replaced by
a stable pseudonym everywhere Mandate shows or keeps them; their credentials, second factor
and sessions are deleted; their sign-in attempts lose their address. Only the person's own
rows, within their company, are rewritten (core.audit.erasure_rows). The rows stay (the
ledger, the grants, the trail keep their ids and meaning: legal retention), and the chains
still verify: a chained record's personal fields are covered by a salted commitment, never
hashed plainly (core.audit.canonical), so the erasure rewrites them and forgets the salt of
each such link. The erasure is itself a change of the chained change log, naming the links
it unsealed: verify accepts an unsealed link only if such a record names it.

Kept as they are: transfers and entries (append-only money records; a transfer's description
is the payer's text about a payment, not a person's profile)."""

from __future__ import annotations

import json
from collections import Counter

from pydantic import BaseModel, Field
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from core.audit import canonical
from core.audit.changes import record_change
from core.audit.erasure_rows import rewrites
from core.audit.guard import trail_maintenance
from core.audit.personal import person_for
from core.audit.verify import ERASED_CHANGE
from core.context import RequestContext
from core.errors import Conflict
from core.models.audit import ChangeRecord
from core.models.audit_chain import AuditLink
from core.models.iam import User
from core.models.second_factor import RecoveryCode, TotpCredential
from core.models.sessions import ConsoleSession, SignInAttempt

_CHAINED = frozenset({canonical.DECISIONS, canonical.CHANGES, canonical.PAYMENT_LOG})


class ErasureRecord(BaseModel):
    """What the change log keeps of an erasure (no personal data)."""

    pseudonym: str
    pseudonymized: dict[str, int]
    unsealed_links: list[int]


class ErasureResult(BaseModel):
    user_id: int
    pseudonym: str = Field(description="What the person is shown as from now on")
    already_erased: bool = False
    pseudonymized: dict[str, int] = Field(
        default_factory=dict, description="Rows rewritten, per table"
    )
    unsealed_links: int = Field(
        default=0, description="Chain links whose personal commitment's salt was forgotten"
    )


def pseudonym_of(user_id: int) -> str:
    return f"erased-{user_id}"


def erase_person(session: Session, ctx: RequestContext, user_id: int) -> ErasureResult:
    """Erase user `user_id` by pseudonymization (see the module's docstring), for a
    compliance officer (personal_data.erase), never of themselves, and only once the person
    was deactivated (409 person_still_active). Erasing an erased person changes nothing."""
    user = person_for(session, ctx, user_id, "personal_data.erase")
    # Two erasures of one person at once: the second waits, then finds them erased.
    session.refresh(user, with_for_update=True)
    pseudonym = pseudonym_of(user_id)
    if user.username == pseudonym:
        return ErasureResult(user_id=user_id, pseudonym=pseudonym, already_erased=True)
    if user.is_active:
        # Two people, then: whoever manages the person (their company's admin, a bank manager
        # for staff) deactivates them; compliance erases.
        raise Conflict(
            f"user {user_id} is still active: deactivate them first", code="person_still_active"
        )
    with trail_maintenance(session, "erasure"):
        scrubbed, chained = _scrub_texts(session, user, pseudonym)
        links = _unseal(session, chained)
    _forget_credentials(session, user, pseudonym, ctx)
    record_change(
        ctx,
        "user",
        user_id,
        ERASED_CHANGE,
        user.tenant_id,
        after=ErasureRecord(
            pseudonym=pseudonym, pseudonymized=dict(scrubbed), unsealed_links=links
        ),
    )
    return ErasureResult(
        user_id=user_id,
        pseudonym=pseudonym,
        pseudonymized=dict(scrubbed),
        unsealed_links=len(links),
    )


def _names_of(session: Session, user: User, keys: tuple[str, ...]) -> list[str]:
    """The person's `keys` (username, display_name), as now and as every one they had
    before (the change log keeps each one a change replaced)."""
    names = {str(getattr(user, k)) for k in keys}
    history = select(col(ChangeRecord.before), col(ChangeRecord.after)).where(
        col(ChangeRecord.entity) == "user", col(ChangeRecord.entity_id) == user.id
    )
    for before, after in session.execute(history):
        for shape in (before, after):
            held = json.loads(shape) if shape else {}
            names.update(str(held[k]) for k in keys if held.get(k))
    return sorted(names)


def _scrub_texts(
    session: Session, user: User, pseudonym: str
) -> tuple[Counter[str], list[tuple[str, int]]]:
    """Replace `names` by `pseudonym` in the rows linked to the person within their company
    (core.audit.erasure_rows says which and how). Returns rows rewritten per table, and the
    chained records among them."""
    usernames = _names_of(session, user, ("username",))
    names = _names_of(session, user, ("username", "display_name"))
    scrubbed: Counter[str] = Counter()
    chained: list[tuple[str, int]] = []
    found = list(rewrites(session, user, names, usernames, pseudonym))
    for table, record_id, changed in found:
        session.connection().execute(update(table).where(table.c.id == record_id).values(**changed))
        scrubbed[table.name] += 1
        if table.name in _CHAINED:
            chained.append((table.name, record_id))
    scrubbed.update(_forget_attempts(session, user, usernames, pseudonym))
    return scrubbed, chained


def _forget_attempts(
    session: Session, user: User, usernames: list[str], pseudonym: str
) -> Counter[str]:
    """The person's sign-in attempts, under any username they had (one another person holds
    now is theirs, not the erased person's): shown as the pseudonym, with no address."""
    held_by_others = set(
        session.scalars(
            select(col(User.username)).where(
                col(User.username).in_(usernames), col(User.id) != user.id
            )
        )
    )
    theirs = [n for n in usernames if n and n not in held_by_others]
    if not theirs:
        return Counter()
    done = session.connection().execute(
        update(SignInAttempt)
        .where(col(SignInAttempt.username).in_(theirs))
        .values(username=pseudonym, address="")
    )
    return Counter({"sign_in_attempts": done.rowcount}) if done.rowcount else Counter()


def _unseal(session: Session, chained: list[tuple[str, int]]) -> list[int]:
    """Forget the salt of the links of the rewritten chained records; their ids."""
    ids: list[int] = []
    for table in sorted({t for t, _ in chained}):
        record_ids = [i for t, i in chained if t == table]
        found = session.scalars(
            select(col(AuditLink.id)).where(
                col(AuditLink.record_table) == table, col(AuditLink.record_id).in_(record_ids)
            )
        )
        ids.extend(link_id for link_id in found if link_id is not None)
    if ids:
        session.execute(update(AuditLink).where(col(AuditLink.id).in_(ids)).values(salt=None))
    return sorted(ids)


def _forget_credentials(session: Session, user: User, pseudonym: str, ctx: RequestContext) -> None:
    """The person's row shows the pseudonym, holds no password and signs nobody in; their
    second factor and sessions are gone; their sign-in attempts keep no address."""
    assert user.id is not None
    for model in (TotpCredential, RecoveryCode, ConsoleSession):
        session.execute(delete(model).where(col(model.user_id) == user.id))
    user.username = pseudonym
    user.display_name = pseudonym
    user.password_hash = ""
    user.is_active = False
    user.credentials_changed_at = ctx.now()
    session.add(user)
    session.flush()
