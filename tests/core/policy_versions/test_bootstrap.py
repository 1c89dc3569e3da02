"""The deploy's bootstrap (core.policy_versions.bootstrap): the first deploy's files become
the version in force; a later release whose files differ proposes them, and the version in
force stays until people approve and activate the proposal; a proposal of the same files that
was rejected is not proposed again and does not keep the server from starting; each start
says what it did."""

from __future__ import annotations

import logging

from sqlalchemy import select
from typer.testing import CliRunner

from core.cli import app as cli
from core.clock import utcnow
from core.context import RequestContext
from core.models.iam import actor_of
from core.models.policy_versions import PolicyVersion
from core.policy.engine import PolicyFile
from core.policy_versions import bootstrap, repository, service
from core.settings import get_settings
from tests.policy_versions_world import bundled_files, tighter_bookkeeper


def _record(db, files):  # type: ignore[no-untyped-def]
    with db.unit_of_work() as session:
        return bootstrap.record_bundled(
            session, [PolicyFile(n, t) for n, t in files.items()], now=utcnow()
        )


def _statuses(db) -> list[tuple[int, str, str]]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as session:
        rows = session.scalars(select(PolicyVersion).order_by(PolicyVersion.id))
        return [(r.id, r.origin, r.status) for r in rows]


def _active_id(db) -> int | None:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as session:
        pointer = repository.active_pointer(session)
        return pointer.version_id if pointer else None


def test_the_first_deploy_puts_its_files_in_force_and_a_restart_changes_nothing(db):
    first = _record(db, bundled_files())
    assert first.outcome == "first" and first.in_force
    assert _statuses(db) == [(first.version_id, "deploy", "active")]
    again = _record(db, bundled_files())
    assert again.outcome == "in_force" and again.version_id == first.version_id
    assert "is in force" in again.sentence()
    assert _statuses(db) == [(first.version_id, "deploy", "active")]


def test_a_release_with_other_files_proposes_them_and_the_version_in_force_stays(db, caplog):
    first = _record(db, bundled_files())
    with caplog.at_level(logging.INFO, logger="mandate.policy.bootstrap"):
        proposed = _record(db, tighter_bookkeeper()["files"])
    assert proposed.outcome == "proposed" and not proposed.in_force
    assert proposed.active_id == first.version_id == _active_id(db)
    assert _statuses(db) == [
        (first.version_id, "deploy", "active"),
        (proposed.version_id, "deploy", "proposed"),
    ]
    said = proposed.sentence()
    assert f"version {first.version_id} stays in force" in said and "proposed" in said
    assert said in caplog.text and caplog.records[-1].levelno == logging.WARNING
    # Started again before anyone decided: the proposal waits, once.
    waiting = _record(db, tighter_bookkeeper()["files"])
    assert waiting.outcome == "awaiting" and waiting.version_id == proposed.version_id
    assert len(_statuses(db)) == 2 and _active_id(db) == first.version_id


def test_a_rejected_proposal_of_the_release_files_does_not_block_a_start(db, world, clock):
    first = _record(db, bundled_files())
    proposed = _record(db, tighter_bookkeeper()["files"])
    officer = RequestContext(actor=actor_of(world.users["compliance"]), clock=clock)
    with db.unit_of_work() as session:
        service.reject(session, officer, proposed.version_id, "not these rules")
    rejected = _record(db, tighter_bookkeeper()["files"])
    assert rejected.outcome == "rejected" and not rejected.in_force
    assert "rejected" in rejected.sentence() and "not these rules" in rejected.sentence()
    assert _active_id(db) == first.version_id
    assert [s for _, _, s in _statuses(db)] == ["active", "rejected"]


def test_a_retired_copy_of_the_release_files_stays_retired(db, world, clock):
    """Rolled back away from: a restart of that release does not put it back in force."""
    first = _record(db, bundled_files())
    proposed = _record(db, tighter_bookkeeper()["files"])
    officer = RequestContext(actor=actor_of(world.users["compliance"]), clock=clock)
    with db.unit_of_work() as session:
        service.approve(session, officer, proposed.version_id)
        service.activate(session, officer, proposed.version_id)
    with db.unit_of_work() as session:
        service.approve(session, officer, first.version_id)
    manager = RequestContext(actor=actor_of(world.users["manager"]), clock=clock)
    with db.unit_of_work() as session:
        service.activate(session, manager, first.version_id)
    retired = _record(db, tighter_bookkeeper()["files"])
    assert retired.outcome == "retired" and _active_id(db) == first.version_id


def test_the_command_starts_and_says_the_release_files_were_rejected(db, monkeypatch, tmp_path):
    """`mandate db upgrade` (as `mandate serve` does) with release files a reviewer rejected:
    it exits 0, says so, and the version in force stays."""
    first = _record(db, bundled_files())
    release = tighter_bookkeeper()["files"]
    proposed = _record(db, release)
    with db.unit_of_work() as session:
        row = session.get(PolicyVersion, proposed.version_id)
        row.status, row.rejection_reason = "rejected", "not these rules"
    for name, text in release.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("MANDATE_DATABASE_URL", db.url)
    monkeypatch.setenv("MANDATE_POLICY_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"version {proposed.version_id}" in result.output and "rejected" in result.output
    assert f"version {first.version_id} stays in force" in result.output
    assert _active_id(db) == first.version_id
