"""Serving usage: requests, rows and CPU seconds per deployment, model version and
UTC hour, added up by the model servers.

Self-contained like the revisions before it: it describes revision 0007
forever, whatever ``tables.py`` becomes. See the serving usage section of
``tables.py``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DEPLOYMENT = 100
NAME = 500


def upgrade() -> None:
    op.create_table(
        "serving_usage",
        sa.Column("deployment", sa.String(DEPLOYMENT), nullable=False),
        sa.Column("model", sa.String(NAME), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("cpu_s", sa.Double(), nullable=False),
        sa.Column("predict_cpu_s", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("deployment", "model", "version", "hour", name="pk_serving_usage"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_serving_usage_model_hour", "serving_usage", ["model", "hour"])


def downgrade() -> None:
    op.drop_table("serving_usage")
