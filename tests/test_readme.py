"""The README's recipes run as written: the commands are read out of README.md and run with
bash against a live server holding the demo bank, so the README cannot drift."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import select

from core import demo, policy_commands
from core.audit import offline
from core.clock import SystemClock
from core.models.iam import User
from core.models.ledger import Account
from core.models.payments import Payment
from core.policy import engine as policy_engine
from core.policy import registry
from core.settings import REPO_ROOT
from tests.factories import bearer
from tests.ledger_checks import assert_ledger_consistent
from tests.statement_files import read_camt053
from tests.tenant_policy_world import FRIDAY

README = REPO_ROOT / "README.md"
RECIPE = "### Give someone a limited payer grant"
PAYMENTS = "## Payments under dual control"
POLICY_VERSIONS = "### Tighten the bookkeeper's rights"
STATEMENT = "### Download last month's camt.053"
PAYMENT_FILES = "## Payment files (pain.001)"
TWO_FACTOR = "## Two-factor sign-in and step-up"
API_CLIENTS = "## API clients (OAuth 2.0)"


def fenced_blocks(heading: str) -> list[tuple[str, str]]:
    """(language, text) of each fenced block in the section under `heading`."""
    text = README.read_text()
    start = text.index(heading + "\n")
    following = re.search(r"^#{2,3} ", text[start + len(heading) :], flags=re.M)
    end = start + len(heading) + following.start() if following else len(text)
    return re.findall(r"^```(\w*)\n(.*?)^```$", text[start:end], flags=re.M | re.S)


def test_the_payer_grant_recipe_runs_as_written(db, app, clock, live_server):  # type: ignore[no-untyped-def]
    with db.unit_of_work() as session:
        assert demo.seed(session, app.state.services.passwords, clock)
    (language, script), (_, printed), *_ = fenced_blocks(RECIPE)
    assert language == "sh"
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={**os.environ, "MANDATE": live_server.url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("grant ") and " for Payer " in lines[0]
    assert "'per_transfer': 100000" in lines[0] and "'time_zone': 'Europe/Berlin'" in lines[0]
    # What the README says it prints is what it prints.
    assert lines[1:3] == printed.splitlines()
    # The test clock is a Wednesday, 10:00 in Berlin: inside the window.
    operating = next(line for line in lines[3:] if line.startswith("Acme Operating: "))
    assert "'transfer.create': True" in operating

    # And the grant is there, as the API shows it.
    with db.unit_of_work(write=False) as session:
        admin = session.scalar(select(User).where(User.username == "acme-admin"))
        dana = session.scalar(select(User).where(User.username == "dana"))
    assert admin is not None and dana is not None
    grants = httpx.get(
        f"{live_server.url}/v1/grants",
        params={"user_id": dana.id},
        headers=bearer(app, admin, clock),
    ).json()["items"]
    [grant] = grants
    assert grant["limits"] == {
        "currency": "EUR",
        "per_transfer": 100000,
        "daily": 500000,
        "monthly": None,
    }
    assert grant["window"]["days"] == ["mon", "tue", "wed", "thu", "fri"]


def run_recipe(
    script: str, url: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={**os.environ, **(env or {}), "MANDATE": url},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_payments_recipe_runs_as_written(db, app, clock, live_server):  # type: ignore[no-untyped-def]
    # The recipe pays a beneficiary the demo seeds, listed by GET /v1/beneficiaries.
    with db.unit_of_work() as session:
        assert demo.seed(session, app.state.services.passwords, clock)
    (language, script), (_, printed), *_ = fenced_blocks(PAYMENTS)
    assert language == "sh"
    result = run_recipe(script, live_server.url)
    assert result.returncode == 0, result.stderr
    lines, said = result.stdout.splitlines(), printed.splitlines()
    assert lines[:3] == said[:3]
    assert lines[3].startswith("payment: posted by transfer ") and len(lines) == len(said)


def test_the_payment_files_recipe_runs_as_written(db, app, clock, live_server):  # type: ignore[no-untyped-def]
    # The demo payer uploads a payroll file sepaxml wrote; the two demo approvers approve it.
    with db.unit_of_work() as session:
        assert demo.seed(session, app.state.services.passwords, clock)
    (language, script), (_, printed), *_ = fenced_blocks(PAYMENT_FILES)
    assert language == "sh"
    result = run_recipe(script, live_server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == printed.splitlines()
    with db.unit_of_work(write=False) as session:
        assert_ledger_consistent(session)


def test_the_readme_names_the_port_setting() -> None:
    text = README.read_text()
    assert "MANDATE_PORT" in text.split("## Console")[0]  # in "Run it", next to port 8000


def test_make_run_says_what_it_is_doing_before_installing(tmp_path: Path) -> None:
    planned = subprocess.run(
        ["make", "-n", "run", f"VENV={tmp_path / 'venv'}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    creating = next(i for i, line in enumerate(planned) if " -m venv " in line)
    said = [line for line in planned[:creating] if line.startswith("echo ")]
    assert said and "about a minute" in said[-1] and "installing" in said[-1]


def test_the_policy_versions_recipe_runs_as_written(db, app, clock, live_server):  # type: ignore[no-untyped-def]
    # As `make run` leaves it: the bundled files are version 1, in force; the demo seeded.
    with db.unit_of_work() as session:
        assert policy_commands.record_bundled(session, REPO_ROOT / "policies").outcome == "first"
        assert demo.seed(session, app.state.services.passwords, clock)
    watcher = app.state.policy_watcher
    watcher.start()  # what a served process runs (the tests' apps run none by default)
    try:
        (language, script), (_, printed), *_ = fenced_blocks(POLICY_VERSIONS)
        assert language == "sh"
        result = run_recipe(script, live_server.url)
    finally:
        watcher.stop()
        policy_engine.ensure_loaded(REPO_ROOT / "policies")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == printed.splitlines()


def test_the_statement_recipe_downloads_a_valid_camt053(db, app, clock, live_server, tmp_path):  # type: ignore[no-untyped-def]
    with db.unit_of_work() as session:
        assert demo.seed(session, app.state.services.passwords, clock)
    (language, script), (_, printed), *_ = fenced_blocks(STATEMENT)
    assert language == "sh"
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={**os.environ, "MANDATE": live_server.url},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == printed.splitlines()
    [saved] = tmp_path.glob("acme-operating-*.xml")
    read = read_camt053(saved.read_bytes())
    with db.unit_of_work(write=False) as session:
        operating = session.scalar(select(Account).where(Account.name == "Acme Operating"))
    assert operating is not None and read["iban"] == operating.iban


ONE_CUSTOMER = "## Changing the rules for one customer"


def test_the_one_customer_recipe_runs_as_written(db, app, clock, live_server):  # type: ignore[no-untyped-def]
    # A Friday, 10:00 in Berlin: the day Acme's rule speaks. As `make run` leaves it: the
    # bundled files are version 1, in force; the demo seeded.
    clock.at = FRIDAY
    with db.unit_of_work() as session:
        assert policy_commands.record_bundled(session, REPO_ROOT / "policies").outcome == "first"
        assert demo.seed(session, app.state.services.passwords, clock)
    watcher = app.state.policy_watcher
    watcher.sync()  # the serial /healthz names, before the recipe reads it
    watcher.start()
    try:
        (language, script), (_, printed), *_ = fenced_blocks(ONE_CUSTOMER)
        assert language == "sh"
        result = run_recipe(script, live_server.url)
    finally:
        watcher.stop()
        registry.REGISTRY.clear()
        policy_engine.ensure_loaded(REPO_ROOT / "policies")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == printed.splitlines()


def test_the_two_factor_recipe_runs_as_written(db, app, live_server):  # type: ignore[no-untyped-def]
    """The recipe computes its codes as an authenticator app does, from the time of day: the
    server decides on the same clock (the machine's, as make run's does)."""
    services = app.state.services
    fixed, services.clock = services.clock, SystemClock()
    try:
        with db.unit_of_work() as session:
            assert demo.seed(session, services.passwords, services.clock)
        (language, script), (_, printed), *_ = fenced_blocks(TWO_FACTOR)
        assert language == "sh"
        # From the checkout: the recipe plays the authenticator app with .venv's pyotp.
        result = run_recipe(script, live_server.url, cwd=REPO_ROOT)
    finally:
        services.clock = fixed
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == printed.splitlines()


EVIDENCE = "### Verify, checkpoint, export and check the bundle"


def test_the_evidence_recipe_runs_as_written(db, app, clock, live_server, settings, tmp_path):  # type: ignore[no-untyped-def]
    # Today, as `make run` would: the recipe exports the last 30 days by the machine's date.
    clock.at = dt.datetime.now(dt.UTC)
    with db.unit_of_work() as session:
        assert demo.seed(session, app.state.services.passwords, clock)
    (language, script), (_, printed) = fenced_blocks(EVIDENCE)
    assert language == "sh"
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={
            **os.environ,
            "MANDATE": live_server.url,
            # The `mandate` command of this checkout, on the server's database and keys.
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "MANDATE_DATABASE_URL": db.url,
            "MANDATE_TOKEN_KEY_PATH": str(settings.token_key_path),
            "MANDATE_AUDIT_KEY_PATH": str(settings.audit_key_path),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == printed.splitlines()
    report = offline.verify_bundle(str(tmp_path / "evidence.zip"))
    assert report.ok and report.records > 0 and report.covered, report.render()


AUTHZEN = "## Decisions for other services (AuthZEN)"


def test_the_decisions_recipe_runs_as_written(db, app, clock, live_server):  # type: ignore[no-untyped-def]
    """Acme's decision service asks about a payment the payer prepared, the payer's limits, who
    may approve, what the bookkeeper reads, and another company's person: every answer as
    printed."""
    with db.unit_of_work() as session:
        assert demo.seed(session, app.state.services.passwords, clock)
    (language, script), (_, printed), *_ = fenced_blocks(AUTHZEN)
    assert language == "sh"
    result = run_recipe(script, live_server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == printed.splitlines()


def test_the_api_client_recipe_runs_as_written(db, app, live_server):  # type: ignore[no-untyped-def]
    """The recipe's client signs its assertion on the time of day (examples/api_client.py):
    the server checks its exp on the same clock (the machine's, as make run's does)."""
    services = app.state.services
    fixed, services.clock = services.clock, SystemClock()
    try:
        with db.unit_of_work() as session:
            assert demo.seed(session, services.passwords, services.clock)
        (language, script), (_, printed), *_ = fenced_blocks(API_CLIENTS)
        assert language == "sh"
        # From the checkout: the client's side is examples/api_client.py, with .venv's Python.
        result = run_recipe(script, live_server.url, cwd=REPO_ROOT)
    finally:
        services.clock = fixed
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == printed.splitlines()
    # The payment is the client's: it waits for its approval, its amount held.
    with db.unit_of_work(write=False) as session:
        erp = session.scalar(select(User).where(User.display_name == "Acme ERP"))
        assert erp is not None and erp.kind == "client"
        paid = session.scalars(select(Payment).where(Payment.initiated_by_id == erp.id)).all()
        assert [(p.amount, p.status) for p in paid] == [(1_200_000, "pending_approval")]
        assert_ledger_consistent(session)


OPERATIONS = "## Operating Mandate"


def test_the_maintenance_recipe_runs_as_written(db, app, settings, live_server):  # type: ignore[no-untyped-def]
    """The recipe's switch (`mandate maintenance start`) runs on the machine's clock, as
    make run's server does: the server decides on it too, and reads the windows on every
    request (its poll of at most 5 s, made 0 so the recipe needs no sleeps)."""
    services = app.state.services
    fixed, services.clock = services.clock, SystemClock()
    services.maintenance.ttl_seconds = 0
    try:
        with db.unit_of_work() as session:
            assert demo.seed(session, services.passwords, services.clock)
        (language, script), (_, printed), *_ = fenced_blocks(OPERATIONS)
        assert language == "sh"
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env={
                **os.environ,
                "MANDATE": live_server.url,
                "MANDATE_DATABASE_URL": settings.database_url,
            },
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        services.clock = fixed
    assert result.returncode == 0, result.stderr
    said = printed.splitlines()
    lines = result.stdout.splitlines()
    assert len(lines) == len(said), result.stdout
    for line, expected in zip(lines, said, strict=True):
        pattern = re.escape(expected).replace("…", ".+")
        assert re.fullmatch(pattern, line), (line, expected)


# Every recipe, in the order the README gives them.
IN_ORDER = (
    RECIPE,
    PAYMENTS,
    STATEMENT,
    PAYMENT_FILES,
    TWO_FACTOR,
    API_CLIENTS,
    POLICY_VERSIONS,
    ONE_CUSTOMER,
    EVIDENCE,
    AUTHZEN,
    OPERATIONS,
)


def test_the_recipes_run_one_after_another_on_one_make_run(
    db, app, live_server, settings, tmp_path
):  # type: ignore[no-untyped-def]
    """A new user follows the README from the top on one `make run`: each recipe must work
    after the ones before it (one day's limits, the cases a version in force replaced), on the
    machine's clock as the server's. Each recipe's own output is held to the README by the
    tests above; here only that it runs."""
    assert [heading for heading in IN_ORDER] == sorted(
        IN_ORDER, key=lambda heading: README.read_text().index(heading + "\n")
    )
    services = app.state.services
    fixed, services.clock = services.clock, SystemClock()
    watcher = app.state.policy_watcher
    try:
        with db.unit_of_work() as session:
            assert (
                policy_commands.record_bundled(session, REPO_ROOT / "policies").outcome == "first"
            )
            assert demo.seed(session, services.passwords, services.clock)
        watcher.sync()
        watcher.start()
        # The `mandate` command of this checkout, on the server's database and keys.
        commands_env = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "MANDATE_DATABASE_URL": db.url,
            "MANDATE_TOKEN_KEY_PATH": str(settings.token_key_path),
            "MANDATE_AUDIT_KEY_PATH": str(settings.audit_key_path),
        }
        for heading in IN_ORDER:
            (language, script), *_ = fenced_blocks(heading)
            assert language == "sh"
            # From the checkout (recipes run .venv's Python), but the statement is saved apart.
            cwd = tmp_path if heading in (STATEMENT, EVIDENCE) else REPO_ROOT
            result = run_recipe(script, live_server.url, cwd=cwd, env=commands_env)
            assert result.returncode == 0, (heading, result.stdout, result.stderr)
            assert "Traceback" not in result.stderr, (heading, result.stderr)
    finally:
        watcher.stop()
        services.clock = fixed
        registry.REGISTRY.clear()
        policy_engine.ensure_loaded(REPO_ROOT / "policies")
    with db.unit_of_work(write=False) as session:
        assert_ledger_consistent(session)
