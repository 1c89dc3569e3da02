"""Your second factor: setting up an authenticator app (TOTP), confirming it, removing it.
These routes, and GET /v1/me, accept a token for enrolment only: when the bank requires a
second factor of someone who has none, that is all their sign-in can do."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.deps import EnrolmentUnit, client_address, services
from api.errors import error_responses
from core.context import Authentication
from core.iam import second_factor
from core.iam.second_factor_schemas import (
    RecoveryCodes,
    SecondFactorPublic,
    TotpCode,
    TotpEnrolment,
)

router = APIRouter(prefix="/v1/me/totp", tags=["auth"])


def proven_code(request: Request, uow: EnrolmentUnit, body: TotpCode) -> Authentication:
    """The body's code, checked against the caller's authenticator as a sign-in checks a
    password (counted per username and address; each code once), before the work that needs
    it runs."""
    svc = services(request)
    return second_factor.prove_code(
        svc.db,
        svc.box,
        uow.ctx.require_actor(),
        body.code,
        address=client_address(request),
        now=uow.ctx.now(),
    )


ProvenCode = Annotated[Authentication, Depends(proven_code)]


@router.get(
    "",
    response_model=SecondFactorPublic,
    summary="Whether you have an authenticator app set up, and recovery codes left",
    responses=error_responses(),
)
def totp_status(uow: EnrolmentUnit) -> SecondFactorPublic:
    return uow.run(second_factor.status)


@router.post(
    "",
    response_model=TotpEnrolment,
    status_code=201,
    summary="Start setting up an authenticator app: its secret and QR code, shown once",
    responses=error_responses("totp_already_enabled"),
)
def start_totp(request: Request, uow: EnrolmentUnit) -> TotpEnrolment:
    return uow.run(second_factor.start_enrolment, services(request).box)


@router.post(
    "/confirm",
    response_model=RecoveryCodes,
    summary="Turn the authenticator on with a code it shows; answers recovery codes, once",
    responses=error_responses("totp_not_started", "invalid_otp"),
)
def confirm_totp(request: Request, uow: EnrolmentUnit, body: TotpCode) -> RecoveryCodes:
    return uow.run(second_factor.confirm_enrolment, services(request).box, body.code)


@router.delete(
    "",
    status_code=204,
    summary="Remove your authenticator app and recovery codes (with a code from it)",
    responses=error_responses("totp_not_enabled", "invalid_otp", "too_many_requests"),
)
def remove_totp(uow: EnrolmentUnit, proven: ProvenCode) -> Response:
    uow.run(second_factor.remove_authenticator, proven)
    return Response(status_code=204)
