"""Keyset (cursor) pagination: pages stay fast however deep, and stable under inserts."""

from __future__ import annotations

import base64
from typing import Generic, TypeVar

from pydantic import BaseModel

from core.errors import InvalidRequest

T = TypeVar("T")

DEFAULT_PAGE = 50
MAX_PAGE = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id the previous page ended at; a cursor we did not issue is a 422."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        version, _, value = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        last_id = int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(
            "the cursor is not one this API issued", code="invalid_cursor"
        ) from exc
    if version != "v1" or last_id < 0:
        raise InvalidRequest("the cursor is not one this API issued", code="invalid_cursor")
    return last_id
