"""GDPR requests about one person: access (everything held about them) and erasure by
pseudonymization."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ApiUnit
from api.errors import MANAGE_REFUSALS, POLICY_REFUSALS, error_responses
from api.params import UserId
from core.audit import erasure, personal
from core.audit.erasure import ErasureResult
from core.audit.personal import PersonalData

router = APIRouter(prefix="/v1/users", tags=["personal data"])


@router.get(
    "/{user_id}/personal-data",
    response_model=PersonalData,
    summary="GDPR access: everything Mandate holds about a person",
    description="For the person themself, their company's admin and compliance "
    "(personal_data.read). Secrets (password, authenticator, sessions) are said to exist, "
    "never shown.",
    responses=error_responses(*POLICY_REFUSALS),
)
def personal_data(uow: ApiUnit, user_id: UserId) -> PersonalData:
    return uow.run(personal.personal_data, user_id)


@router.post(
    "/{user_id}/erase",
    response_model=ErasureResult,
    summary="GDPR erasure: replace a person by a pseudonym everywhere, keep the records",
    description="Compliance (personal_data.erase), never of oneself, once the person's admin "
    "(a bank manager, for staff) deactivated them (409 person_still_active before). The "
    "person's name and username become a stable pseudonym in every table (money records "
    "aside), their credentials, second factor and sessions are deleted; the ledger and "
    "the trail keep their rows and still verify (`mandate audit verify`). Erasing an "
    "erased person changes nothing.",
    responses=error_responses(*MANAGE_REFUSALS, "person_still_active"),
)
def erase(uow: ApiUnit, user_id: UserId) -> ErasureResult:
    return uow.run(erasure.erase_person, user_id)
