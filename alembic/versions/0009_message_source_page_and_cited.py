"""message_sources: the page a source is on, and whether the customer was shown it

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message_sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("page", sa.Integer(), nullable=True))
        # Answers stored before this column have no citation record: none are shown again.
        batch_op.add_column(
            sa.Column("cited", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("message_sources", schema=None) as batch_op:
        batch_op.drop_column("cited")
        batch_op.drop_column("page")
