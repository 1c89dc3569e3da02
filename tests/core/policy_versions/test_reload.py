"""The watcher of one process: it switches to the version in force, keeps its engine when a
stored version cannot be built, and its thread ends when it is stopped."""

from __future__ import annotations

import time

from sqlalchemy import update

from core.clock import utcnow
from core.models.policy_versions import PolicyVersion
from core.policy import engine as policy_engine
from core.policy.engine import PolicyFile
from core.policy_versions import bootstrap, repository
from core.policy_versions.reload import PolicyWatcher
from core.settings import REPO_ROOT
from tests.policy_versions_world import bundled_files, tighter_bookkeeper

BUNDLED = policy_engine.PolicyEngine.version_of(REPO_ROOT / "policies")


def _record(db, files):  # type: ignore[no-untyped-def]
    """Store the files as the deploy does, and put them in force (written directly: the
    watcher only follows the pointer, whoever moved it)."""
    with db.unit_of_work() as session:
        done = bootstrap.record_bundled(
            session, [PolicyFile(n, t) for n, t in files.items()], now=utcnow()
        )
        if not done.in_force:
            session.get(PolicyVersion, done.active_id).status = "retired"
            session.get(PolicyVersion, done.version_id).status = "active"
            pointer = repository.active_pointer(session)
            repository.point_to(session, pointer, done.version_id, utcnow())
        return done.hash


def test_the_watcher_follows_the_pointer_and_survives_a_broken_version(db):
    watcher = PolicyWatcher(db, listen=False)
    try:
        assert watcher.sync() is False  # nothing stored: the bundled files stay
        assert _record(db, bundled_files()) == BUNDLED
        assert watcher.sync() is False  # stored, and the same files: nothing to build
        tighter = _record(db, tighter_bookkeeper()["files"])
        assert tighter is not None and watcher.sync() is True
        assert policy_engine.current().version == tighter
        # A stored version that cannot be built (it never passed validation): logged, and
        # the process keeps deciding under the engine it has.
        broken = bundled_files()
        broken["decide.polar"] += "\nnot polar ((\n"
        hash_ = _record(db, bundled_files() | {"extra.polar": "# fine\n"})
        with db.unit_of_work() as session:
            session.execute(
                update(PolicyVersion).where(PolicyVersion.hash == hash_).values(files=broken)
            )
        assert watcher.sync() is False
        assert policy_engine.current().version == tighter
    finally:
        policy_engine.ensure_loaded(REPO_ROOT / "policies")


def test_the_watcher_thread_ends_when_stopped(db, backend):
    watcher = PolicyWatcher(db, poll_seconds=0.1)
    watcher.start()
    time.sleep(0.3)
    thread = watcher._thread
    assert thread is not None and thread.is_alive()
    watcher.stop()
    assert not thread.is_alive()
