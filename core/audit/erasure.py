"""GDPR erasure (article 17) by pseudonymization: a person's name and username are replaced by
a stable pseudonym everywhere Mandate shows or keeps them; their credentials, second factor
and sessions are deleted; their sign-in attempts lose their address. The rows stay (the
ledger, the grants, the trail keep their ids and meaning: legal retention), and the chains
still verify: a chained record's personal fields are covered by a salted commitment, never
hashed plainly (core.audit.canonical), so the erasure rewrites them and forgets the salt of
each such link. The erasure is itself a change of the chained change log, naming the links
it unsealed: verify accepts an unsealed link only if such a record names it.

Kept as they are: transfers and entries (append-only money records; a transfer's description
is the payer's text about a payment, not a person's profile)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import String, Table, delete, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import SQLModel, col

from core.audit import canonical
from core.audit.changes import record_change
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

# Not scrubbed by the text pass: the person's own row (rewritten field by field), the money
# records (append-only) and the chains' own tables (hashes and ids only).
_KEPT = frozenset(
    {"users", "transfers", "entries", "audit_chains", "audit_links", "audit_checkpoints"}
)
_CHAINED = frozenset({canonical.DECISIONS, canonical.CHANGES})


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
        scrubbed, chained = _scrub_texts(session, _names_of(session, user), pseudonym)
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


def _names_of(session: Session, user: User) -> list[str]:
    """The person's username and name, and every name they had before (the change log
    keeps each one a change replaced)."""
    names = {user.username, user.display_name}
    history = select(col(ChangeRecord.before), col(ChangeRecord.after)).where(
        col(ChangeRecord.entity) == "user", col(ChangeRecord.entity_id) == user.id
    )
    for before, after in session.execute(history):
        for shape in (before, after):
            held = json.loads(shape) if shape else {}
            names.update(str(held[k]) for k in ("username", "display_name") if held.get(k))
    return sorted(names)


def _scrub_texts(
    session: Session, names: list[str], pseudonym: str
) -> tuple[Counter[str], list[tuple[str, int]]]:
    """Replace `names` by `pseudonym` in every text column of every table but the kept ones:
    whole words only (another person's "annabel" is not "ann"), and as JSON writes them
    (the change log escapes non-ASCII letters). Returns rows rewritten per table, and the
    chained records among them."""
    forms = {form for name in names if name for form in (name, json.dumps(name)[1:-1])}
    ordered = sorted(forms, key=len, reverse=True)
    pattern = re.compile("|".join(rf"(?<![\w-]){re.escape(form)}(?![\w-])" for form in ordered))
    scrubbed: Counter[str] = Counter()
    chained: list[tuple[str, int]] = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name in _KEPT:
            continue
        for key, values in _rows_naming(session, table, ordered):
            changed = {
                name: pattern.sub(pseudonym, value)
                for name, value in values.items()
                if isinstance(value, str) and pattern.search(value)
            }
            if not changed:
                continue
            where = [column == key[column.name] for column in table.primary_key.columns]
            session.connection().execute(update(table).where(*where).values(**changed))
            scrubbed[table.name] += 1
            if table.name in _CHAINED:
                chained.append((table.name, int(key["id"])))
    return scrubbed, chained


def _rows_naming(
    session: Session, table: Table, forms: list[str]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(primary key, text values) of the rows of `table` whose text mentions a form."""
    texts = [c for c in table.columns if isinstance(c.type, String) and not c.primary_key]
    if table.name in _CHAINED:
        # Only the fields behind the salted commitment: the plainly hashed ones hold no
        # personal data by construction, and rewriting them would break the chain.
        texts = [c for c in texts if c.name in canonical.PERSONAL_FIELDS[table.name]]
    if not texts:
        return
    keys = list(table.primary_key.columns)
    mentions = or_(*(c.contains(form, autoescape=True) for c in texts for form in forms))
    for row in session.connection().execute(select(*keys, *texts).where(mentions)).mappings():
        yield {k.name: row[k.name] for k in keys}, {c.name: row[c.name] for c in texts}


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
    session.execute(
        update(SignInAttempt).where(col(SignInAttempt.username) == pseudonym).values(address="")
    )
    user.username = pseudonym
    user.display_name = pseudonym
    user.password_hash = ""
    user.is_active = False
    user.credentials_changed_at = ctx.now()
    session.add(user)
    session.flush()
