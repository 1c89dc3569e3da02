"""The step-up prompt: when the policy asks a form's action for a recent strong
authentication (step_up_required), the console asks for a code from the person's
authenticator and sends the same form again, with everything that was typed (and its
anti-forgery token and idempotency key) as it was, and the code beside it. The code is
checked before the form's work (admin.deps.checked_form), which then runs stepped up."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from admin.views import render_public
from core.errors import MandateError
from core.policy.reasons import describe_max_age

# A code from the person's authenticator sent with any form: the step-up it gives is checked
# before the form's work (admin.deps.checked_form), which then runs strongly authenticated.
STEP_UP_FIELD = "step_up_code"

WRONG_CODE = "That code is not right, or it was used already: enter the one your app shows now."


def posted_form(request: Request) -> FormData | None:
    """The form this request posted, once checked for its anti-forgery token."""
    form = getattr(request.state, "form", None)
    return form if isinstance(form, FormData) else None


def asks_for_code(request: Request, exc: BaseException) -> bool:
    """Whether to answer with the prompt: a checked form refused for want of a step-up, or
    sent again with a wrong code."""
    if request.method != "POST" or posted_form(request) is None:
        return False
    if not isinstance(exc, MandateError):
        return False
    if exc.code == "step_up_required":
        return True
    return exc.code == "invalid_otp" and bool(getattr(request.state, "step_up_refused", False))


def step_up_page(request: Request, exc: MandateError) -> HTMLResponse:
    """The prompt, answered 401 as the API answers the same refusal."""
    form = posted_form(request)
    assert form is not None
    max_age = exc.context.get("max_age")
    within = describe_max_age(max_age) if isinstance(max_age, int) and max_age > 0 else ""
    fields = [(k, v) for k, v in form.multi_items() if k != STEP_UP_FIELD and isinstance(v, str)]
    return render_public(
        request,
        "step_up.html",
        status=401,
        title="Confirm with your authenticator",
        action=request.url.path,
        fields=fields,
        within=within,
        error=WRONG_CODE if exc.code == "invalid_otp" else "",
        field=STEP_UP_FIELD,
    )
