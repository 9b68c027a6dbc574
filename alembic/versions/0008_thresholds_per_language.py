"""kb_state: a decline threshold for each customer language

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("kb_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thresholds", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kb_state", schema=None) as batch_op:
        batch_op.drop_column("thresholds")
