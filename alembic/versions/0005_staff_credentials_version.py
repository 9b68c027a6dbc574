"""staff users: credentials version (ends console sessions at a password change)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credentials_version", sa.String(length=32), nullable=True))
    # Existing users get a value each (sessions open at the upgrade end, as a restart did).
    users = sa.table("staff_users", sa.column("id", sa.Integer), sa.column("credentials_version"))
    conn = op.get_bind()
    for (user_id,) in conn.execute(sa.select(users.c.id)).all():
        conn.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(credentials_version=secrets.token_hex(16))
        )
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.alter_column(
            "credentials_version", existing_type=sa.String(length=32), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("credentials_version")
