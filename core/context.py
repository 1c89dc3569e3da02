"""Who is asking, and when: the context every service call receives."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from core.clock import Clock, SystemClock
from core.errors import Unauthenticated


@dataclass(frozen=True)
class Authentication:
    """How and when the person asking last authenticated: the methods of that event (RFC 8176
    names: "pwd" a password, "otp" a code from their authenticator app, "rec" a recovery code)
    and its time. The policy reads them for a step-up (policies/authentication.polar). An
    enrolment-only sign-in (the bank requires a second factor the person has not set up) may
    do nothing but set it up."""

    methods: tuple[str, ...]
    at: dt.datetime
    enrolment_only: bool = False


@dataclass(frozen=True)
class Actor:
    user_id: int
    username: str
    display_name: str
    bank_id: int
    tenant_id: int | None
    # None: not known (someone a decision is explained or applied for, not the one asking).
    authentication: Authentication | None = None
    # An API client asking with its token: its client_id and the token's scopes, which
    # narrow what its grants allow (policies/decide.polar: scope_missing). None: a person, or
    # a client not asking now; nothing narrows them.
    client_id: str | None = None
    scopes: tuple[str, ...] | None = None

    @property
    def is_staff(self) -> bool:
        return self.tenant_id is None

    @property
    def kind(self) -> str:
        return "staff" if self.is_staff else "customer"


@dataclass
class PendingActivity:
    """The action this request attempts, as its user will see it in their activity."""

    action: str
    account_id: int | None = None
    counterparty_account_id: int | None = None
    amount: int | None = None
    currency: str | None = None
    idempotency_key: str | None = None
    target: str | None = None
    transfer_id: int | None = None
    replayed: bool = False
    # What was done, in words, once it succeeded ("sent 400.00 EUR from Operating to Payroll").
    done: str | None = None


@dataclass(frozen=True)
class PaymentStep:
    """A step of a payment taken by someone other than who prepared it, or by Mandate itself
    (an approval, a rejection, a cancellation, its posting, scheduling, execution, failure or
    expiry): shown in the activity of who prepared the payment, so that they follow it to
    its end. `acted_by` is who took the step; None when Mandate did (expiry, execution)."""

    user_id: int
    tenant_id: int | None
    action: str
    detail: str
    payment_id: int | None
    acted_by: int | None
    account_id: int | None = None
    amount: int | None = None
    currency: str | None = None
    transfer_id: int | None = None
    # A step of a payment batch (core.batches): the batch, rather than one payment.
    payment_batch_id: int | None = None


@dataclass
class AuditTrail:
    """Records gathered during a request, written when its unit of work ends: with its
    commit when it succeeds, in a transaction of their own when it fails."""

    decisions: list[Any] = field(default_factory=list)
    changes: list[Any] = field(default_factory=list)
    activity: PendingActivity | None = None
    # Steps of other people's payments this request took, for their activity (with the
    # commit only: a failed request took none).
    steps: list[PaymentStep] = field(default_factory=list)
    # The payment batch this request is about (core.batches): its decisions and its activity
    # name it when they are written.
    payment_batch_id: int | None = None

    def attempt(self, action: str, **details: Any) -> PendingActivity:
        self.activity = PendingActivity(action=action, **details)
        return self.activity

    def done(self, text: str) -> None:
        """Say, in words, what the attempted action did (shown when it succeeds)."""
        if self.activity is not None:
            self.activity.done = text


@dataclass
class RequestContext:
    actor: Actor | None
    clock: Clock = field(default_factory=SystemClock)
    audit: AuditTrail = field(default_factory=AuditTrail)
    # How many times this request asked the policy (decisions and list filters); a test holds
    # every route to asking at least once.
    policy_queries: int = 0
    # Facts gathered for this request's decisions (see core.policy.facts.build_request).
    policy_memo: dict[Any, Any] = field(default_factory=dict)
    # Served during a maintenance window (core.operations): the faces refuse its writes;
    # a read that would move money on the way (a scheduled payment whose day has come,
    # executed when it is read) leaves it for after the window.
    read_only: bool = False
    # The instant the request is decided at: read once, so every check in one request
    # sees the same time.
    _now: dt.datetime | None = None

    def new_attempt(self, actor: Actor | None) -> None:
        """Start the work again (after contention): nothing of the failed attempt was kept,
        so neither are its trail, its facts, its instant, nor who it found was asking (a
        sign-in that had not committed): the caller is again `actor`, as the work began."""
        self.actor = actor
        self.audit = AuditTrail()
        self.policy_memo.clear()
        self._now = None

    def now(self) -> dt.datetime:
        if self._now is None:
            self._now = self.clock.now()
        return self._now

    def require_actor(self) -> Actor:
        if self.actor is None:
            raise Unauthenticated("a valid bearer token is needed")
        return self.actor
