"""The database URL as given (libpq's forms) and as Mandate hands it to SQLAlchemy and psycopg:
one host stays as it is; several (a Patroni cluster) become SQLAlchemy's repeated `host`
parameters, and psycopg is given libpq's host and port lists again."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects.postgresql import psycopg
from sqlalchemy.engine import make_url

from core.settings import Settings


def connect_args(url: str) -> dict[str, object]:
    _args, params = psycopg.dialect().create_connect_args(make_url(url))
    return dict(params)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "postgresql://postgres@127.0.0.1:5432/test",
            {"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": "postgres"},
        ),
        (
            "postgresql://mandate:s%40cret@db1:5441,db2:5442/mandate"
            "?target_session_attrs=read-write&sslmode=require",
            {
                "host": "db1,db2",
                "port": "5441,5442",
                "dbname": "mandate",
                "user": "mandate",
                "password": "s@cret",
                "target_session_attrs": "read-write",
                "sslmode": "require",
            },
        ),
        (
            # No ports: libpq reads an empty entry of its port list as the default port.
            "postgres://u@a,b/db",
            {"host": "a,b", "port": ",", "dbname": "db", "user": "u"},
        ),
    ],
)
def test_libpq_urls_reach_psycopg_as_libpq_means_them(given: str, expected: dict) -> None:  # type: ignore[type-arg]
    url = Settings(database_url=given).database_url
    assert url.startswith("postgresql+psycopg://")
    assert connect_args(url) == expected


def test_sqlite_urls_are_left_alone() -> None:
    assert Settings(database_url="sqlite:///var/mandate.db").database_url == (
        "sqlite:///var/mandate.db"
    )
