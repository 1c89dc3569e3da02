"""Path and query parameters of the console's pages. A malformed one answers the console's
404 page (admin.errors), never the API's JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from core.fields import MAX_ID
from core.pagination import MAX_BIG_KEY

AccountId = Annotated[int, Path(ge=1, le=MAX_ID)]
TransferId = Annotated[int, Path(ge=1, le=MAX_ID)]
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]
TenantId = Annotated[int, Path(ge=1, le=MAX_ID)]
RoleId = Annotated[int, Path(ge=1, le=MAX_ID)]
GrantId = Annotated[int, Path(ge=1, le=MAX_ID)]
PaymentId = Annotated[int, Path(ge=1, le=MAX_ID)]
BeneficiaryId = Annotated[int, Path(ge=1, le=MAX_ID)]
BatchId = Annotated[int, Path(ge=1, le=MAX_ID)]
MaintenanceWindowId = Annotated[int, Path(ge=1, le=MAX_ID)]
# The decision log's ids are BIGINT: it grows by every logged decision.
DecisionId = Annotated[int, Path(ge=1, le=MAX_BIG_KEY)]
Cursor = Annotated[
    str | None, Query(max_length=200, description="next_cursor of the previous page")
]
