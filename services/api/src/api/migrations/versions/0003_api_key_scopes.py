"""api key scopes

What a key may do (`api_keys.scopes`, a JSON list of scope names). Existing keys keep NULL: the
full rights of their principal, as before. The downgrade drops the column, which widens every
scoped key back to its principal's full rights: revoke scoped keys before running older code.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column("scopes", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("api_keys", "scopes")
