"""The side-by-side diff: pure, no database."""

from __future__ import annotations

from core.policy_versions.diff import CONTEXT_LINES, diff_files


def test_a_changed_line_is_one_row_with_both_sides():
    left = {"a.polar": "one\ntwo\nthree\n"}
    right = {"a.polar": "one\nTWO\nthree\n"}
    (file,) = diff_files(left, right)
    assert (file.status, file.added, file.removed) == ("changed", 1, 1)
    rows = file.hunks[0].rows
    assert [r.kind for r in rows] == ["equal", "changed", "equal"]
    assert (rows[1].left_number, rows[1].left, rows[1].right_number, rows[1].right) == (
        2,
        "two",
        2,
        "TWO",
    )


def test_added_and_removed_lines_leave_the_other_side_empty():
    (file,) = diff_files({"a.polar": "x\ny\n"}, {"a.polar": "x\nnew\ny\n"})
    added = [r for r in file.hunks[0].rows if r.kind == "added"]
    assert len(added) == 1 and added[0].left is None and added[0].right == "new"
    (file,) = diff_files({"a.polar": "x\ngone\ny\n"}, {"a.polar": "x\ny\n"})
    removed = [r for r in file.hunks[0].rows if r.kind == "removed"]
    assert len(removed) == 1 and removed[0].right is None and removed[0].left == "gone"


def test_files_only_on_one_side_and_unchanged_ones():
    files = {
        f.name: f
        for f in diff_files({"a.polar": "a", "b.polar": "b"}, {"a.polar": "a", "c.polar": "c"})
    }
    assert files["a.polar"].status == "unchanged" and files["a.polar"].hunks == []
    assert files["b.polar"].status == "removed" and files["b.polar"].removed == 1
    assert files["c.polar"].status == "added" and files["c.polar"].added == 1


def test_far_apart_changes_are_separate_hunks_with_context():
    lines = [f"line {i}" for i in range(40)]
    changed = list(lines)
    changed[5], changed[30] = "five", "thirty"
    (file,) = diff_files({"a.polar": "\n".join(lines)}, {"a.polar": "\n".join(changed)})
    assert len(file.hunks) == 2
    assert all(len(h.rows) == 2 * CONTEXT_LINES + 1 for h in file.hunks)
