"""Pipelines: training pipelines, their triggers, runs and cursors, and the
remediation record with its steps.

Self-contained like the revisions before it: it describes revision 0005
forever, whatever ``tables.py`` becomes. See the pipelines section of
``tables.py``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PIPELINE = 200
KEY = 500
NAME = 500
ID = 32


def _pipeline_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["pipeline"], ["pipelines.name"], name=f"fk_{table}_pipeline_pipelines", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("name", sa.String(PIPELINE), nullable=False),
        sa.Column("model", sa.String(NAME), nullable=False),
        sa.Column("schedule", sa.String(200), nullable=True),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_pipelines"),
    )
    op.create_table(
        "pipeline_triggers",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("pipeline", sa.String(PIPELINE), nullable=False),
        sa.Column("key", sa.String(KEY), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("dedup_group", sa.String(KEY), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(ID), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_triggers"),
        sa.UniqueConstraint("pipeline", "key", name="uq_pipeline_triggers_pipeline_key"),
        _pipeline_fk("pipeline_triggers"),
    )
    op.create_index(
        "ix_pipeline_triggers_pipeline_status", "pipeline_triggers", ["pipeline", "status"]
    )
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("pipeline", sa.String(PIPELINE), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("trigger_id", sa.BigInteger(), nullable=True),
        sa.Column("trigger_kind", sa.String(20), nullable=False),
        sa.Column("dedup_group", sa.String(KEY), nullable=True),
        sa.Column("remediation_id", sa.String(ID), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("lease_expires_at", sa.BigInteger(), nullable=True),
        sa.Column("tracked_run_id", sa.String(ID), nullable=True),
        sa.Column("model_version", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(50), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_runs"),
        _pipeline_fk("pipeline_runs"),
    )
    op.create_index("ix_pipeline_runs_pipeline_status", "pipeline_runs", ["pipeline", "status"])
    op.create_index(
        "ix_pipeline_runs_status_lease_expires_at", "pipeline_runs", ["status", "lease_expires_at"]
    )
    op.create_table(
        "pipeline_cursors",
        sa.Column("pipeline", sa.String(PIPELINE), nullable=False),
        sa.Column("source", sa.String(KEY), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("pipeline", "source", name="pk_pipeline_cursors"),
        _pipeline_fk("pipeline_cursors"),
    )
    op.create_table(
        "remediations",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("pipeline", sa.String(PIPELINE), nullable=False),
        sa.Column("model", sa.String(NAME), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("pipeline_run_id", sa.String(ID), nullable=False),
        sa.Column("trigger_kind", sa.String(20), nullable=False),
        sa.Column("alert_key", sa.String(KEY), nullable=True),
        sa.Column("challenger_version", sa.BigInteger(), nullable=True),
        sa.Column("champion_version", sa.BigInteger(), nullable=True),
        sa.Column("approval_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_remediations"),
    )
    op.create_index("ix_remediations_status", "remediations", ["status"])
    op.create_index(
        "ix_remediations_pipeline_created_at", "remediations", ["pipeline", "created_at"]
    )
    op.create_table(
        "remediation_steps",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("remediation_id", sa.String(ID), nullable=False),
        sa.Column("step", sa.String(50), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_remediation_steps"),
        sa.ForeignKeyConstraint(
            ["remediation_id"],
            ["remediations.id"],
            name="fk_remediation_steps_remediation_id_remediations",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_remediation_steps_remediation_id_id", "remediation_steps", ["remediation_id", "id"]
    )


def downgrade() -> None:
    for table in (
        "remediation_steps",
        "remediations",
        "pipeline_cursors",
        "pipeline_runs",
        "pipeline_triggers",
        "pipelines",
    ):
        op.drop_table(table)
