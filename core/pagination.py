"""Keyset (cursor) pagination: pages stay fast however deep, and stable under inserts.

A list is a statement and the key it pages on (an id, ascending or newest first). paginate()
orders by the key, starts after the cursor's key, reads one row more than a page to know
whether another follows, and shapes each row for the reader."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import Mapped, Session

from core.errors import InvalidRequest

T = TypeVar("T")

DEFAULT_PAGE = 50
MAX_PAGE = 200
# The largest id a cursor may carry: that of an INTEGER key (PostgreSQL refuses a larger
# parameter against it), or of a BIGINT one (SQLite's integers end there too).
MAX_KEY = 2**31 - 1
MAX_BIG_KEY = 2**63 - 1
_NOT_OURS = "the cursor is not one this API issued"


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, max_key: int = MAX_KEY) -> int | None:
    """The id the previous page ended at; a cursor we did not issue (not ours, or past the
    key range of the list: `max_key`, MAX_BIG_KEY for BIGINT keys) is a 422."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        version, _, value = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        if not value.isascii() or not value.isdigit() or len(value) > 19:
            raise ValueError(value)
        last_id = int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(_NOT_OURS, code="invalid_cursor") from exc
    if version != "v1" or not 0 <= last_id <= max_key:
        raise InvalidRequest(_NOT_OURS, code="invalid_cursor")
    return last_id


def page_size(limit: int | None) -> int:
    """The page size asked for, or the default; out of range is a 422."""
    size = DEFAULT_PAGE if limit is None else limit
    if not 1 <= size <= MAX_PAGE:
        raise InvalidRequest(f"limit is between 1 and {MAX_PAGE}")
    return size


@dataclass(frozen=True)
class PageRequest:
    """The page a reader asked for: how many rows, after which key (None: the first page)."""

    size: int
    after: int | None = None

    @classmethod
    def of(cls, cursor: str | None, limit: int | None, *, max_key: int = MAX_KEY) -> PageRequest:
        """The request's `limit` and `cursor`, checked (the limit first); either one out of
        range is a 422 (`invalid_cursor` for the cursor)."""
        size = page_size(limit)
        return cls(size=size, after=decode_cursor(cursor, max_key=max_key))


# The key is read back under this label, whatever the statement selects (an entity, several,
# or columns): the cursor is the key of the page's last row.
_KEY = "page_key"


def paginate(
    session: Session,
    statement: Select[*tuple[Any, ...]],
    key: Mapped[Any] | ColumnElement[Any],
    page: PageRequest,
    *,
    shape: Callable[[Any], T],
    newest_first: bool = False,
) -> Page[T]:
    """One page of `statement`, ordered by `key` (descending with `newest_first`), after the
    key `page` ends at. `shape` makes each row public: given the entity when the statement
    selects one, otherwise the row (its selected entities and columns by name)."""
    one_entity = len(statement.column_descriptions) == 1
    if page.after is not None:
        statement = statement.where(key < page.after if newest_first else key > page.after)
    ordered = statement.order_by(key.desc() if newest_first else key)
    rows = session.execute(ordered.add_columns(key.label(_KEY)).limit(page.size + 1)).all()
    items = [shape(row[0] if one_entity else row) for row in rows[: page.size]]
    if len(rows) <= page.size:
        return Page(items=items)
    return Page(items=items, next_cursor=encode_cursor(rows[page.size - 1]._mapping[_KEY]))
