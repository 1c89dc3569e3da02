"""The ledger's services, in one import for the faces (api/, admin/), the CLI and the tests:
accounts and their statements (core.ledger.accounts) and moving money
(core.ledger.movements). Each name is defined in one of the two; this module only gathers
them."""

from __future__ import annotations

from core.ledger.accounts import (
    account_not_found,
    account_public,
    ensure_clearing_account,
    get_account,
    get_transfer,
    list_accounts,
    list_transfers,
    load_readable_account,
    open_account,
    statement,
    transfer_public,
    update_account,
)
from core.ledger.movements import create_deposit, create_transfer, create_withdrawal

__all__ = [
    "account_not_found",
    "account_public",
    "create_deposit",
    "create_transfer",
    "create_withdrawal",
    "ensure_clearing_account",
    "get_account",
    "get_transfer",
    "list_accounts",
    "list_transfers",
    "load_readable_account",
    "open_account",
    "statement",
    "transfer_public",
    "update_account",
]
