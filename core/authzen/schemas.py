"""The AuthZEN Authorization API 1.0 shapes (openid/authzen, authorization-api-1_0): subject,
action, resource and context in; a decision, with a context saying why not, out.

Mandate's words in them: a subject is a person, `{"type": "user", "id": <username>}`
(usernames are unique in Mandate and are what a person signs in with, so other services know
them), or an API client, `{"type": "client", "id": <client_id>}`; an action is one of the
vocabulary's actions (policies/vocabulary.polar, GET /v1/permissions); a resource is an
account, a payment or a beneficiary, `{"type": "account", "id": "42"}`, by Mandate's id.
The context carries what a decision about money needs (`amount` in minor units, `currency`),
the instant to decide at (`at`, ISO 8601 with an offset; the specification's examples call
it `time`, also read), and what the subject's own sign-in proved, for a step-up (`amr`,
`auth_time`: OpenID Connect's claim names)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.fields import PLAIN_TEXT, Instant
from core.money import MAX_AMOUNT

# How many questions one call to /access/v1/evaluations may carry (422 beyond): enough for a
# page of a list a service shows, few enough that one call stays one short transaction.
MAX_EVALUATIONS = 100
# Search pages: as the API's lists page.
DEFAULT_SEARCH_PAGE = 50
MAX_SEARCH_PAGE = 200

Name = Annotated[str, Field(min_length=1, max_length=64), PLAIN_TEXT]
Identifier = Annotated[str, Field(min_length=1, max_length=128), PLAIN_TEXT]
Properties = Annotated[dict[str, Any] | None, Field(default=None)]


class _Entity(BaseModel):
    # Other properties a service sends (an IP address, a device) are read by nobody: the policy
    # decides on what Mandate knows, never on what a caller says about the person or resource.
    model_config = ConfigDict(extra="forbid")


class Subject(_Entity):
    type: Name = Field(examples=["user"])
    id: Identifier = Field(examples=["acme-payer"], description="the person's username")
    properties: Properties = None


class SearchedSubject(_Entity):
    """A subject search names the type only (an id, if given, is ignored)."""

    type: Name = Field(examples=["user"])
    id: Identifier | None = None
    properties: Properties = None


class Action(_Entity):
    name: Name = Field(examples=["payment.approve"])
    properties: Properties = None


class Resource(_Entity):
    type: Name = Field(examples=["account"], description="account, payment or beneficiary")
    id: Identifier = Field(examples=["1"], description="Mandate's id of it")
    properties: Properties = None


class SearchedResource(_Entity):
    """A resource search names the type only (an id, if given, is ignored)."""

    type: Name = Field(examples=["account"])
    id: Identifier | None = None
    properties: Properties = None


class Context(BaseModel):
    """What the decision is asked about beyond who, what and which. Other keys are allowed
    (the specification lets a caller send any) and read by nobody."""

    model_config = ConfigDict(extra="allow")

    amount: int | None = Field(
        default=None, strict=True, ge=1, le=MAX_AMOUNT, description="minor units (cents)"
    )
    currency: str | None = Field(
        default=None,
        pattern="^[A-Z]{3}$",
        description="ISO 4217; the account's own currency (another is refused)",
    )
    at: Instant = Field(
        default=None, description="decide as at this instant; unset: now (ISO 8601, offset)"
    )
    time: Instant = Field(default=None, description="as `at` (the specification's name)")
    amr: list[Annotated[str, Field(max_length=16), PLAIN_TEXT]] | None = Field(
        default=None,
        max_length=8,
        description="how the subject authenticated (RFC 8176: pwd, otp): for a step-up",
    )
    auth_time: Instant = Field(
        default=None, description="when the subject authenticated so (ISO 8601, offset)"
    )
    to_account: Identifier | None = Field(
        default=None, description="transfer.create: the account the money goes to"
    )
    beneficiary: Identifier | None = Field(
        default=None, description="payment.create: the beneficiary paid"
    )

    def instant(self) -> dt.datetime | None:
        return self.at or self.time


class EvaluationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Subject
    action: Action
    resource: Resource
    context: Context | None = None


class EvaluationItem(BaseModel):
    """One question of a boxcar; what it leaves out comes from the request's top level."""

    model_config = ConfigDict(extra="forbid")

    subject: Subject | None = None
    action: Action | None = None
    resource: Resource | None = None
    context: Context | None = None


Semantic = Literal["execute_all", "deny_on_first_deny", "permit_on_first_permit"]


class EvaluationsOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    evaluations_semantic: Semantic = "execute_all"


class EvaluationsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Subject | None = None
    action: Action | None = None
    resource: Resource | None = None
    context: Context | None = None
    evaluations: list[EvaluationItem] | None = Field(
        default=None, max_length=MAX_EVALUATIONS, description=f"at most {MAX_EVALUATIONS}"
    )
    options: EvaluationsOptions | None = None


class DecisionError(BaseModel):
    status: int
    message: str


class DecisionContext(BaseModel):
    """Why not: the policy's reason code (as the API's `error` and the decision log's
    `reason` name it) and the sentence a person reads."""

    reason_code: str
    reason: str
    # A refusal the subject lifts by authenticating strongly again (step_up_required): within
    # how many seconds, and with which method (RFC 8176), as RFC 9470 asks.
    max_age: int | None = None
    amr_values: str | None = None
    # A question Mandate cannot answer as asked (an unknown action, a payment action about an
    # account): as the specification shows an error in one evaluation.
    error: DecisionError | None = None


class AccessDecision(BaseModel):
    decision: bool
    context: DecisionContext | None = None


class EvaluationsResponse(BaseModel):
    evaluations: list[AccessDecision]


class PageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, Field(max_length=64), PLAIN_TEXT] | None = Field(
        default=None, description="the previous page's next_token"
    )
    # Drafts of the specification sent the token back under its response name.
    next_token: Annotated[str, Field(max_length=64), PLAIN_TEXT] | None = None
    limit: int | None = Field(default=None, ge=1, le=MAX_SEARCH_PAGE)


class ResourceSearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Subject
    action: Action
    resource: SearchedResource
    context: Context | None = None
    page: PageRequest | None = None


class SubjectSearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: SearchedSubject
    action: Action
    resource: Resource
    context: Context | None = None
    page: PageRequest | None = None


class Found(BaseModel):
    type: str
    id: str


class PageResponse(BaseModel):
    next_token: str = Field(description="empty on the last page")
    count: int


class SearchResponse(BaseModel):
    results: list[Found]
    page: PageResponse


class Configuration(BaseModel):
    """GET /.well-known/authzen-configuration: where each endpoint is."""

    policy_decision_point: str
    access_evaluation_endpoint: str
    access_evaluations_endpoint: str
    search_subject_endpoint: str
    search_resource_endpoint: str
