"""The tables: every SQLModel table of Mandate, by domain. The bottom of the core: models import
only core.db, core.clock and core.context, so every layer above may read them."""
