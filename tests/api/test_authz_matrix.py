"""The authorization matrix: every route × every built-in role, no token, an expired token
and another tenant's admin → the status tests/api/authz_matrix.yaml expects. The world has
payments too (tests/payments_world.py): payees, approvers, a payment waiting for approval.

Which world each request meets: the routes that change nothing (GET, and the public ones)
share one world. A route that changes something gets a fresh world per row: the cells
expected to be refused run first (a refusal changes nothing), then the first cell expected
to succeed; every further success gets a fresh world of its own. So no revoke, delete or
password reset in one cell can decide another cell's outcome. After each group, before its
world is put back, the hash chains must verify (`mandate audit verify`'s walk) and the
ledger check pass: every route's traffic, from every caller, leaves evidence that holds.

A fresh world is the first one built, restored: its database copied back whole (SQLite's
backup; on PostgreSQL every table's rows and every sequence's value), which takes a fraction
of building it again through the factories, and gives the same rows and ids."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, inspect, select, text
from sqlalchemy.engine import make_url

from core.audit.verify import verify_database
from core.context import RequestContext
from core.iam import access
from core.iam import service as iam
from core.iam.schemas import RoleCreate
from core.models.iam import User, actor_of
from tests.api.routes import (
    PUBLIC_ROUTES,
    bodies,
    content_headers,
    contents,
    fill,
    forms,
    ids_of,
    queries,
    served_routes,
)
from tests.authzen_world import with_decision_services
from tests.batches_world import with_pending_batch
from tests.factories import World, bearer, build_world, with_logged_decision
from tests.governance_world import with_change_request
from tests.ledger_checks import assert_ledger_consistent
from tests.oauth_world import with_api_client
from tests.operations_world import with_maintenance_window
from tests.payments_world import with_pending_payment
from tests.policy_versions_world import with_policy_in_force, with_policy_versions
from tests.second_factor_world import with_authenticators

TABLE = Path(__file__).with_name("authz_matrix.yaml")
# Routes whose world gives everyone an authenticator: confirmed (True) or only started.
AUTHENTICATOR_ROUTES = {("POST", "/v1/me/totp/confirm"): False, ("DELETE", "/v1/me/totp"): True}
OUTCOMES = {"2xx", "401", "403", "404", "409", "422"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
SERVICE_PATHS = {"/healthz", "/readyz", "/docs", "/openapi.json"}


@dataclass(frozen=True)
class Caller:
    column: str
    username: str | None  # None: no Authorization header at all
    expired: bool = False


CALLERS = (
    Caller("bookkeeper", "acme-bookkeeper"),
    Caller("payer", "acme-payer"),
    Caller("approver", "acme-approver-a"),
    Caller("corporate_admin", "acme-admin"),
    Caller("bank_manager", "manager"),
    Caller("compliance_officer", "compliance"),
    Caller("no_token", None),
    # The most powerful token there is, past its lifetime.
    Caller("expired_token", "manager", expired=True),
    Caller("other_tenant", "globex-admin"),
    Caller("decision_service", "acme-decisions"),
)


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expected: dict[str, str]  # column -> "2xx" or a status

    @property
    def changes_state(self) -> bool:
        return self.method not in SAFE_METHODS and (self.method, self.path) not in PUBLIC_ROUTES


@dataclass(frozen=True)
class Matrix:
    rows: list[Row]
    not_in_matrix: list[str]

    def outside(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.not_in_matrix)


class _UniqueKeys(yaml.SafeLoader):
    """A duplicated row would silently replace the first one: refuse it."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        twice = sorted({str(k) for k in keys if keys.count(k) > 1})
        if twice:
            raise yaml.constructor.ConstructorError(
                None, None, f"rows given twice: {', '.join(twice)}", node.start_mark
            )
        return super().construct_mapping(node, deep=deep)


