"""The schema comes from the migrations, matches the models, and the server refuses to start
without it."""

from __future__ import annotations

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel
from typer.testing import CliRunner

from api.app import NotMigrated, create_app
from core.policy import engine as policy_engine
from core.settings import Settings


def test_migrations_build_exactly_the_models(database_url):
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    # Expression indexes (coalesce(tenant_id, 0)) cannot be compared; everything else must match.
    relevant = [
        d for d in diff if not (d[0] in ("add_index", "remove_index") and "unique" in d[1].name)
    ]
    assert relevant == []


def test_health_and_readiness(client):
    health = client.get("/healthz").json()
    # The policy version this process decides under, and which process answered.
    assert health == {
        "status": "ok",
        "policy_version": policy_engine.current().version,
        # No version stored in this database: nothing read yet.
        "policy_serial": None,
        "worker": os.getpid(),
    }
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_the_server_refuses_an_unmigrated_database(tmp_path, key_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", token_key_path=key_path)
    with pytest.raises(NotMigrated, match="mandate db upgrade"):
        create_app(settings)


def test_cli_serve_says_which_command_fixes_an_unmigrated_database(tmp_path, monkeypatch, key_path):
    from core.cli import app as cli
    from core.settings import get_settings

    monkeypatch.setenv("MANDATE_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("MANDATE_TOKEN_KEY_PATH", str(key_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["serve"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "mandate db upgrade" in result.output


def test_cli_upgrade_and_seed_twice_do_not_duplicate(tmp_path, monkeypatch, key_path):
    from sqlalchemy import func, select

    from core.cli import app as cli
    from core.db import Database
    from core.models.iam import User
    from core.models.ledger import Transfer
    from core.models.payments import ApprovalRule
    from core.models.policy_versions import PolicyVersion
    from core.settings import get_settings

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    monkeypatch.setenv("MANDATE_DATABASE_URL", url)
    monkeypatch.setenv("MANDATE_TOKEN_KEY_PATH", str(key_path))
    monkeypatch.setenv("MANDATE_PASSWORD_TIME_COST", "1")
    monkeypatch.setenv("MANDATE_PASSWORD_MEMORY_KIB", "64")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
        first = runner.invoke(cli, ["seed-demo"])
        second = runner.invoke(cli, ["seed-demo"])
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0 and "seeded" in first.output
    assert second.exit_code == 0 and "already present" in second.output
    assert "acme-payer" in second.output
    db = Database(url)
    with db.unit_of_work(write=False) as session:
        # Two approvers, two bank managers, two Acme admins, two compliance officers, Acme's
        # decision service, and Globex's admin and payer.
        assert session.scalar(select(func.count(User.id))) == 13
        # The bundled files, recorded once as the version in force.
        versions = session.scalars(select(PolicyVersion)).all()
        assert [(v.origin, v.status) for v in versions] == [("deploy", "active")]
        assert session.scalar(select(func.count(Transfer.id))) == 3
        # Acme's two tiers and the bank's minimum.
        assert session.scalar(select(func.count(ApprovalRule.id))) == 3
    db.dispose()
