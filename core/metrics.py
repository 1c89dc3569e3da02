"""What Mandate counts for its operators, in Prometheus' terms (prometheus-client): served
at /metrics (api.observability). With PROMETHEUS_MULTIPROC_DIR set (`mandate serve
--workers N` sets one up), every worker writes its own files there and a scrape of any of
them reports them all together.

Labels never carry a tenant, an account, a person or an amount: a route is its template
(/v1/accounts/{account_id}), a refusal its reason's family (tenant_rule, never a company's
own rule name), so the number of series stays small and nothing personal leaves."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Seconds: from a cached page to a large statement export.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Seconds: one policy evaluation (about 0.1 ms compiled, a few ms with many grants).
DECISION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)

HTTP_REQUESTS = Histogram(
    "mandate_http_request_duration_seconds",
    "HTTP requests: how long each took, by method, route template and status.",
    ("method", "route", "status"),
    buckets=HTTP_BUCKETS,
)
DECISIONS = Counter(
    "mandate_decisions_total",
    "Policy decisions, by action, decision (allow or deny) and reason (none when allowed).",
    ("action", "decision", "reason"),
)
DECISION_SECONDS = Histogram(
    "mandate_decision_evaluation_seconds",
    "How long one policy evaluation took.",
    buckets=DECISION_BUCKETS,
)
MONEY_MOVEMENTS = Counter(
    "mandate_money_movements_total",
    "Committed requests that posted a transfer, by action (transfer.create, deposit.create, "
    "withdrawal.create, payment.create, payment.approve ...).",
    ("action",),
)
PAYMENT_STEPS = Counter(
    "mandate_payment_steps_total",
    "Committed steps of payments (posted, sent, scheduled, expired, failed, cancelled ...).",
    ("step",),
)
IDEMPOTENT_REPLAYS = Counter(
    "mandate_idempotent_replays_total",
    "Requests answered with the stored response of their Idempotency-Key.",
)
CONTENTION_RETRIES = Counter(
    "mandate_contention_retries_total",
    "Units of work run again after a deadlock, serialization failure or busy database.",
)
POOL_IN_USE = Gauge(
    "mandate_db_pool_connections_in_use",
    "Database connections checked out of this process's pool (summed over live workers).",
    multiprocess_mode="livesum",
)
POOL_OVERFLOW = Gauge(
    "mandate_db_pool_overflow",
    "Connections open beyond the pool's size (negative: idle room left in the pool).",
    multiprocess_mode="livesum",
)
POLICY_VERSION = Gauge(
    "mandate_policy_version_info",
    "The policy version in force for companies on the default (its hash, as decisions log "
    "it): 1 in each worker running it, summed over live workers, so a rollout shows as two "
    "versions side by side; 0 once no worker runs it.",
    ("version",),
    multiprocess_mode="livesum",
)


def policy_version_in_force(version: str, previous: str | None) -> None:
    """This process switched its default engine (core.policy.engine.install)."""
    if previous is not None and previous != version:
        POLICY_VERSION.labels(previous).set(0)
    POLICY_VERSION.labels(version).set(1)
