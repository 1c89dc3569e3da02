"""The double-entry ledger: accounts, transfers, entries, balances, idempotency."""
