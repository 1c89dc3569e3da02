"""The ledger's services, in one import for the faces (api/, admin/), the CLI and the tests:
accounts and their statements (core.ledger.accounts) and moving money
(core.ledger.movements). Each name is defined in one of the two; this module only gathers
them."""

from __future__ import annotations

from core.ledger.accounts import (
    account_public,
    get_account,
    get_transfer,
    list_accounts,
    list_transfers,
    open_account,
    statement,
    update_account,
)
from core.ledger.movements import create_deposit, create_transfer, create_withdrawal

__all__ = [
    "account_public",
    "create_deposit",
    "create_transfer",
    "create_withdrawal",
    "get_account",
    "get_transfer",
    "list_accounts",
    "list_transfers",
    "open_account",
    "statement",
    "update_account",
]