def load_matrix() -> Matrix:
    data = yaml.load(TABLE.read_text(encoding="utf-8"), Loader=_UniqueKeys)
    columns = [c.column for c in CALLERS]
    assert data["columns"] == columns, f"{TABLE.name}: the columns are {columns}"
    rows, problems = [], []
    for key, cells in data["routes"].items():
        method, _, path = str(key).partition(" ")
        cells = [str(c) for c in cells]
        if method != method.upper() or not path.startswith("/"):
            problems.append(f"{key}: a row is named 'METHOD /path'")
        elif len(cells) != len(columns):
            problems.append(f"{key}: {len(cells)} cells for {len(columns)} columns")
        elif set(cells) - OUTCOMES:
            problems.append(f"{key}: {sorted(set(cells) - OUTCOMES)} not one of {sorted(OUTCOMES)}")
        elif "2xx" not in cells:
            # Someone must be able to use every route; and a row of refusals alone could not
            # tell a wrong id (404 for all) from the policy's answer.
            problems.append(f"{key}: no caller succeeds")
        else:
            rows.append(Row(method, path, dict(zip(columns, cells, strict=True))))
    if problems:
        pytest.fail(f"{TABLE.name}:\n" + "\n".join(problems), pytrace=False)
    return Matrix(rows, [str(p).rstrip("/") for p in data.get("not_in_matrix", [])])


# -- worlds ---------------------------------------------------------------------------------


@dataclass
class Scene:
    """A world, and the ids every request of the matrix aims at: tenant acme's resources."""

    world: World
    ids: dict[str, int | str]
    # Ids some routes aim at instead (activating needs an approved version).
    route_ids: dict[tuple[str, str], dict[str, int | str]]


class Worlds:
    """Fresh worlds in the test's own database: emptied, then built again by the factories."""

    def __init__(
        self, request: pytest.FixtureRequest, backend: str, app: Any, clock: Any, folder: Path
    ) -> None:
        self.services = app.state.services
        self.clock = clock
        self.backend = backend
        self.template = request.getfixturevalue("sqlite_template") if backend == "sqlite" else None
        self.folder = folder
        self._built: tuple[Scene, Any] | None = None  # the first world, and its snapshot

    def fresh(self, row: Row | None = None) -> Scene:
        """A world; for a route about one's authenticator, everyone has one (started, for
        confirming it; set up, for removing it) with the secret the body's code is of."""
        if self._built is None:
            self._empty()
            scene = self._build()
            self._built = (scene, self._snapshot())
        else:
            scene, snapshot = self._built
            self._restore(snapshot)
        authenticators = AUTHENTICATOR_ROUTES.get((row.method, row.path)) if row else None
        if authenticators is not None:
            db, box = self.services.db, self.services.box
            with_authenticators(db, box, scene.world, self.clock, confirmed=authenticators)
        return scene

    def _build(self) -> Scene:
        world = build_world(self.services.db, self.services.passwords, self.clock)
        payments = with_pending_payment(
            self.services.db, self.services.passwords, world, self.clock
        )
        with_pending_batch(self.services.db, self.services.passwords, world, self.clock, payments)
        with_change_request(self.services.db, self.services.passwords, world, self.clock)
        with_api_client(self.services.db, world, self.clock)
        # The bundled files in force (version 1: the bank's default, the version a tenant is
        # pinned to by PUT /v1/tenants/{id}/policy), then the two versions of the world.
        with_policy_in_force(self.services.db, self.clock)
        versions = with_policy_versions(self.services.db, world, self.clock)
        with_logged_decision(self.services.db, world, self.clock)
        with_decision_services(self.services.db, self.services.passwords, world, self.clock)
        with_maintenance_window(self.services.db, world, self.clock)
        ids = {
            **ids_of(world, "acme"),
            "role_id": self._unheld_custom_role(world),
            # A version the bank manager proposed; the approved one for activating it.
            "version_id": versions["proposed"],
        }
        activate = ("POST", "/v1/policy/versions/{version_id}/activate")
        # A person is erased after they left: an acme user their admin deactivated.
        erase = ("POST", "/v1/users/{user_id}/erase")
        return Scene(
            world,
            ids,
            {
                activate: {"version_id": versions["approved"]},
                erase: {"user_id": self._departed(world)},
            },
        )

    def _departed(self, world: World) -> int:
        with self.services.db.unit_of_work() as session:
            user = iam.create_user(
                session,
                self.services.passwords,
                bank_id=world.bank.id,  # type: ignore[arg-type]
                tenant_id=world.tenants["acme"].id,
                username="acme-departed",
                display_name="Acme Departed",
                password="a long enough password",
                now=self.clock.now(),
            )
            user.is_active = False
            session.flush()
            assert user.id is not None
            return user.id

    def _empty(self) -> None:
        if self.template is not None:
            _copy_sqlite(self.template, self._live_file())
            return
        with self.services.db.engine.begin() as conn:
            tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))

    def _live_file(self) -> str:
        live = make_url(self.services.db.url).database
        assert live is not None
        return live

    def _snapshot(self) -> Any:
        """The built world's database: a copy of the file, or (PostgreSQL) every row."""
        if self.template is not None:
            copy = self.folder / "world.db"
            _copy_sqlite(self._live_file(), str(copy))
            return copy
        metadata = MetaData()
        with self.services.db.engine.connect() as conn:
            metadata.reflect(conn)
            tables = [t for t in metadata.sorted_tables if t.name != "alembic_version"]
            rows = {t: [dict(r) for r in conn.execute(select(t)).mappings()] for t in tables}
            sequences = conn.execute(
                text("SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences")
            ).all()
        return rows, sequences

    def _restore(self, snapshot: Any) -> None:
        if self.template is not None:
            _copy_sqlite(str(snapshot), self._live_file())
            return
        rows, sequences = snapshot
        with self.services.db.engine.begin() as conn:
            # The rows as they were, not written anew: no trigger (the trail's, the ledger's
            # append-only guards) and no foreign key check fires while they are put back.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            names = ", ".join(t.name for t in rows)
            conn.execute(text(f"TRUNCATE {names} CASCADE"))
            for table, content in rows.items():
                if content:
                    conn.execute(table.insert(), content)
            for name, value in sequences:
                conn.execute(
                    text("SELECT setval(:name, :value, :called)"),
                    {"name": name, "value": value or 1, "called": value is not None},
                )

    def _unheld_custom_role(self, world: World) -> int:
        """A custom role of acme that nobody holds: the built-in ones refuse every change
        (409 builtin_role), which would hide whether the change was allowed."""
        with self.services.db.unit_of_work() as session:
            admin = session.get(User, world.user_id("acme-admin"))
            assert admin is not None
            ctx = RequestContext(actor=actor_of(admin), clock=self.clock)
            body = RoleCreate(name="Statement reader", permissions=["statement.read"])
            return access.create_role(session, ctx, body).id


