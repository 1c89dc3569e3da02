"""`mandate statement export` as a bookkeeper would run it: the same file as the API's export
(valid camt.053, the statement's entries and balances), its progress on stderr, and another
company's account not found."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from core.cli import app as cli
from core.policy import engine as policy_engine
from core.settings import REPO_ROOT, get_settings
from tests.factories import PASSWORD, bearer
from tests.statement_files import read_camt053, read_csv

PERIOD = ["--from", "2026-11-01", "--to", "2026-11-30"]


@pytest.fixture
def mandate(settings, world, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MANDATE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MANDATE_TOKEN_KEY_PATH", str(settings.token_key_path))
    monkeypatch.setenv("MANDATE_PASSWORD", PASSWORD)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli, ["statement", "export", *args])
    get_settings.cache_clear()
    policy_engine.ensure_loaded(REPO_ROOT / "policies")


def test_the_command_writes_the_apis_file(mandate, client, app, world, clock, tmp_path):  # type: ignore[no-untyped-def]
    account_id = world.account_id("acme-operating")
    target = tmp_path / "statement.xml"
    done = mandate(
        str(account_id), *PERIOD, "-o", str(target), "--progress", "-u", "acme-bookkeeper"
    )
    assert done.exit_code == 0, done.output
    assert f"wrote {target}" in done.output
    read = read_camt053(target.read_bytes())
    api = client.get(
        f"/v1/accounts/{account_id}/statements",
        params={"from": "2026-11-01", "to": "2026-11-30", "format": "camt053"},
        headers=bearer(app, world.users["acme-bookkeeper"], clock),
    )
    assert read["entries"] == read_camt053(api.content)["entries"]
    assert read["closing"] == world.accounts["acme-operating"].balance
    assert [e["amount"] for e in read["entries"]] == [world.accounts["acme-operating"].balance]

    as_csv = mandate(str(account_id), *PERIOD, "-f", "csv", "-u", "acme-bookkeeper")
    assert as_csv.exit_code == 0, as_csv.output
    [row] = read_csv(as_csv.stdout_bytes)
    assert int(row["transfer_id"]) == read["entries"][0]["transfer_id"]


def test_another_companys_account_is_not_found(mandate, world):  # type: ignore[no-untyped-def]
    account_id = world.account_id("acme-operating")
    refused = mandate(str(account_id), *PERIOD, "-u", "globex-admin")
    assert refused.exit_code == 1
    assert "not_found" in refused.output
    bad = mandate(
        str(account_id), "--from", "2026-11-30", "--to", "2026-11-01", "-u", "acme-bookkeeper"
    )
    assert bad.exit_code == 1 and "invalid_period" in bad.output
