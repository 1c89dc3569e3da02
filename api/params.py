"""Path and query parameters shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from core.fields import MAX_ID
from core.pagination import MAX_BIG_KEY, MAX_PAGE

AccountId = Annotated[int, Path(ge=1, le=MAX_ID)]
TransferId = Annotated[int, Path(ge=1, le=MAX_ID)]
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]
# An API client, by its principal's id (the id its grants name as user_id).
ApiClientId = Annotated[int, Path(ge=1, le=MAX_ID)]
TenantId = Annotated[int, Path(ge=1, le=MAX_ID)]
RoleId = Annotated[int, Path(ge=1, le=MAX_ID)]
GrantId = Annotated[int, Path(ge=1, le=MAX_ID)]
PaymentId = Annotated[int, Path(ge=1, le=MAX_ID)]
BeneficiaryId = Annotated[int, Path(ge=1, le=MAX_ID)]
# The decision log's ids are BIGINT: it grows by every logged decision.
DecisionId = Annotated[int, Path(ge=1, le=MAX_BIG_KEY)]
Cursor = Annotated[
    str | None, Query(max_length=200, description="next_cursor of the previous page")
]
Limit = Annotated[int | None, Query(ge=1, le=MAX_PAGE, description="page size (default 50)")]
TenantFilter = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="Bank staff: one tenant only")
]


def _true_or_false(value: object) -> object:
    # FastAPI reads "no", "off", "f", "0", "yes", "on", "1" as booleans too; a bank's API
    # takes the two words its documents use, and nothing that could be a typo of either.
    if isinstance(value, str):
        if value in ("true", "false"):
            return value == "true"
        raise PydanticCustomError("bool_type", "Input should be true or false")
    return value


Flag = Annotated[bool, BeforeValidator(_true_or_false)]