def _copy_sqlite(source: str, target: str) -> None:
    """The backup API copies one database file over another, safely beside the app's own
    (idle) connections to it."""
    with (
        closing(sqlite3.connect(source, timeout=30)) as origin,
        closing(sqlite3.connect(target, timeout=30)) as copy,
    ):
        origin.backup(copy)


# -- cells ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    row: Row
    caller: Caller

    @property
    def expected(self) -> str:
        return self.row.expected[self.caller.column]

    @property
    def succeeds(self) -> bool:
        return self.expected == "2xx"


def plan(rows: list[Row]) -> Iterator[list[Cell]]:
    """The cells, grouped by the fresh world each group runs in."""
    yield [Cell(row, c) for row in rows if not row.changes_state for c in CALLERS]
    for row in rows:
        if not row.changes_state:
            continue
        cells = [Cell(row, c) for c in CALLERS]
        refused = [c for c in cells if not c.succeeds]
        succeeding = [c for c in cells if c.succeeds]
        yield refused + succeeding[:1]
        for cell in succeeding[1:]:
            yield [cell]


def send(client: Any, app: Any, clock: Any, scene: Scene, cell: Cell, key: str) -> Any:
    row, caller = cell.row, cell.caller
    route = (row.method, row.path)
    headers = {"Idempotency-Key": key, **content_headers(route)}
    if caller.username is not None:
        headers.update(bearer(app, scene.world.users[caller.username], clock))
    request = {
        "headers": headers,
        "json": bodies(scene.world, "acme", clock).get(route),
        "content": contents(scene.world, "acme").get(route),
        "data": forms(scene.world, "acme").get(route),
        "params": queries(scene.world, "acme").get(route),
    }
    url = fill(row.path, {**scene.ids, **scene.route_ids.get(route, {})})
    if not caller.expired:
        return client.request(row.method, url, **request)
    lifetime = app.state.services.settings.token_lifetime_seconds
    clock.advance(seconds=lifetime + 1)
    try:
        return client.request(row.method, url, **request)
    finally:
        clock.advance(seconds=-(lifetime + 1))


