"""project ready status and tested commit

The project's last commit whose tests passed (`projects.commit_sha`).

The new status `ready` needs no DDL: statuses are stored as their values in VARCHAR(32) columns
with no enum type and no CHECK constraint (`api.db.enum_type`), so there is no `projectstatus`
type to `ALTER TYPE ... ADD VALUE` to. For the same reason the downgrade only drops the column;
projects left in `ready` keep that value, which the previous code does not know: move them (to
`testing` or `developing`) before running older code.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 06:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("projects", sa.Column("commit_sha", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("projects", "commit_sha")
