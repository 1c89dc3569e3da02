"""Every route of the app, with path parameters filled in from a world."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount

from tests.batches_world import supplier_file
from tests.factories import PASSWORD
from tests.policy_versions_world import bundled_files
from tests.second_factor_world import code

# Routes anyone may call: health checks, signing in, and the API's own documentation.
PUBLIC_ROUTES = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/v1/status"),
    ("POST", "/v1/auth/token"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    # What other services read to verify Mandate's tokens (RFC 8414, RFC 7517).
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/oauth-authorization-server"),
    # AuthZEN metadata: where the decision endpoints are, for any service to discover.
    ("GET", "/.well-known/authzen-configuration"),
}


@dataclass(frozen=True)
class RouteCall:
    method: str
    template: str
    path: str


@dataclass(frozen=True)
class AppRoute:
    path: str
    methods: frozenset[str]
    route: APIRoute


def api_routes(app) -> list[AppRoute]:  # type: ignore[no-untyped-def]
    """Every API route with its full path (FastAPI keeps included routers unflattened)."""
    out = []
    for context in iter_route_contexts(app.routes):
        original = context.original_route
        if isinstance(original, APIRoute) and context.path:
            out.append(AppRoute(context.path, frozenset(context.methods or ()), original))
    return out


def served_routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, full path) of everything the app serves: API routes, the documentation and
    plain routes too; a mount (static files, a sub-application) as ("MOUNT", its path)."""
    out = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, Mount):
            out.append(("MOUNT", context.path))
            continue
        for method in context.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                out.append((method, context.path))
    return sorted(set(out))


