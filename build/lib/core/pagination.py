"""Keyset (cursor) pagination: pages stay fast however deep, and stable under inserts."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel

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


def next_cursor(rows: Sequence[T], size: int, key: Callable[[T], int | None]) -> str | None:
    """Given up to size + 1 rows (one more than a page), the cursor of the next page, if any."""
    if len(rows) <= size:
        return None
    last = key(rows[size - 1])
    assert last is not None
    return encode_cursor(last)
