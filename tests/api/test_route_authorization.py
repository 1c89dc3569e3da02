"""Every route asks the policy. A new route that does not fails here."""

from __future__ import annotations

from fastapi.routing import APIRoute

from api.deps import current_context, enrolling_context
from tests.api.routes import (
    PUBLIC_ROUTES,
    api_routes,
    bodies,
    calls,
    content_headers,
    contents,
    forms,
    ids_of,
    queries,
)
from tests.batches_world import with_pending_batch
from tests.factories import bearer
from tests.governance_world import with_change_request
from tests.oauth_world import with_api_client
from tests.operations_world import with_maintenance_window
from tests.payments_world import with_pending_payment
from tests.second_factor_world import with_authenticators

# The routes a sign-in for enrolment only may use (the bank requires a second factor the
# person has not set up): who they are, and setting one up. No other.
ENROLLING_ROUTES = {
    ("GET", "/v1/me"),
    ("GET", "/v1/me/totp"),
    ("POST", "/v1/me/totp"),
    ("POST", "/v1/me/totp/confirm"),
    ("DELETE", "/v1/me/totp"),
}


def _depends_on(route: APIRoute, dependency) -> bool:  # type: ignore[no-untyped-def]
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if dep.call is dependency:
            return True
        stack.extend(dep.dependencies)
    return False


def test_every_non_public_route_needs_a_signed_in_caller(app):
    routes = api_routes(app)
    assert len(routes) > 10
    for entry in routes:
        for method in entry.methods - {"HEAD", "OPTIONS"}:
            if (method, entry.path) in PUBLIC_ROUTES:
                continue
            enrolling = (method, entry.path) in ENROLLING_ROUTES
            caller = enrolling_context if enrolling else current_context
            assert _depends_on(entry.route, caller), f"{method} {entry.path} skips sign-in"
            other = current_context if enrolling else enrolling_context
            assert not _depends_on(entry.route, other), f"{method} {entry.path}"


def test_every_route_asks_the_policy(client, app, db, world, clock):
    # Payees, approvers and a payment waiting for approval: every payment route has its target.
    payments = with_pending_payment(db, app.state.services.passwords, world, clock)
    with_pending_batch(db, app.state.services.passwords, world, clock, payments)
    with_change_request(db, app.state.services.passwords, world, clock)
    with_api_client(db, world, clock)
    with_maintenance_window(db, world, clock)
    # An authenticator for everyone, so that removing it (with the body's code) gets that far.
    with_authenticators(db, app.state.services.box, world, clock, confirmed=True)
    seen: list[tuple[str, str, int]] = []

    def observe(request, ctx) -> None:  # type: ignore[no-untyped-def]
        route = request.scope.get("route")
        seen.append((request.method, getattr(route, "path", ""), ctx.policy_queries))

    app.state.services.observers.append(observe)
    ids = ids_of(world, "acme")
    valid = bodies(world, "acme", clock)
    raw = contents(world, "acme")
    query = queries(world, "acme")
    form = forms(world, "acme")
    unasked = []
    for username in ("manager", "acme-admin", "acme-payer"):
        headers = bearer(app, world.users[username], clock)
        for n, call in enumerate(calls(app, ids)):
            if (call.method, call.template) in PUBLIC_ROUTES:
                continue
            seen.clear()
            response = client.request(
                call.method,
                call.path,
                headers={
                    **headers,
                    **content_headers((call.method, call.template)),
                    "Idempotency-Key": f"walk-{username}-{n}",
                },
                json=valid.get((call.method, call.template)),
                content=raw.get((call.method, call.template)),
                params=query.get((call.method, call.template)),
                data=form.get((call.method, call.template)),
            )
            assert response.status_code != 422 or response.json()["error"] != "invalid_request", (
                f"the test sent an invalid body to {call}: {response.text}"
            )
            assert seen, call
            if seen[-1][2] == 0:
                unasked.append((username, call.method, call.template, response.status_code))
    assert not unasked, f"routes answered without asking the policy: {unasked}"
