"""One error hierarchy for the whole domain.

Every error carries a stable machine code, an HTTP status and a sentence for a
person. The API and the console render them the same way:
{"error": code, "detail": message}.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Self


class MandateError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.context = context

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


class InvalidRequest(MandateError):
    status = 422
    code = "invalid_request"


class MalformedRequest(MandateError):
    status = 400
    code = "malformed_json"


class NotFound(MandateError):
    status = 404
    code = "not_found"


class Conflict(MandateError):
    status = 409
    code = "conflict"


class Unauthenticated(MandateError):
    status = 401
    code = "unauthenticated"


class StepUpRequired(Unauthenticated):
    """The policy asks for a recent strong authentication (its reason step_up_required): the
    API answers 401 with an RFC 9470 challenge naming `max_age` (seconds), the console asks
    for a code and sends the form again."""

    code = "step_up_required"


class Forbidden(MandateError):
    """Refused by the policy; `code` is the policy's reason."""

    status = 403
    code = "forbidden"


class UnsupportedMediaType(MandateError):
    status = 415
    code = "unsupported_media_type"


class TooManyRequests(MandateError):
    status = 429
    code = "too_many_requests"


# The code of an HTTP error the web framework raises itself (no route, wrong method ...).
HTTP_CODES = {
    # FastAPI's "There was an error parsing the body" (e.g. JSON that is not UTF-8).
    400: "malformed_json",
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class Code(StrEnum):
    """A code a person or a program reads: its string (what JSON carries), the HTTP status it
    answers with, what it means in general, and the console form field it is shown beside
    ("" for the form as a whole). The base of ErrorCode and of the policy's Reason."""

    status: int
    meaning: str
    field: str

    def __new__(cls, code: str, status: int, meaning: str, field: str = "") -> Self:
        member = str.__new__(cls, code)
        member._value_ = code
        member.status = status
        member.meaning = meaning
        member.field = field
        return member


class ErrorCode(Code):
    """Every error code the API can answer with (refusal reasons aside: those are the
    policy's, core.policy.reasons.Reason), its status and what it means. The OpenAPI
    document and the docs are generated from it, so a new code must be added here. A member
    equals its code as a string.

    `field` is the form field an error is shown beside in the console ("" for the form as a
    whole)."""

    malformed_json = "malformed_json", 400, "The body is not valid JSON."
    invalid_request = (
        "invalid_request",
        422,
        "A field is missing, of the wrong type, or out of range.",
    )
    invalid_text = (
        "invalid_text",
        422,
        "Text may not contain NUL or other control characters, line breaks, or bidirectional "
        "formatting characters.",
    )
    unknown_currency = (
        "unknown_currency",
        422,
        "Not an active ISO 4217 currency code: three upper-case letters, e.g. EUR.",
        "currency",
    )
    invalid_amount = (
        "invalid_amount",
        422,
        "Amounts are whole minor units greater than zero.",
        "amount",
    )
    amount_too_large = (
        "amount_too_large",
        422,
        "The amount is above the largest amount Mandate accepts.",
        "amount",
    )
    currency_mismatch = (
        "currency_mismatch",
        422,
        "The accounts, or the amount, are in different currencies.",
        "to_account_id",
    )
    same_account = "same_account", 422, "A transfer needs two different accounts.", "to_account_id"
    insufficient_funds = (
        "insufficient_funds",
        422,
        "The debit would take the balance below its overdraft limit.",
        "amount",
    )
    insufficient_available = (
        "insufficient_available",
        422,
        "The payment is more than the account has available: balance plus overdraft limit, "
        "less what payments awaiting approval hold.",
        "amount",
    )
    beneficiary_account_unavailable = (
        "beneficiary_account_unavailable",
        409,
        "The beneficiary's account cannot receive payments now.",
        "beneficiary_id",
    )
    account_frozen = "account_frozen", 409, "The account is frozen: no money moves in or out."
    account_closed = "account_closed", 409, "The account is closed."
    account_not_empty = (
        "account_not_empty",
        409,
        "Only an account with a zero balance can be closed.",
    )
    invalid_execution_date = (
        "invalid_execution_date",
        422,
        "A payment executes today or on a later day within the horizon (the company's day), "
        "never on a day that has passed.",
        "execution_date",
    )
    invalid_iban = (
        "invalid_iban",
        422,
        "Not a valid IBAN: its country, length or check digits are wrong.",
        "iban",
    )
    invalid_bic = "invalid_bic", 422, "Not a valid BIC: 8 or 11 letters and digits.", "bic"
    bic_country_mismatch = (
        "bic_country_mismatch",
        422,
        "The BIC's bank is in another country than the IBAN's account.",
        "bic",
    )
    beneficiary_exists = (
        "beneficiary_exists",
        409,
        "The company already has a beneficiary with this IBAN.",
        "iban",
    )
    beneficiary_not_approved = (
        "beneficiary_not_approved",
        403,
        "The beneficiary awaits a second person's approval before it can be paid.",
        "beneficiary_id",
    )
    beneficiary_deleted = (
        "beneficiary_deleted",
        409,
        "The payment's beneficiary was deleted: nothing more is paid to it.",
    )
    reason_required = (
        "reason_required",
        422,
        "Rejecting a payment needs a reason.",
        "reason",
    )
    # -- payment batches (pain.001 files): the file refused as a whole, nothing created
    xml_malformed = "xml_malformed", 422, "The file is not well-formed XML.", "file"
    xml_forbidden = (
        "xml_forbidden",
        422,
        "The file declares a DTD, entities or external references; a payment file may not "
        "(untrusted XML is never expanded: no XML bomb gets through).",
        "file",
    )
    unsupported_file_version = (
        "unsupported_file_version",
        422,
        "Not a pain.001 document of a version Mandate takes (pain.001.001.09 or .03).",
        "file",
    )
    file_not_schema_valid = (
        "file_not_schema_valid",
        422,
        "The file does not validate against the XSD of its pain.001 version.",
        "file",
    )
    batch_too_many_items = (
        "batch_too_many_items",
        422,
        "The file holds more credit transfers than a batch takes (5,000): split it.",
        "file",
    )
    batch_not_one_account = (
        "batch_not_one_account",
        422,
        "A batch pays from one account, named by its IBAN, on one execution date.",
        "file",
    )
    control_sum_mismatch = (
        "control_sum_mismatch",
        422,
        "The file's header (NbOfTxs, CtrlSum) does not match its transactions.",
        "file",
    )
    duplicate_message_id = (
        "duplicate_message_id",
        409,
        "The company already sent a file with this MsgId: a file is taken once (send a "
        "corrected file with a new MsgId).",
        "file",
    )
    payment_batch_refused = (
        "payment_batch_refused",
        422,
        "Every payment of the file was refused (each with its reason, in `items`): nothing "
        "was created.",
        "file",
    )
    below_bank_minimum = (
        "below_bank_minimum",
        422,
        "A company's approval rule asks fewer approvals than the bank's minimums already do.",
        "rules",
    )
    beneficiary_not_pending = (
        "beneficiary_not_pending",
        409,
        "The beneficiary does not await approval: it is active already.",
    )
    idempotency_key_required = (
        "idempotency_key_required",
        400,
        "Money-moving requests need an Idempotency-Key header.",
    )
    idempotency_key_invalid = (
        "idempotency_key_invalid",
        400,
        "Idempotency keys are 1 to 255 printable ASCII characters.",
    )
    idempotency_key_reused = (
        "idempotency_key_reused",
        422,
        "This Idempotency-Key was used for a different request.",
    )
    idempotency_key_in_flight = (
        "idempotency_key_in_flight",
        409,
        "A request with this Idempotency-Key is still running.",
    )
    invalid_cursor = "invalid_cursor", 422, "The cursor is not one this API issued."
    invalid_period = (
        "invalid_period",
        422,
        "A period runs forward: from is on or before to (a statement's days are in the "
        "company's zone, an audit bundle's in UTC).",
    )
    person_still_active = (
        "person_still_active",
        409,
        "A person is erased after they left: their admin deactivates them first.",
    )
    period_too_long = (
        "period_too_long",
        422,
        "A statement export or audit bundle covers at most 366 days; export a longer span "
        "in parts.",
    )
    unknown_statement_format = (
        "unknown_statement_format",
        422,
        "Statements are exported as csv or camt053 (ISO 20022 camt.053.001.08).",
    )
    invalid_permission = (
        "invalid_permission",
        422,
        "Not a permission a custom role can carry.",
        "permissions",
    )
    unknown_action = "unknown_action", 422, "Not an action of the vocabulary."
    invalid_scope = (
        "invalid_scope",
        422,
        "A grant's accounts must be the user's company's, listed or all.",
        "account_ids",
    )
    invalid_validity = (
        "invalid_validity",
        422,
        "valid_from must be before valid_until.",
        "valid_until",
    )
    invalid_window = (
        "invalid_window",
        422,
        "A time window needs days and a start different from its end (00:00-24:00: all day).",
        "window",
    )
    invalid_time = (
        "invalid_time",
        422,
        "Times are HH:MM; a window's end may be 24:00, the end of the day.",
        "window",
    )
    unknown_time_zone = "unknown_time_zone", 422, "Not an IANA time zone.", "window"
    naive_datetime = "naive_datetime", 422, "A date-time needs its time zone offset."
    date_out_of_range = (
        "date_out_of_range",
        422,
        "Outside the calendar the platform computes in (the message names its first and last "
        "day); no end is null, not 9999-12-31.",
    )
    role_exists = "role_exists", 409, "The tenant already has a role of that name.", "name"
    builtin_role = (
        "builtin_role",
        409,
        "Built-in roles are defined by the policy and cannot be changed.",
    )
    role_in_use = "role_in_use", 409, "The role still has grants; revoke them first."
    grant_revoked = "grant_revoked", 409, "The grant is revoked."
    username_taken = "username_taken", 409, "That username is taken.", "username"
    tenant_exists = "tenant_exists", 409, "A tenant of that name exists.", "name"
    not_found = "not_found", 404, "No such resource, or not visible to you."
    unauthenticated = "unauthenticated", 401, "A valid bearer token is needed."
    invalid_credentials = "invalid_credentials", 401, "Unknown user or wrong password."
    token_expired = "token_expired", 401, "The token has expired; sign in again."
    otp_required = (
        "otp_required",
        401,
        "This person signs in with a second factor: send the code from their authenticator "
        "app as `otp` (or a recovery code as `recovery_code`).",
        "otp",
    )
    mfa_enrolment_required = (
        "mfa_enrolment_required",
        401,
        "The bank requires two-factor sign-in of this person: this sign-in may only set up an "
        "authenticator (POST /v1/me/totp, then .../confirm); then sign in again with a code.",
    )
    invalid_otp = (
        "invalid_otp",
        422,
        "Not the authenticator's code of this moment, or a code used already: wait for the "
        "next one.",
        "code",
    )
    totp_already_enabled = (
        "totp_already_enabled",
        409,
        "An authenticator is set up already: remove it first (with a code from it).",
    )
    totp_not_started = (
        "totp_not_started",
        409,
        "No authenticator awaits confirmation: start setting one up first (POST /v1/me/totp).",
    )
    totp_not_enabled = "totp_not_enabled", 409, "No authenticator is set up."
    invalid_token = "invalid_token", 401, "The token is malformed, tampered with, or not ours."
    # The token endpoint's own errors (RFC 6749 section 5.2), for API clients.
    invalid_client = (
        "invalid_client",
        401,
        "The client could not be authenticated: unknown or disabled client, wrong secret, or "
        "an assertion that is unsigned by a registered key, expired, replayed or not for this "
        "token endpoint.",
    )
    invalid_grant = "invalid_grant", 400, "The grant is invalid or was revoked."
    unsupported_grant_type = (
        "unsupported_grant_type",
        400,
        "This token endpoint does not answer that grant_type here (the password grant may be "
        "switched off: MANDATE_PASSWORD_GRANT).",
    )
    unauthorized_client = ("unauthorized_client", 400, "The client may not use that grant_type.")
    signing_key_active = (
        "signing_key_active",
        409,
        "The active signing key cannot be retired: rotate first (mandate keys rotate).",
    )
    signing_key_in_use = (
        "signing_key_in_use",
        409,
        "Tokens the key signed may still be live: retire it once they have expired, or with "
        "--force.",
    )
    client_has_no_password = (
        "client_has_no_password",
        422,
        "An API client signs in with its key or secret at the token endpoint, never with a "
        "password.",
    )
    contention = "contention", 503, "Too much contention on these accounts; retry shortly."
    database_unavailable = (
        "database_unavailable",
        503,
        "The database cannot be reached; retry shortly.",
    )
    payload_too_large = "payload_too_large", 413, "The request body is too large."
    unsupported_media_type = (
        "unsupported_media_type",
        415,
        "The body is not of a type the operation takes (its Content-Type).",
    )
    headers_too_large = (
        "headers_too_large",
        431,
        "The request has too many header fields, or too large ones.",
    )
    too_many_requests = "too_many_requests", 429, "Too many attempts; wait before trying again."
    conflict = "conflict", 409, "The request conflicts with the current state."
    dual_admin_mandatory = (
        "dual_admin_mandatory",
        422,
        "The bank makes dual administration mandatory: it cannot be turned off.",
        "dual_admin",
    )
    policy_invalid = (
        "policy_invalid",
        422,
        "The proposed policy does not load, fails cases, or drops what the code relies on; "
        "nothing was stored (the answer's failures list the failing cases).",
    )
    policy_version_exists = (
        "policy_version_exists",
        409,
        "A version with exactly these files is already stored.",
    )
    policy_version_not_pending = (
        "policy_version_not_pending",
        409,
        "Only a proposed version (or, for a rollback, a retired one) can be approved, and "
        "only a proposed or approved one rejected.",
    )
    policy_version_not_approved = (
        "policy_version_not_approved",
        409,
        "Only an approved version can be activated (a retired one needs a fresh approval).",
    )
    policy_version_in_use = (
        "policy_version_in_use",
        409,
        "Some tenants run this version (pinned to it, or as their extension): move them first.",
    )
    policy_version_incompatible = (
        "policy_version_incompatible",
        409,
        "A company's extension does not load beside that version of the policy.",
    )
    maintenance = (
        "maintenance",
        503,
        "Mandate is in a maintenance window: writes (read_only) or all requests (full) are "
        "refused until it ends; Retry-After says in how many seconds, detail what the bank "
        "announced.",
    )
    maintenance_window_over = (
        "maintenance_window_over",
        409,
        "The maintenance window is over or cancelled already.",
    )


# code -> (HTTP status, what it means), as the OpenAPI document lists them.
ERROR_CODES: dict[str, tuple[int, str]] = {c.value: (c.status, c.meaning) for c in ErrorCode}
