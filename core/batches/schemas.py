"""What the payment batches API takes in and gives out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from core.payments.schemas import ApprovalPublic, Requirement

BatchStatus = Literal["pending_approval", "approved", "rejected", "cancelled", "expired"]
# An item's status: refused at upload; accepted, it waits with its batch (pending_approval),
# ends with it (rejected, cancelled, expired), or is its payment's once the batch is approved.
ItemStatus = Literal[
    "refused",
    "pending_approval",
    "rejected",
    "cancelled",
    "expired",
    "scheduled",
    "posted",
    "sent",
    "failed",
]


class BatchItemPublic(BaseModel):
    position: int = Field(description="Its place in the file, from 1")
    end_to_end_id: str
    creditor_name: str
    creditor_iban: str
    amount: int = Field(description="Minor units; 0 when the file's amount could not be read")
    currency: str
    reference: str
    status: ItemStatus
    error: str | None = Field(
        default=None,
        description="Refused: the refusal's code (the policy's reason, or e.g. invalid_iban)",
    )
    detail: str | None = Field(default=None, description="Refused: why, in words")
    beneficiary_id: int | None
    kind: Literal["own", "internal", "external"] | None
    payment_id: int | None = Field(description="The payment it became, once approved")


class PaymentBatchPublic(BaseModel):
    id: int
    account_id: int
    msg_id: str = Field(description="The file's GrpHdr/MsgId: unique per company")
    schema_version: str = Field(examples=["pain.001.001.09"])
    currency: str
    execution_date: dt.date | None
    status: BatchStatus
    item_count: int
    accepted_count: int
    refused_count: int
    total: int = Field(description="What the accepted items sum to (held while it waits)")
    required: Requirement
    approvals: list[ApprovalPublic]
    approving_would: str | None = Field(
        default=None,
        description="Waiting: what one more approval that fills a place would do",
        examples=["post 200 payments of 1,234,567.00 EUR", "leave 1 more approval to go"],
    )
    initiated_by: int
    created_at: dt.datetime
    expires_at: dt.datetime | None
    ended_at: dt.datetime | None
    ended_by: int | None
    end_reason: str
    items: list[BatchItemPublic] | None = Field(
        default=None, description="Every item with its status and refusal (one batch only)"
    )


@dataclass(frozen=True)
class BatchResult:
    """A batch as the caller sees it, and whether it is a stored answer replayed."""

    batch: PaymentBatchPublic
    replayed: bool = False


class BatchInboxItem(BaseModel):
    """A batch the caller may approve now, with what their approval would do."""

    batch: PaymentBatchPublic
    approving_would: str = Field(examples=["post 200 payments of 261,234.56 EUR in all"])


class BatchChoices(BaseModel):
    """What the caller may do with a batch now (asked without recording, for a face)."""

    approve: bool
    reject: bool
    cancel: bool
    approving_would: str | None = None