def fill(template: str, ids: dict[str, int | str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in ids:
            raise KeyError(
                f"no value for path parameter {name!r} in {template}: add it to the test"
            )
        return str(ids[name])

    return re.sub(r"\{(\w+)\}", value, template)


def calls(app, ids: dict[str, int | str]) -> list[RouteCall]:  # type: ignore[no-untyped-def]
    out = []
    for route in api_routes(app):
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            out.append(RouteCall(method, route.path, fill(route.path, ids)))
    return out


def ids_of(world, tenant: str = "acme") -> dict[str, int | str]:  # type: ignore[no-untyped-def]
    """Path parameter values pointing at one tenant's resources."""
    prefix = "acme" if tenant == "acme" else "globex"
    return {
        "account_id": world.account_id(
            f"{prefix}-operating" if tenant == "acme" else "globex-main"
        ),
        "tenant_id": world.tenants[tenant].id,
        "user_id": world.user_id(f"{prefix}-payer"),
        "grant_id": world.grants[f"{prefix}-payer"].id,
        "role_id": world.grants[f"{prefix}-payer"].role_id,
        "transfer_id": world.transfer_ids[tenant],
        # acme's awaits approval (added by the payer): acme-admin may approve it.
        "beneficiary_id": world.beneficiary_id(
            "acme-new-supplier" if tenant == "acme" else "globex-supplier"
        ),
        "currency": "EUR",
        # Policy versions are the deployment's, not a tenant's: the first one stored (a world
        # with versions, tests/policy_versions_world.py, names its own).
        "version_id": 1,
        # Decisions are the bank's log: one the world logged (tests/factories.py:
        # with_logged_decision), else the first id, found by nobody in a world that logged none.
        "decision_id": world.decision_ids.get(tenant, 1),
        # Only in a world with one (tests/batches_world.py: with_pending_batch).
        **({"batch_id": world.batch_ids[tenant]} if tenant in world.batch_ids else {}),
        # Only in a world with payments (tests/payments_world.py: with_pending_payment).
        **({"payment_id": world.payment_ids[tenant]} if tenant in world.payment_ids else {}),
        # Only in a world with one (tests/oauth_world.py: with_api_client).
        **(
            {"api_client_id": world.api_client_ids[tenant]}
            if tenant in world.api_client_ids
            else {}
        ),
        # Only in a world with one (tests/operations_world.py: with_maintenance_window).
        **(
            {"window_id": world.maintenance_window_id}
            if world.maintenance_window_id is not None
            else {}
        ),
        # Only in a world with one (tests/governance_world.py: with_change_request).
        **(
            {"change_request_id": world.change_request_ids[tenant]}
            if tenant in world.change_request_ids
            else {}
        ),
    }


def maintenance_window_body(clock=None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A read-only window three weeks ahead: announced, never in force during a test."""
    now = clock.now() if clock is not None else dt.datetime.now(dt.UTC)
    start = now + dt.timedelta(days=21)
    return {
        "starts_at": start.isoformat(),
        "ends_at": (start + dt.timedelta(hours=1)).isoformat(),
        "mode": "read_only",
        "message": "Planned database upgrade.",
    }


def bodies(world, tenant: str = "acme", clock=None) -> dict[tuple[str, str], dict]:  # type: ignore[no-untyped-def]
    """A valid body for every route that takes one, aimed at one tenant's resources; with the
    world's clock, the code an authenticator with the test secret shows (tests/
    second_factor_world.py: with_authenticators), else one no authenticator shows now."""
    ids = ids_of(world, tenant)
    prefix = "acme" if tenant == "acme" else "globex"
    second = world.account_id("acme-payroll") if tenant == "acme" else ids["account_id"]
    bundled_policy = bundled_files()
    return {
        ("POST", "/v1/transfers"): {
            "from_account_id": ids["account_id"],
            "to_account_id": second,
            "amount": 100,
            "currency": "EUR",
        },
        ("POST", "/v1/deposits"): {
            "account_id": ids["account_id"],
            "amount": 100,
            "currency": "EUR",
        },
        ("POST", "/v1/withdrawals"): {
            "account_id": ids["account_id"],
            "amount": 100,
            "currency": "EUR",
        },
        ("POST", "/v1/accounts"): {"tenant_id": ids["tenant_id"], "name": "New", "currency": "EUR"},
        ("POST", "/v1/maintenance-windows"): maintenance_window_body(clock),
        ("PATCH", "/v1/accounts/{account_id}"): {"name": "Renamed"},
        ("POST", "/v1/api-clients"): {
            "name": f"New {tenant} client",
            "auth_method": "client_secret_basic",
            "tenant_id": ids["tenant_id"],
        },
        ("POST", "/v1/users"): {
            "username": f"new-{tenant}-user",
            "display_name": "New User",
            "password": "a long enough password",
            "tenant_id": ids["tenant_id"],
        },
        ("PATCH", "/v1/users/{user_id}"): {"display_name": "Renamed"},
        ("POST", "/v1/users/{user_id}/password"): {"password": "another long password"},
        ("POST", "/v1/tenants"): {"name": f"New Customer {tenant}", "timezone": "Europe/Paris"},
        ("PATCH", "/v1/tenants/{tenant_id}"): {
            "beneficiary_approval_required": True,
            "new_beneficiary_hours": 48,
        },
        # An IBAN none of the world's payees has.
        # The bundled policy with a comment of its own: valid, and stored by no world.
        ("POST", "/v1/policy/versions"): {
            "files": {
                **bundled_policy,
                "machinery.polar": bundled_policy["machinery.polar"] + "#\n",
            },
            "note": "a comment",
        },
        ("POST", "/v1/policy/versions/{version_id}/reject"): {"reason": "not now"},
        # Pinned to the first version stored, with no extension.
        ("PUT", "/v1/tenants/{tenant_id}/policy"): {"version_id": 1, "extension_id": None},
        ("POST", "/v1/policy/versions/{version_id}/impact"): {},
        ("POST", "/v1/beneficiaries"): {
            "name": "Fournisseur SA",
            "iban": "FR14 2004 1010 0505 0001 3M02 606",
            "bic": "BNPAFRPP",
            "reference_template": "Invoice ",
        },
        ("PATCH", "/v1/beneficiaries/{beneficiary_id}"): {"reference_template": "Order "},
        ("POST", "/v1/roles"): {
            "name": "Payroll clerk",
            "permissions": ["account.read", "transfer.create"],
            "tenant_id": ids["tenant_id"],
        },
        ("PATCH", "/v1/roles/{role_id}"): {"description": "changed"},
        ("POST", "/v1/grants"): {
            "user_id": world.user_id(f"{prefix}-bookkeeper")
            if tenant == "acme"
            else ids["user_id"],
            "role_id": ids["role_id"],
        },
        ("PATCH", "/v1/grants/{grant_id}"): {
            "limits": {"currency": "EUR", "per_transfer": 100_00, "daily": 500_00}
        },
        ("PUT", "/v1/bank/caps/{currency}"): {"per_transfer": 1_000_000_00},
        ("PUT", "/v1/tenants/{tenant_id}/caps/{currency}"): {"daily": 1_000_000_00},
        ("POST", "/v1/me/totp/confirm"): {"code": code(clock) if clock else "000000"},
        ("DELETE", "/v1/me/totp"): {"code": code(clock) if clock else "000000"},
        **_payment_bodies(world, tenant, ids),
        **_decision_bodies(prefix, ids),
    }


def _decision_bodies(prefix: str, ids: dict[str, int | str]) -> dict[tuple[str, str], dict]:  # type: ignore[type-arg]
    """AuthZEN: may the tenant's payer read the tenant's account; which accounts may they
    read; who may read it."""
    question = {
        "subject": {"type": "user", "id": f"{prefix}-payer"},
        "action": {"name": "account.read"},
        "resource": {"type": "account", "id": str(ids["account_id"])},
    }
    return {
        ("POST", "/access/v1/evaluation"): question,
        ("POST", "/access/v1/evaluations"): {**question, "evaluations": [{}]},
        ("POST", "/access/v1/search/resource"): {**question, "resource": {"type": "account"}},
        ("POST", "/access/v1/search/subject"): {**question, "subject": {"type": "user"}},
    }


def _payment_bodies(world, tenant: str, ids: dict[str, int | str]) -> dict[tuple[str, str], dict]:  # type: ignore[no-untyped-def, type-arg]
    """Payments: 1.00 EUR to the tenant's active supplier, paid at once; a reason to end the
    waiting payment (tests/payments_world.py); one approval rule."""
    rules = {"rules": [{"currency": "EUR", "min_amount": 1_000_000_00, "approvals": 2}]}
    bodies: dict[tuple[str, str], dict] = {  # type: ignore[type-arg]
        ("POST", "/v1/payments/{payment_id}/reject"): {"reason": "not ours"},
        ("POST", "/v1/payments/{payment_id}/cancel"): {"reason": "sent twice"},
        ("POST", "/v1/payment-batches/{batch_id}/reject"): {"reason": "not ours"},
        ("POST", "/v1/payment-batches/{batch_id}/cancel"): {"reason": "sent twice"},
        ("PUT", "/v1/approval-rules"): rules,
        ("POST", "/v1/change-requests/{change_request_id}/reject"): {"reason": "not now"},
        ("PATCH", "/v1/bank/settings"): {"change_request_hours": 48},
        ("PUT", "/v1/bank/approval-rules"): rules,
    }
    payment = {
        "account_id": ids["account_id"],
        "beneficiary_id": world.beneficiary_id(f"{tenant}-supplier"),
        "amount": 100,
        "currency": "EUR",
    }
    bodies[("POST", "/v1/payments")] = payment
    bodies[("POST", "/v1/payment-previews")] = payment
    return bodies


def contents(world, tenant: str = "acme") -> dict[tuple[str, str], bytes]:  # type: ignore[no-untyped-def]
    """Raw bodies, per route: a payment file (pain.001) paying Acme's supplier 1.00 EUR from
    acme-operating, a new MsgId each time (tests/batches_world.py)."""
    return {("POST", "/v1/payment-batches"): supplier_file(world)}


# How each raw body is sent (a payment file not sent as XML is 415).
CONTENT_TYPES = {("POST", "/v1/payment-batches"): "application/xml"}


def content_headers(route: tuple[str, str]) -> dict[str, str]:
    """The Content-Type header of a route's raw body (none for other routes)."""
    return {"Content-Type": CONTENT_TYPES[route]} if route in CONTENT_TYPES else {}


def forms(world, tenant: str = "acme") -> dict[tuple[str, str], dict[str, str]]:  # type: ignore[no-untyped-def]
    """Form bodies, per route: signing in as the tenant's payer."""
    prefix = "acme" if tenant == "acme" else "globex"
    return {
        ("POST", "/v1/auth/token"): {"username": f"{prefix}-payer", "password": PASSWORD},
        # A token that is no token: introspection answers it inactive, revocation changes nothing.
        ("POST", "/v1/auth/introspect"): {"token": "not-a-token"},
        ("POST", "/v1/auth/revoke"): {"token": "not-a-token"},
    }


def queries(world, tenant: str = "acme") -> dict[tuple[str, str], dict]:  # type: ignore[no-untyped-def]
    """Required query parameters, per route."""
    ids = ids_of(world, tenant)
    return {
        ("GET", "/v1/authz/explain"): {
            "user": ids["user_id"],
            "action": "transfer.create",
            "account": ids["account_id"],
            "amount": 100,
        },
        # The company's rules, named: bank staff must say which company's.
        ("GET", "/v1/approval-rules"): {"tenant_id": ids["tenant_id"]},
        # A statement export covers a period of days (format: csv unless asked).
        ("GET", "/v1/accounts/{account_id}/statements"): {"from": "2026-11-01", "to": "2026-11-30"},
        # The version compared with: the one just before it (the world's approved one is the
        # other; tests/policy_versions_world.py), or itself in a world without versions.
        ("GET", "/v1/policy/versions/{version_id}/diff"): {"against": 1},
        ("PUT", "/v1/approval-rules"): {"tenant_id": ids["tenant_id"]},
        # An audit bundle covers a period of days (UTC).
        ("GET", "/v1/audit/export"): {"from": "2026-11-01", "to": "2026-11-30"},
    }
