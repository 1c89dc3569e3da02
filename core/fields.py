"""Field types the schemas of every domain share: ids and currency codes. Bottom of the core:
it imports nothing of Mandate's but money."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from core.money import is_currency, unknown_currency


def _known_currency(code: str) -> str:
    if not is_currency(code):
        raise PydanticCustomError("unknown_currency", "{why}", {"why": unknown_currency(code)})
    return code


# The range and pattern are checked by the validators (so each failure has its own error
# code) and declared in the schema (so the OpenAPI document tells clients).
CurrencyCode = Annotated[
    str,
    AfterValidator(_known_currency),
    Field(
        description="ISO 4217 code in upper case, e.g. EUR (eur is refused)",
        examples=["EUR"],
        json_schema_extra={"pattern": "^[A-Z]{3}$", "minLength": 3, "maxLength": 3},
    ),
]
# Ids are 32-bit in the database; anything beyond cannot exist, so it is refused up front.
MAX_ID = 2**31 - 1
ResourceId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]

__all__ = ["MAX_ID", "CurrencyCode", "ResourceId"]
