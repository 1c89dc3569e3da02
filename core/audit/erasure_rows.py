"""Which rows an erasure rewrites, and how: only rows linked to the person (theirs, done by
them, about them) and within their own company (their bank's own records for staff), and
only the columns canonical.PERSON_TEXT and PERSON_JSON name. A row of another company or
bank is never rewritten, whatever names it holds: a company's admin controls the names a
person had (by renaming them), and must not reach anyone else's records through them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, or_, select
from sqlalchemy.orm import Session
from sqlmodel import SQLModel, col

from core.audit import canonical
from core.models.iam import User

Rewrite = Callable[[str], str]

# Chained tables' rewritable columns must be behind the commitment, or the chain breaks.
for _table in canonical.CHAINED_TABLES:
    _columns = canonical.PERSON_TEXT.get(_table, ()) + canonical.PERSON_JSON.get(_table, ())
    assert set(_columns) <= set(canonical.PERSONAL_FIELDS[_table]), _table


def whole_words(names: list[str], pseudonym: str) -> Rewrite:
    """Free text with each name, as a whole word (another person's "annabel" is not "ann"),
    replaced by the pseudonym."""
    ordered = sorted({n for n in names if n}, key=len, reverse=True)
    pattern = re.compile("|".join(rf"(?<![\w-]){re.escape(n)}(?![\w-])" for n in ordered))
    return lambda text: pattern.sub(pseudonym, text)


def json_values(names: list[str], pseudonym: str) -> Rewrite:
    """JSON text with each string value that is exactly a name replaced by the pseudonym; the
    rest as it was (keys, numbers, other strings, a part of a string)."""
    known = {n for n in names if n}

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return pseudonym if value in known else value
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    def rewrite(text: str) -> str:
        try:
            held = json.loads(text)
        except ValueError:
            return text  # not JSON: nothing of it is read as a name
        walked = walk(held)
        # Written as Mandate writes these (sorted keys), and only if a value changed.
        return text if walked == held else json.dumps(walked, sort_keys=True, default=str)

    return rewrite


def _within(table: Table, user: User) -> ColumnElement[bool]:
    """The person's company, or for staff their bank's own records."""
    if user.tenant_id is not None:
        return table.c.tenant_id == user.tenant_id
    if "bank_id" in table.c:
        return and_(table.c.tenant_id.is_(None), table.c.bank_id == user.bank_id)
    staff = select(col(User.id)).where(col(User.bank_id) == user.bank_id)
    return and_(table.c.tenant_id.is_(None), table.c.user_id.in_(staff))


def _linked(table: Table, user: User, usernames: list[str]) -> ColumnElement[bool]:
    c, person = table.c, user.id
    if table.name == "activity":
        targets = [f"user {person}", f"password of user {person}"]
        targets += [f"new user {u}" for u in usernames]
        return or_(c.user_id == person, c.acted_by_id == person, c.target.in_(targets))
    if table.name == canonical.DECISIONS:
        about = and_(c.resource_type == "user", c.resource_id == person)
        return or_(c.actor_id == person, c.asked_by_id == person, about)
    if table.name == canonical.CHANGES:
        about = and_(c.entity == "user", c.entity_id == person)
        return or_(about, c.actor_id == person, c.approved_by_id == person)
    if table.name == canonical.PAYMENT_LOG:
        # Their steps, and the steps of the payments they made (a rejection's reason to them).
        payments = SQLModel.metadata.tables["payments"]
        theirs = select(payments.c.id).where(payments.c.initiated_by_id == person)
        return or_(c.actor_id == person, c.payment_id.in_(theirs))
    if table.name == "change_requests":
        created = and_(c.kind == "user.create", c.result_id == person)
        # A request about them names them in its target; read exactly below (_about).
        about = c.target.contains(f'"user_id": {person}', autoescape=True)
        return or_(c.requested_by_id == person, c.decided_by_id == person, created, about)
    raise AssertionError(f"no link to a person known for {table.name}")


def _about(table: Table, row: dict[str, Any], user: User) -> bool:
    """A row the SQL filter found is the person's (a target naming user 5 is not user 50's)."""
    if table.name != "change_requests" or user.id in (
        row["requested_by_id"],
        row["decided_by_id"],
    ):
        return True
    if row["kind"] == "user.create" and row["result_id"] == user.id:
        return True
    target = json.loads(row["target"] or "{}")
    return isinstance(target, dict) and target.get("user_id") == user.id


def rewrites(
    session: Session, user: User, names: list[str], usernames: list[str], pseudonym: str
) -> Iterator[tuple[Table, int, dict[str, str]]]:
    """(table, row id, new values) for each linked row in scope that names the person
    (`names`: every username and name they had; `usernames`: the usernames among them)."""
    text, structured = whole_words(names, pseudonym), json_values(names, pseudonym)
    for name in sorted(set(canonical.PERSON_TEXT) | set(canonical.PERSON_JSON)):
        table = SQLModel.metadata.tables[name]
        columns = {c: text for c in canonical.PERSON_TEXT.get(name, ())}
        columns |= {c: structured for c in canonical.PERSON_JSON.get(name, ())}
        linked = and_(_within(table, user), _linked(table, user, usernames))
        for row in session.connection().execute(select(table).where(linked)).mappings():
            if not _about(table, dict(row), user):
                continue
            changed = {
                column: rewrite(row[column])
                for column, rewrite in columns.items()
                if isinstance(row[column], str)
            }
            changed = {k: v for k, v in changed.items() if v != row[k]}
            if changed:
                yield table, int(row["id"]), changed