def unexpected(cell: Cell, response: Any) -> str | None:
    """Why the response is not what the table expects; None when it is."""
    status = response.status_code
    if not (200 <= status < 300 if cell.succeeds else status == int(cell.expected)):
        return "status"
    if status < 400:
        return None
    body = _json(response)
    if not (isinstance(body, dict) and isinstance(body.get("error"), str) and "detail" in body):
        return 'not the error shape {"error", "detail"}'
    if cell.caller.expired and status == 401 and body["error"] != "token_expired":
        return "an expired token refused for another reason"
    return None


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def report(mismatches: list[tuple[Cell, Any, str]], total: int) -> str:
    lines = [
        f"{len(mismatches)} unexpected outcomes of {total} ({TABLE.name}):",
        f"  {'route':<48} {'caller':<19} {'expected':<8}  got",
    ]
    for cell, response, why in mismatches:
        body = _json(response)
        got = f"{response.status_code}"
        if isinstance(body, dict) and "error" in body:
            got += f" {body['error']}: {str(body.get('detail', ''))[:70]}"
        elif response.status_code >= 400:
            got += f" {response.text[:70]}"
        if why != "status":
            got += f"  <- {why}"
        lines.append(
            f"  {cell.row.method + ' ' + cell.row.path:<48} {cell.caller.column:<19} "
            f"{cell.expected:<8}  {got}"
        )
    return "\n".join(lines)


# -- the tests ------------------------------------------------------------------------------


def test_the_matrix_has_a_row_for_every_route_and_no_other(app):
    matrix = load_matrix()
    hidden = sorted(
        f"{m} {p}"
        for m, p in served_routes(app)
        if (p.startswith("/v1/") or p in SERVICE_PATHS) and matrix.outside(p)
    )
    assert not hidden, f"not_in_matrix may not take the API out of the matrix: {hidden}"
    served = {r for r in served_routes(app) if not matrix.outside(r[1])}
    named = {(row.method, row.path) for row in matrix.rows}
    without_row = sorted(served - named)
    gone = sorted(named - served)
    problems = [f"  no row for {m} {p}" for m, p in without_row if m != "MOUNT"]
    problems += [
        f"  {p} is mounted: give its routes rows, or add it to not_in_matrix"
        for m, p in without_row
        if m == "MOUNT"
    ]
    problems += [f"  a row for {m} {p}, which the app no longer serves" for m, p in gone]
    if problems:
        pytest.fail(f"{TABLE.name} and the app disagree:\n" + "\n".join(problems), pytrace=False)


def test_every_route_answers_every_caller_as_the_matrix_says(
    request, backend, app, clock, tmp_path
):
    matrix = load_matrix()
    served = set(served_routes(app))
    rows = [row for row in matrix.rows if (row.method, row.path) in served]
    worlds = Worlds(request, backend, app, clock, tmp_path)
    audit_key = app.state.services.audit_key
    mismatches: list[tuple[Cell, Any, str]] = []
    sent = 0
    # A server error is one more outcome for the table, not the end of the run.
    broken: list[str] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        for group in plan(rows):
            scene = worlds.fresh(group[0].row if group[0].row.changes_state else None)
            # The requests come a second after their world was made: a limit lowered by one
            # is then seen to be lowered after the money the world spent under it (the ledger
            # check warns of that; at one instant it could not tell the order).
            clock.advance(seconds=1)
            for cell in group:
                sent += 1
                response = send(client, app, clock, scene, cell, key=f"matrix-{sent}")
                why = unexpected(cell, response)
                if why is not None:
                    mismatches.append((cell, response, why))
            # Whatever each route did, for whoever asked: the trail still verifies and the
            # ledger still balances (every route's traffic, before its world is put back).
            trail = verify_database(app.state.services.db, public_key=audit_key.public_key)
            if not trail.ok:
                broken.append(
                    f"after {group[-1].row.method} {group[-1].row.path}: {trail.render()}"
                )
            with app.state.services.db.unit_of_work(write=False) as session:
                assert_ledger_consistent(session)
            clock.advance(seconds=-1)
    assert sent == len(rows) * len(CALLERS)
    if mismatches:
        pytest.fail(report(mismatches, sent), pytrace=False)
    assert broken == []


def test_bank_caps_out_of_reach_are_not_found_without_naming_a_tenant(client, app, world, clock):
    # The matrix found "tenant None not found": the bank's caps have no tenant to name.
    headers = bearer(app, world.users["acme-admin"], clock)
    for method, path, body in (
        ("GET", "/v1/bank/caps", None),
        ("PUT", "/v1/bank/caps/EUR", {"per_transfer": 100_00}),
    ):
        response = client.request(method, path, headers=headers, json=body)
        assert response.status_code == 404, response.text
        assert response.json() == {"error": "not_found", "detail": "not found"}
