"""Sign-in attempts are reserved before the password is checked, and settled after.

succeeded becomes nullable (NULL: reserved, not settled yet; a reservation never settled
counts as a failure), and password_checked tells the attempts refused by a lockout, which
do not count (so a lockout cannot be extended by the attempts made during it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sign_in_attempts") as batch:
        batch.alter_column("succeeded", existing_type=sa.Boolean(), nullable=True)
        batch.add_column(
            sa.Column("password_checked", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    # Unsettled reservations were failures all along.
    op.execute("UPDATE sign_in_attempts SET succeeded = false WHERE succeeded IS NULL")
    with op.batch_alter_table("sign_in_attempts") as batch:
        batch.drop_column("password_checked")
        batch.alter_column("succeeded", existing_type=sa.Boolean(), nullable=False)
