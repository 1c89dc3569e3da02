"""Keyset pages (core.pagination): what a request may ask for, and that walking a list page by
page, cursor to cursor, sees every row exactly once, in order, whichever way the list runs.

On SQLite in memory, over a table of their own: pagination is plumbing, below the models."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import ForeignKey, Integer, String, create_engine, delete, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from core.errors import InvalidRequest
from core.pagination import (
    DEFAULT_PAGE,
    MAX_BIG_KEY,
    MAX_KEY,
    MAX_PAGE,
    PageRequest,
    decode_cursor,
    encode_cursor,
    paginate,
)


class Base(DeclarativeBase):
    pass


class Ledger(Base):
    __tablename__ = "ledgers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(20))


class Line(Base):
    __tablename__ = "lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ledger_id: Mapped[int] = mapped_column(ForeignKey("ledgers.id"))
    odd: Mapped[bool]


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Ledger(id=1, name="main"))
        session.flush()
        yield session
    engine.dispose()


def _fill(session: Session, ids: set[int]) -> None:
    session.execute(delete(Line))
    if ids:
        session.execute(
            insert(Line), [{"id": i, "ledger_id": 1, "odd": i % 2 == 1} for i in sorted(ids)]
        )


# -- what a page request may be -------------------------------------------------------------


@pytest.mark.parametrize(
    ("cursor", "limit", "expected"),
    [
        (None, None, PageRequest(size=DEFAULT_PAGE, after=None)),
        ("", 1, PageRequest(size=1, after=None)),
        (encode_cursor(0), MAX_PAGE, PageRequest(size=MAX_PAGE, after=0)),
        (encode_cursor(MAX_KEY), 7, PageRequest(size=7, after=MAX_KEY)),
    ],
)
def test_a_page_request_reads_the_limit_and_the_cursor(
    cursor: str | None, limit: int | None, expected: PageRequest
) -> None:
    assert PageRequest.of(cursor, limit) == expected


@pytest.mark.parametrize("limit", [0, -1, MAX_PAGE + 1])
def test_a_limit_out_of_range_is_refused(limit: int) -> None:
    with pytest.raises(InvalidRequest, match=f"limit is between 1 and {MAX_PAGE}"):
        PageRequest.of(None, limit)


def _forged(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        "x",
        _forged("v2:5"),
        _forged("v1:"),
        _forged("v1:-1"),
        _forged("v1:1e3"),
        _forged("v1:٣"),  # a digit, but not an ASCII one
        _forged(f"v1:{MAX_KEY + 1}"),
        _forged("v1:" + "9" * 20),
    ],
)
def test_a_cursor_this_api_did_not_issue_is_invalid_cursor(cursor: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        PageRequest.of(cursor, None)
    assert refused.value.code == "invalid_cursor"


def test_the_limit_is_checked_before_the_cursor() -> None:
    with pytest.raises(InvalidRequest, match="limit"):
        PageRequest.of("garbage!!", 0)


def test_a_bigint_list_takes_keys_past_int32() -> None:
    past = encode_cursor(MAX_KEY + 1)
    assert PageRequest.of(past, None, max_key=MAX_BIG_KEY).after == MAX_KEY + 1
    assert decode_cursor(encode_cursor(MAX_BIG_KEY), max_key=MAX_BIG_KEY) == MAX_BIG_KEY


# -- pages ----------------------------------------------------------------------------------


def test_pages_of_one_entity_are_shaped_from_the_entity(session: Session) -> None:
    _fill(session, {3, 5, 8, 13})
    first = paginate(
        session, select(Line), Line.id, PageRequest(size=3), shape=lambda line: line.id
    )
    assert first.items == [3, 5, 8]
    assert first.next_cursor == encode_cursor(8)
    rest = paginate(
        session, select(Line), Line.id, PageRequest.of(first.next_cursor, 3), shape=lambda x: x.id
    )
    assert (rest.items, rest.next_cursor) == ([13], None)


def test_a_page_that_ends_the_list_exactly_has_no_next_cursor(session: Session) -> None:
    _fill(session, {1, 2, 3})
    page = paginate(session, select(Line), Line.id, PageRequest(size=3), shape=lambda x: x.id)
    assert (page.items, page.next_cursor) == ([1, 2, 3], None)


def test_an_empty_list_is_one_empty_page(session: Session) -> None:
    _fill(session, set())
    page = paginate(session, select(Line), Line.id, PageRequest(size=5), shape=lambda x: x.id)
    assert (page.items, page.next_cursor) == ([], None)


def test_newest_first_pages_run_down_from_the_cursor(session: Session) -> None:
    _fill(session, {1, 2, 3, 4, 5})
    page = paginate(
        session,
        select(Line),
        Line.id,
        PageRequest(size=2, after=4),
        shape=lambda x: x.id,
        newest_first=True,
    )
    assert (page.items, page.next_cursor) == ([3, 2], encode_cursor(2))


def test_rows_of_several_things_are_shaped_from_the_row(session: Session) -> None:
    _fill(session, {10, 20})
    statement = select(Line, Ledger.name).join(Ledger, Ledger.id == Line.ledger_id)
    page = paginate(
        session, statement, Line.id, PageRequest(size=5), shape=lambda r: (r.Line.id, r.name)
    )
    assert page.items == [(10, "main"), (20, "main")]


def test_columns_are_shaped_by_name_and_paged_by_a_core_column(session: Session) -> None:
    _fill(session, {4, 6, 9})
    table = Line.__table__
    statement = select(table.c.id, table.c.odd)
    page = paginate(
        session,
        statement,
        table.c.id,
        PageRequest(size=2),
        shape=lambda r: (r.id, r.odd),
        newest_first=True,
    )
    assert (page.items, page.next_cursor) == ([(9, True), (6, False)], encode_cursor(6))


def _walk(session: Session, size: int, newest_first: bool, only_odd: bool) -> list[list[int]]:
    statement = select(Line).where(Line.odd.is_(True)) if only_odd else select(Line)
    pages: list[list[int]] = []
    cursor: str | None = None
    while True:
        page = paginate(
            session,
            statement,
            Line.id,
            PageRequest.of(cursor, size),
            shape=lambda line: line.id,
            newest_first=newest_first,
        )
        pages.append(page.items)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
        assert len(pages) <= 1000, "the walk does not end"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ids=st.sets(st.integers(min_value=0, max_value=MAX_KEY), max_size=40),
    size=st.integers(min_value=1, max_value=12),
    newest_first=st.booleans(),
    only_odd=st.booleans(),
)
def test_walking_the_pages_sees_every_row_once_in_order(
    session: Session, ids: set[int], size: int, newest_first: bool, only_odd: bool
) -> None:
    _fill(session, ids)
    pages = _walk(session, size, newest_first, only_odd)
    expected = sorted((i for i in ids if i % 2 == 1 or not only_odd), reverse=newest_first)
    assert [i for page in pages for i in page] == expected
    # Full pages, then at most one short one; an empty page only for an empty list.
    assert all(len(page) == size for page in pages[:-1])
    assert 0 < len(pages[-1]) <= size or pages == [[]]
