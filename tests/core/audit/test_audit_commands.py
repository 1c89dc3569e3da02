"""`mandate audit verify` and `mandate audit checkpoint`: exit codes, the report naming the
broken record, and checkpoints that catch a rewritten end of a chain."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from core.cli import app as cli
from core.settings import get_settings
from tests.core.audit.test_chain import _newest, _tamper, _traffic


@pytest.fixture
def mandate(db, settings, monkeypatch) -> Iterator:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MANDATE_DATABASE_URL", db.url)
    monkeypatch.setenv("MANDATE_TOKEN_KEY_PATH", str(settings.token_key_path))
    monkeypatch.setenv("MANDATE_AUDIT_KEY_PATH", str(settings.audit_key_path))
    get_settings.cache_clear()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, list(args))

    yield run
    get_settings.cache_clear()


def test_verify_passes_then_names_an_altered_transfer(client, app, world, clock, db, mandate):
    _traffic(client, app, world, clock)
    ok = mandate("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "ok: every chain holds" in ok.output
    transfer = _newest(db, "transfers", kind="transfer")
    _tamper(db, "UPDATE transfers SET amount = amount * 10 WHERE id = :t", t=transfer)
    broken = mandate("audit", "verify")
    assert broken.exit_code == 1
    assert f"transfers {transfer}: the record was altered" in broken.output
    acme = world.tenants["acme"].id
    only_globex = mandate("audit", "verify", "--tenant", str(world.tenants["globex"].id))
    assert only_globex.exit_code == 0, only_globex.output
    assert mandate("audit", "verify", "--tenant", str(acme)).exit_code == 1


def test_checkpoints_are_signed_and_catch_a_rewritten_end(client, app, world, clock, db, mandate):
    _traffic(client, app, world, clock)
    signed = mandate("audit", "checkpoint")
    assert signed.exit_code == 0 and "signed 2 checkpoints" in signed.output, signed.output
    again = mandate("audit", "checkpoint")
    assert "signed 0 checkpoints" in again.output  # no chain moved
    assert mandate("audit", "verify").exit_code == 0
    # An intruder removes the newest change and its link, and moves the head back: the chain
    # is consistent again, but the checkpoint still names the removed position.
    change = _newest(db, "changes")
    with db.unit_of_work(write=False) as session:
        link = session.execute(
            text(
                "SELECT chain, seq, prev_hash FROM audit_links WHERE record_table = 'changes'"
                " AND record_id = :c"
            ),
            {"c": change},
        ).one()
    _tamper(
        db, "DELETE FROM audit_links WHERE record_table = 'changes' AND record_id = :c", c=change
    )
    _tamper(db, "DELETE FROM changes WHERE id = :c", c=change)
    _tamper(
        db,
        "UPDATE audit_chains SET seq = :s, head_hash = :h WHERE chain = :c",
        s=link.seq - 1,
        h=link.prev_hash,
        c=link.chain,
    )
    caught = mandate("audit", "verify")
    assert caught.exit_code == 1
    assert "audit_checkpoints" in caught.output and "no longer reaches" in caught.output


def test_a_forged_checkpoint_is_caught(client, app, world, clock, db, mandate):
    _traffic(client, app, world, clock)
    assert mandate("audit", "checkpoint").exit_code == 0
    with db.unit_of_work() as session:
        session.execute(text("UPDATE audit_checkpoints SET signature = :s"), {"s": "00" * 64})
    caught = mandate("audit", "verify")
    assert caught.exit_code == 1 and "signature does not verify" in caught.output
