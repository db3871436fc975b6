"""Canaries: the managed canaries of deployments and their outcome.

Self-contained like the revisions before it: it describes revision 0006
forever, whatever ``tables.py`` becomes. See the managed canaries section of
``tables.py``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = 32
DEPLOYMENT = 100
NAME = 500


def upgrade() -> None:
    op.create_table(
        "canaries",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("deployment", sa.String(DEPLOYMENT), nullable=False),
        sa.Column("model", sa.String(NAME), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("champion", sa.BigInteger(), nullable=False),
        sa.Column("challenger", sa.BigInteger(), nullable=False),
        sa.Column("weight", sa.Double(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("deadline_at", sa.BigInteger(), nullable=False),
        sa.Column("started_by", sa.String(NAME), nullable=False),
        sa.Column("remediation_id", sa.String(ID), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("running_deployment", sa.String(DEPLOYMENT), nullable=True),
        sa.Column("last_verdict", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.Column("ended_revision", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_canaries"),
        sa.UniqueConstraint("running_deployment", name="uq_canaries_running_deployment"),
    )
    op.create_index("ix_canaries_deployment_started_at", "canaries", ["deployment", "started_at"])
    op.create_index("ix_canaries_status", "canaries", ["status"])


def downgrade() -> None:
    op.drop_table("canaries")
