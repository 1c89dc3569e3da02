"""`mandate audit verify` and `mandate audit checkpoint`: exit codes, the report naming the
broken record (on stdout, the progress bar on stderr), and checkpoints that catch a rewritten
end of a chain."""

from __future__ import annotations

from sqlalchemy import text

from core.audit.records import RECORD_TABLES
from core.audit.verify import verify_database
from tests.core.audit.test_chain import _newest, _tamper, _traffic


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
    _tamper(db, "UPDATE audit_checkpoints SET signature = :s", s="00" * 64)
    caught = mandate("audit", "verify")
    assert caught.exit_code == 1 and "signature does not verify" in caught.output


def test_verify_draws_its_progress_on_stderr_and_its_report_on_stdout(
    client, app, world, clock, db, mandate, monkeypatch
):
    _traffic(client, app, world, clock)
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich draws as it does on a terminal
    quiet = mandate("audit", "verify", "--no-progress")
    shown = mandate("audit", "verify", "--progress")
    assert quiet.exit_code == shown.exit_code == 0, shown.output
    assert shown.stdout == quiet.stdout and "ok: every chain holds" in shown.stdout
    assert quiet.stderr == ""
    assert "links" in shown.stderr and "records" in shown.stderr
    assert "chains" not in shown.stderr  # the report is not drawn there
    transfer = _newest(db, "transfers", kind="transfer")
    _tamper(db, "UPDATE transfers SET amount = amount * 10 WHERE id = :t", t=transfer)
    broken = mandate("audit", "verify", "--progress")
    assert broken.exit_code == 1
    assert f"transfers {transfer}: the record was altered" in broken.stdout
    assert "altered" not in broken.stderr


class _Recorded:
    def __init__(self) -> None:
        self.steps: dict[str, list[int]] = {}
        self.totals: dict[str, int] = {}
        self.title: str | None = None

    def begin(self, title: str, total: int) -> None:
        self.title, self.totals[title], self.steps[title] = title, total, []

    def advance(self, steps: int) -> None:
        assert self.title is not None
        self.steps[self.title].append(steps)

    def end(self) -> None:
        self.title = None


def test_verify_counts_every_link_and_record_table_towards_its_progress(
    client, app, world, clock, db
):
    _traffic(client, app, world, clock)
    recorded = _Recorded()
    report = verify_database(db, batch_size=3, progress=recorded)
    assert report.ok, report.render()
    assert recorded.totals["links"] == sum(recorded.steps["links"]) == report.links
    assert len(recorded.steps["links"]) > report.chains  # page by page, not chain by chain
    assert recorded.totals["records"] == sum(recorded.steps["records"]) == len(RECORD_TABLES)
    assert recorded.title is None  # each bar ended
