"""What payments and approval rules take in and give out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from core.fields import PLAIN_TEXT, CalendarDate, CurrencyCode, ResourceId
from core.ledger.schemas import Amount, Description, _Input
from core.money import MAX_AMOUNT

PaymentStatus = Literal[
    "pending_approval", "scheduled", "posted", "sent", "rejected", "cancelled", "expired", "failed"
]
PaymentKind = Literal["own", "internal", "external"]
RuleKind = Literal["any", "own", "internal", "external"]
# How far ahead a payment may be dated: a business bank's usual horizon for future-dated
# payments (days of the company's time zone).
EXECUTION_HORIZON_DAYS = 90
EndReason = Annotated[str, StringConstraints(max_length=500), PLAIN_TEXT]


class PaymentCreate(_Input):
    account_id: ResourceId = Field(description="The account paying (debited)")
    beneficiary_id: ResourceId
    amount: Amount
    currency: CurrencyCode = Field(description="The paying account's currency")
    reference: Description = ""
    execution_date: CalendarDate | None = Field(
        default=None,
        description="The day the money moves, in the company's time zone: today (or unset) "
        f"or a later day at most {EXECUTION_HORIZON_DAYS} days ahead; an approved payment for "
        "a later day is scheduled, its amount held, and executes on that day",
    )


class PaymentEnd(_Input):
    """Why a payment is rejected or cancelled (rejection needs a reason)."""

    reason: EndReason = ""


class ApprovalPublic(BaseModel):
    approver: int
    approval_group: str | None
    at: dt.datetime


class Requirement(BaseModel):
    """What the payment's panel asks, and what it still needs."""

    approvals: int = Field(description="Approvals the panel asks in all")
    group_a: int = Field(description="Of them, approvals from signature group A")
    still_needed: int
    still_needed_a: int
    text: str = Field(examples=["1 more approval from group A"])


class PaymentPublic(BaseModel):
    id: int
    account_id: int
    beneficiary_id: int
    beneficiary_name: str
    kind: PaymentKind
    amount: int
    currency: str
    reference: str
    execution_date: dt.date | None
    status: PaymentStatus
    required: Requirement
    approvals: list[ApprovalPublic]
    expires_at: dt.datetime | None
    transfer_id: int | None
    initiated_by: int
    created_at: dt.datetime
    ended_at: dt.datetime | None
    ended_by: int | None
    end_reason: str
    payment_batch_id: int | None = Field(
        default=None,
        description="Made by this payment batch (a pain.001 file) on its last approval: its "
        "approvals are the batch's (GET /v1/payment-batches/{id})",
    )


@dataclass(frozen=True)
class PaymentResult:
    """A payment as the caller sees it, and whether it is a stored answer replayed. The face
    answers 201 for a payment whose money moved, 202 for one that waits."""

    payment: PaymentPublic
    replayed: bool = False


class PossibleApprover(BaseModel):
    user_id: int
    display_name: str
    approval_group: str | None


class PaymentPreview(BaseModel):
    """What sending a payment would do, asked before sending it (nothing is held or sent):
    scheduled when it needs no approval but is dated for a later day."""

    outcome: Literal["posted", "sent", "scheduled", "pending_approval", "refused"]
    required: Requirement
    approvers: list[PossibleApprover] = Field(
        description="Who could approve it (never the person asking)"
    )
    error: str | None = None
    detail: str | None = None


class InboxItem(BaseModel):
    payment: PaymentPublic
    approving_would: str = Field(examples=["post it", "leave 1 more approval from group A to go"])


class ApprovalRuleIn(_Input):
    currency: CurrencyCode
    min_amount: int = Field(strict=True, ge=0, le=MAX_AMOUNT, description="Minor units")
    kind: RuleKind = "any"
    account_id: ResourceId | None = Field(
        default=None, description="Only payments from this account (tenant rules only)"
    )
    approvals: int = Field(strict=True, ge=1, le=5)
    group_a: int = Field(default=0, strict=True, ge=0, le=5)


class ApprovalRulePublic(BaseModel):
    id: int
    level: Literal["bank", "tenant"]
    currency: str
    min_amount: int
    kind: RuleKind
    account_id: int | None
    approvals: int
    group_a: int
    updated_at: dt.datetime


class ApprovalRulesPut(_Input):
    rules: list[ApprovalRuleIn] = Field(max_length=50)


class ApprovalRules(BaseModel):
    """The tiers that apply to a company's payments: the bank's minimums, which every company
    inherits, and the company's own (the panel is the most any applying tier asks)."""

    bank: list[ApprovalRulePublic]
    tenant: list[ApprovalRulePublic]


class PaymentChoices(BaseModel):
    """What the caller may do with a payment now, as the policy would answer if they asked
    (asked without recording: the buttons a face offers; the action itself asks again)."""

    approve: bool
    reject: bool
    cancel: bool
    approving_would: str | None = Field(
        default=None, examples=["post it", "leave 1 more approval from group A to go"]
    )
