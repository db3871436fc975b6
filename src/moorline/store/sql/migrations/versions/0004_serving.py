"""Serving: deployments and their revision history, consumers, the prediction log
and its feedback.

Self-contained like the revisions before it: it describes revision 0004
forever, whatever ``tables.py`` becomes. See the serving section of
``tables.py`` for why the tables look the way they do.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-13
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DEPLOYMENT = 100
NAME = 500
HASH = 64
PREDICTION_ID = 64


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(DEPLOYMENT), nullable=False),
        sa.Column("model", sa.String(NAME), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(NAME), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_deployments"),
    )
    op.create_index("ix_deployments_model", "deployments", ["model"])
    op.create_table(
        "deployment_revisions",
        sa.Column("deployment", sa.String(DEPLOYMENT), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(NAME), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("restored_revision", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("deployment", "revision", name="pk_deployment_revisions"),
        sa.ForeignKeyConstraint(
            ["deployment"],
            ["deployments.name"],
            name="fk_deployment_revisions_deployment_deployments",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "consumers",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("model", sa.String(NAME), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.String(HASH), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_consumers"),
    )
    op.create_index("ix_consumers_model_name", "consumers", ["model", "name"])
    op.create_table(
        "predictions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("prediction_id", sa.String(PREDICTION_ID), nullable=False),
        sa.Column("deployment", sa.String(DEPLOYMENT), nullable=False),
        sa.Column("model", sa.String(NAME), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("outputs", sa.Text(), nullable=False),
        sa.Column("latency_ms", sa.Double(), nullable=False),
        sa.Column("consumer", sa.String(100), nullable=True),
        sa.Column("caller", sa.Text(), nullable=False),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("columns", sa.Text(), nullable=True),
        sa.Column("error_id", sa.String(PREDICTION_ID), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_predictions"),
    )
    op.create_index("ix_predictions_prediction_id", "predictions", ["prediction_id"])
    op.create_index("ix_predictions_deployment_at", "predictions", ["deployment", "at"])
    op.create_table(
        "prediction_feedback",
        sa.Column("prediction_id", sa.String(PREDICTION_ID), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("prediction_id", name="pk_prediction_feedback"),
    )


def downgrade() -> None:
    for table in (
        "prediction_feedback",
        "predictions",
        "consumers",
        "deployment_revisions",
        "deployments",
    ):
        op.drop_table(table)
