"""The difference between two versions, per file, shaped for a side-by-side view: rows of
(left line, right line) with what changed. Pure: no database, no policy."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel

# Lines of unchanged text kept around each change (as `diff -u` does).
CONTEXT_LINES = 3

RowKind = Literal["equal", "changed", "added", "removed"]


class DiffRow(BaseModel):
    """One row of the side-by-side view: the left (older) line and the right (newer) one, by
    line number; a side is empty (None) where the other added or removed a line."""

    kind: RowKind
    left_number: int | None
    left: str | None
    right_number: int | None
    right: str | None


class DiffHunk(BaseModel):
    rows: list[DiffRow]


class FileDiff(BaseModel):
    name: str
    status: Literal["unchanged", "changed", "added", "removed"]
    added: int
    removed: int
    hunks: list[DiffHunk]


def diff_files(left: Mapping[str, str], right: Mapping[str, str]) -> list[FileDiff]:
    """Every file of either side, by name: unchanged, changed (with its hunks), added or
    removed."""
    out = []
    for name in sorted(set(left) | set(right)):
        before, after = left.get(name), right.get(name)
        if before == after:
            out.append(FileDiff(name=name, status="unchanged", added=0, removed=0, hunks=[]))
            continue
        status: Literal["changed", "added", "removed"] = (
            "added" if before is None else "removed" if after is None else "changed"
        )
        hunks = _hunks((before or "").splitlines(), (after or "").splitlines())
        added = sum(r.right is not None and r.kind != "equal" for h in hunks for r in h.rows)
        removed = sum(r.left is not None and r.kind != "equal" for h in hunks for r in h.rows)
        out.append(FileDiff(name=name, status=status, added=added, removed=removed, hunks=hunks))
    return out


def _hunks(left: list[str], right: list[str]) -> list[DiffHunk]:
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    hunks = []
    for group in matcher.get_grouped_opcodes(CONTEXT_LINES):
        rows: list[DiffRow] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows.extend(
                    DiffRow(
                        kind="equal",
                        left_number=i + 1,
                        left=left[i],
                        right_number=j + 1,
                        right=right[j],
                    )
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                )
            elif tag == "replace":
                rows.extend(_side_by_side(left, right, i1, i2, j1, j2))
            elif tag == "delete":
                rows.extend(
                    DiffRow(
                        kind="removed",
                        left_number=i + 1,
                        left=left[i],
                        right_number=None,
                        right=None,
                    )
                    for i in range(i1, i2)
                )
            else:
                rows.extend(
                    DiffRow(
                        kind="added",
                        left_number=None,
                        left=None,
                        right_number=j + 1,
                        right=right[j],
                    )
                    for j in range(j1, j2)
                )
        hunks.append(DiffHunk(rows=rows))
    return hunks


def _side_by_side(
    left: list[str], right: list[str], i1: int, i2: int, j1: int, j2: int
) -> list[DiffRow]:
    """A replaced block: its lines paired row by row (changed), the longer side's rest alone."""
    rows = []
    for offset in range(max(i2 - i1, j2 - j1)):
        i, j = i1 + offset, j1 + offset
        has_left, has_right = i < i2, j < j2
        kind: RowKind = "changed" if has_left and has_right else "removed" if has_left else "added"
        rows.append(
            DiffRow(
                kind=kind,
                left_number=i + 1 if has_left else None,
                left=left[i] if has_left else None,
                right_number=j + 1 if has_right else None,
                right=right[j] if has_right else None,
            )
        )
    return rows
