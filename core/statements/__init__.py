"""Statement exports: an account's entries over a period of days, as files banks exchange
(CSV, ISO 20022 camt.053). The entries are the statement's own pages (core.ledger), read oldest
first in short transactions and written out as they come, so a year of a busy account never
sits in memory."""
