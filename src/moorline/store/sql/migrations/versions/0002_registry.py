"""Model registry: registered models, versions, tags, aliases, promotion policies,
approvals, the hash-chained audit log with its head, and the webhook outbox.

Self-contained like 0001: it describes revision 0002 forever, whatever
``tables.py`` becomes. See the registry section of ``tables.py`` for why the
tables look the way they do.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NAME = 500
KEY = 250
ALIAS = 256
ACTION = 100
HASH = 64
URI = 1000


def _model_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["name"],
        ["registered_models.name"],
        name=f"fk_{table}_name_registered_models",
        onupdate="CASCADE",
        ondelete="CASCADE",
    )


def _version_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        name=f"fk_{table}_name_model_versions",
        onupdate="CASCADE",
        ondelete="CASCADE",
    )


def _webhook_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["webhook_id"],
        ["webhooks.webhook_id"],
        name=f"fk_{table}_webhook_id_webhooks",
        ondelete="CASCADE",
    )


def _event_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["event_id"],
        ["registry_events.id"],
        name=f"fk_{table}_event_id_registry_events",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("creation_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.String(NAME), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("last_version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_registered_models"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "registered_model_tags",
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("key", sa.String(KEY), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", "key", name="pk_registered_model_tags"),
        _model_fk("registered_model_tags"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("creation_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.String(NAME), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(NAME), nullable=True),
        sa.Column("run_link", sa.Text(), nullable=True),
        sa.Column("model_id", sa.String(NAME), nullable=True),
        sa.Column("current_stage", sa.String(20), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", "version", name="pk_model_versions"),
        _model_fk("model_versions"),
        sa.CheckConstraint(
            "current_stage IN ('None', 'Staging', 'Production', 'Archived')",
            name="ck_model_versions_stage",
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_index("ix_model_versions_model_id", "model_versions", ["model_id"])
    op.create_table(
        "model_version_tags",
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(KEY), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", "key", name="pk_model_version_tags"),
        _version_fk("model_version_tags"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "registered_model_aliases",
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("alias", sa.String(ALIAS), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(NAME), nullable=False),
        sa.PrimaryKeyConstraint("name", "alias", name="pk_registered_model_aliases"),
        _version_fk("registered_model_aliases"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_registered_model_aliases_name_version",
        "registered_model_aliases",
        ["name", "version"],
    )
    op.create_table(
        "promotion_policies",
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("risk", sa.String(20), nullable=False),
        sa.Column("protected_aliases", sa.Text(), nullable=False),
        sa.Column("must_beat", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(NAME), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_promotion_policies"),
        _model_fk("promotion_policies"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "approvals",
        sa.Column("approval_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("alias", sa.String(ALIAS), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("requested_by", sa.String(NAME), nullable=False),
        sa.Column("requested_at", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("decided_by", sa.String(NAME), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("approval_id", name="pk_approvals"),
        _model_fk("approvals"),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'rejected', 'consumed')", name="ck_approvals_state"
        ),
    )
    op.create_index("ix_approvals_name_requested_at", "approvals", ["name", "requested_at"])
    op.create_index("ix_approvals_state_requested_at", "approvals", ["state", "requested_at"])

    op.create_table(
        "audit_log",
        sa.Column("seq", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(NAME), nullable=False),
        sa.Column("action", sa.String(ACTION), nullable=False),
        sa.Column("target", sa.String(URI), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(HASH), nullable=False),
        sa.Column("entry_hash", sa.String(HASH), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(HASH), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_head_one_row"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )

    op.create_table(
        "registry_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(ACTION), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_events"),
    )
    op.create_table(
        "webhooks",
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("webhook_id", name="pk_webhooks"),
    )
    op.create_table(
        "webhook_delivery_state",
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("event_id", BIG_ID, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("webhook_id", "event_id", name="pk_webhook_delivery_state"),
        _webhook_fk("webhook_delivery_state"),
        _event_fk("webhook_delivery_state"),
    )
    op.create_index(
        "ix_webhook_delivery_state_done_next_attempt_at",
        "webhook_delivery_state",
        ["done", "next_attempt_at"],
    )
    op.create_index("ix_webhook_delivery_state_event_id", "webhook_delivery_state", ["event_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("event_id", BIG_ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        _webhook_fk("webhook_deliveries"),
        _event_fk("webhook_deliveries"),
    )
    op.create_index(
        "ix_webhook_deliveries_webhook_id_id", "webhook_deliveries", ["webhook_id", "id"]
    )
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])


def downgrade() -> None:
    for table in (
        "webhook_deliveries",
        "webhook_delivery_state",
        "webhooks",
        "registry_events",
        "audit_head",
        "audit_log",
        "approvals",
        "promotion_policies",
        "registered_model_aliases",
        "model_version_tags",
        "model_versions",
        "registered_model_tags",
        "registered_models",
    ):
        op.drop_table(table)
