"""What the beneficiaries API takes in and gives out. An IBAN or BIC is text here: schwifty
checks it in the service (core.ledger.identifiers), where each refusal has its own code
(invalid_iban, invalid_bic)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from core.fields import PLAIN_TEXT
from core.ledger.schemas import Name

BeneficiaryStatus = Literal["active", "pending_approval"]
BeneficiaryKind = Literal["internal", "external"]

# As people type and print them: an IBAN in groups of four (34 characters at most, and the
# spaces between them), a BIC of 8 or 11.
TypedIban = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    PLAIN_TEXT,
    Field(examples=["DE89 3704 0044 0532 0130 00"]),
]
TypedBic = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=11),
    PLAIN_TEXT,
    Field(examples=["COBADEFFXXX"]),
]
ReferenceTemplate = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=140),
    PLAIN_TEXT,
    Field(description="The reference a payment to this beneficiary starts with"),
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BeneficiaryCreate(_Input):
    name: Name
    iban: TypedIban = Field(description="Spaces and lower case allowed; checked by schwifty")
    bic: TypedBic | None = Field(default=None, description="Optional; checked by schwifty")
    reference_template: ReferenceTemplate = ""


class BeneficiaryUpdate(_Input):
    """A beneficiary's name, BIC and reference template; what the patch leaves out stays. Its
    IBAN never changes: a new IBAN is a new payee, added (and approved) as such."""

    name: Name | None = None
    bic: TypedBic | None = Field(default=None, description='"" removes the BIC')
    reference_template: ReferenceTemplate | None = None

    @model_validator(mode="before")
    @classmethod
    def _iban_stays(cls, data: Any) -> Any:
        if isinstance(data, dict) and "iban" in data:
            raise PydanticCustomError(
                "invalid_request",
                "the IBAN of a beneficiary never changes: delete the beneficiary and add the "
                "new IBAN as a beneficiary of its own",
            )
        return data


class BeneficiaryPublic(BaseModel):
    id: int
    tenant_id: int
    name: str
    iban: str = Field(description="Electronic form: no spaces")
    bic: str | None
    reference_template: str
    kind: BeneficiaryKind = Field(
        description="internal: an account of this bank (paid by a book transfer); external: "
        "any other bank (paid through the bank's clearing account)"
    )
    status: BeneficiaryStatus = Field(
        description="pending_approval: waits for a second person's approval; nothing can be "
        "paid to it until then"
    )
    added_by: int
    created_at: dt.datetime
    approved_by: int | None
    approved_at: dt.datetime | None
    updated_at: dt.datetime
    new_until: dt.datetime = Field(
        description="Until then every payment to it needs an approval, whatever the amount "
        "(the company's new_beneficiary_hours after it was added)"
    )
