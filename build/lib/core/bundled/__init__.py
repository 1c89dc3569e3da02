"""Where the files that ship with Mandate live: the Polar policy and the Alembic migrations.

In a checkout they are the top-level policies/ and migrations/ folders (the layout the product
fixes, and the files compliance reviews). A built wheel carries the same folders as package data
of this package (pyproject.toml maps them here), so an installed `mandate` finds them without a
checkout. Nothing else should build these paths by hand."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
# The checkout this package was imported from, if it was (an editable install or a clone).
CHECKOUT_ROOT = _HERE.parent.parent


def is_checkout() -> bool:
    """Is Mandate running from a source checkout rather than an installed wheel?"""
    return (CHECKOUT_ROOT / "pyproject.toml").is_file() and (CHECKOUT_ROOT / "policies").is_dir()


def _shipped(name: str) -> Path:
    installed = _HERE / name
    if installed.is_dir():
        return installed
    return CHECKOUT_ROOT / name


def policy_dir() -> Path:
    """The Polar files (and their test cases in tests/)."""
    return _shipped("policies")


def migrations_dir() -> Path:
    """The Alembic script directory (env.py, versions/)."""
    return _shipped("migrations")
