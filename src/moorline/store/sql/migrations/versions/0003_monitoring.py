"""Monitoring: monitors, their results (a time series), alert states and the
scheduler's leases.

Self-contained like 0001 and 0002: it describes revision 0003 forever,
whatever ``tables.py`` becomes. See the monitoring section of ``tables.py``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MONITOR = 200
NAME = 500
KEY = 500


def _monitor_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["monitor"], ["monitors.name"], name=f"fk_{table}_monitor_monitors", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("name", sa.String(MONITOR), nullable=False),
        sa.Column("model", sa.String(NAME), nullable=False),
        sa.Column("schedule", sa.String(200), nullable=True),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_monitors"),
    )
    op.create_table(
        "monitor_results",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("monitor", sa.String(MONITOR), nullable=False),
        sa.Column("run_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_results"),
        _monitor_fk("monitor_results"),
    )
    op.create_index("ix_monitor_results_monitor_run_at", "monitor_results", ["monitor", "run_at"])
    op.create_table(
        "monitor_alert_states",
        sa.Column("monitor", sa.String(MONITOR), nullable=False),
        sa.Column("key", sa.String(KEY), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("monitor", "key", name="pk_monitor_alert_states"),
        _monitor_fk("monitor_alert_states"),
    )
    op.create_table(
        "monitor_leases",
        sa.Column("name", sa.String(MONITOR), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_monitor_leases"),
    )


def downgrade() -> None:
    for table in ("monitor_leases", "monitor_alert_states", "monitor_results", "monitors"):
        op.drop_table(table)
