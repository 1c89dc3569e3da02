"""What the ledger takes in and gives out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints
from pydantic_core import PydanticCustomError

from core.fields import PLAIN_TEXT, CurrencyCode, ResourceId
from core.money import MAX_AMOUNT


def _positive_amount(value: int) -> int:
    if value <= 0:
        raise PydanticCustomError(
            "invalid_amount", "amounts are whole minor units greater than zero"
        )
    if value > MAX_AMOUNT:
        raise PydanticCustomError(
            "amount_too_large", "amounts are at most {max} minor units", {"max": MAX_AMOUNT}
        )
    return value


# The range is checked by the validator (so each failure has its own error code) and
# declared in the schema (so the OpenAPI document tells clients).
Amount = Annotated[
    int,
    AfterValidator(_positive_amount),
    Field(
        strict=True,
        description="Minor units (cents for EUR), greater than zero",
        examples=[1250],
        json_schema_extra={"exclusiveMinimum": 0, "maximum": MAX_AMOUNT},
    ),
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), PLAIN_TEXT
]
Description = Annotated[str, StringConstraints(max_length=140), PLAIN_TEXT]
AccountStatus = Literal["open", "frozen", "closed"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountCreate(_Input):
    tenant_id: ResourceId
    name: Name
    currency: CurrencyCode
    overdraft_limit: int = Field(default=0, strict=True, ge=0, le=MAX_AMOUNT)


class AccountUpdate(_Input):
    name: Name | None = None
    status: AccountStatus | None = None
    overdraft_limit: int | None = Field(default=None, strict=True, ge=0, le=MAX_AMOUNT)


class AccountPublic(BaseModel):
    id: int
    tenant_id: int | None
    name: str
    currency: str
    kind: Literal["customer", "clearing"]
    status: AccountStatus
    overdraft_limit: int
    balance: int
    held: int = Field(
        0, description="What payments awaiting approval hold (released or posted when they end)"
    )
    available: int = Field(
        description="Balance plus the overdraft limit, less holds: what can still be sent"
    )
    iban: str | None = Field(None, description="Customer accounts' IBAN (no spaces)")
    created_at: dt.datetime


class TransferCreate(_Input):
    from_account_id: ResourceId
    to_account_id: ResourceId
    amount: Amount
    currency: CurrencyCode
    description: Description = ""


class DepositCreate(_Input):
    account_id: ResourceId
    amount: Amount
    currency: CurrencyCode
    description: Description = ""


class TransferPublic(BaseModel):
    id: int
    kind: Literal["transfer", "deposit", "withdrawal", "payment"]
    status: Literal["posted"] = "posted"
    from_account_id: int | None = Field(
        description="null: an account a company reader may not know (another company's, "
        "or the bank's clearing account)"
    )
    to_account_id: int | None = Field(description="null: as from_account_id")
    amount: int
    currency: str
    description: str
    initiated_by: int | None = Field(
        description="The user who sent it; null when the money came from an account not "
        "the reader's company's"
    )
    created_at: dt.datetime


@dataclass(frozen=True)
class TransferResult:
    """What a money movement answers: the transfer, and whether it was posted by an earlier
    request with the same Idempotency-Key (a replay) rather than by this one."""

    transfer: TransferPublic
    replayed: bool = False


class EntryPublic(BaseModel):
    id: int
    transfer_id: int
    kind: Literal["transfer", "deposit", "withdrawal", "payment"]
    amount: int = Field(description="Negative for money out, positive for money in")
    currency: str
    balance_after: int
    counterparty_account_id: int | None = Field(
        description="The other account, if it is the same company's (null: another "
        "company's, or the bank's, such as its clearing account)"
    )
    description: str
    created_at: dt.datetime
    # The other account, whoever's it is (core.statements.lines names it from the company's
    # own records): never answered.
    _counterparty: int = PrivateAttr(default=0)

    @property
    def counterparty(self) -> int:
        return self._counterparty
