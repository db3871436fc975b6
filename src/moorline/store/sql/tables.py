"""The metadata schema, as SQLAlchemy Core tables (no ORM).

Conventions:

- Timestamps are integer milliseconds since the epoch (``BigInteger``).
- Metric values are IEEE doubles; **NaN is stored as SQL NULL** (SQLite turns
  NaN into NULL anyway, so one representation serves both backends), and
  +/-inf are stored as they are. Readers turn NULL back into ``float("nan")``.
- ``metrics`` keeps every logged point; ``latest_metrics`` keeps one row per
  (run, key): the point that is greatest by (step, timestamp, value), where a
  NaN value counts as greater than any number. Search filters and ordering on
  metrics read ``latest_metrics`` only.
- Datasets are unique **globally** by (name, digest): the digest is a content
  hash, so the same (name, digest) is the same data whichever experiment uses
  it, and lineage can follow one dataset row across experiments. The first
  logged source/schema/profile of a (name, digest) is kept.
- Experiment ids are integers in the database and strings in the domain;
  experiment ``0`` (``Default``) is created by the initial migration.
- Tables keyed by (owner, key) are ``WITHOUT ROWID`` on SQLite: clustered by
  their primary key, so a run's params or latest metrics sit together and
  each upsert touches one b-tree less.
- Deletion is soft (``lifecycle_stage``); ``deleted_time`` records when, so that
  restoring an experiment restores exactly the runs its deletion took along.

The Alembic migrations in ``migrations/versions`` create this schema; a test
compares the migrated database with this metadata so the two cannot drift.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

KEY_LENGTH = 250
NAME_LENGTH = 500
URI_LENGTH = 1000
RUN_ID_LENGTH = 32
MODEL_ID_LENGTH = 64

# SQLite only turns an INTEGER PRIMARY KEY into the fast rowid alias; PostgreSQL
# gets a 64-bit identity.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_LIFECYCLE_CHECK = "lifecycle_stage IN ('active', 'deleted')"

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("artifact_location", String(URI_LENGTH), nullable=False),
    Column("lifecycle_stage", String(32), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    Column("deleted_time", BigInteger, nullable=True),
    UniqueConstraint("name"),
    CheckConstraint(_LIFECYCLE_CHECK, name="lifecycle"),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", String(KEY_LENGTH), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("experiment_id", "key"),
    sqlite_with_rowid=False,
)

runs = Table(
    "runs",
    metadata,
    Column("run_uuid", String(RUN_ID_LENGTH), primary_key=True),
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("user_id", String(NAME_LENGTH), nullable=False),
    Column("status", String(20), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("lifecycle_stage", String(32), nullable=False),
    Column("artifact_uri", String(URI_LENGTH), nullable=False),
    Column("deleted_time", BigInteger, nullable=True),
    CheckConstraint(_LIFECYCLE_CHECK, name="lifecycle"),
    Index(None, "experiment_id", "start_time"),
)

params = Table(
    "params",
    metadata,
    Column(
        "run_uuid",
        String(RUN_ID_LENGTH),
        ForeignKey("runs.run_uuid", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", String(KEY_LENGTH), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_uuid", "key"),
    Index(None, "key"),
    sqlite_with_rowid=False,
)

tags = Table(
    "tags",
    metadata,
    Column(
        "run_uuid",
        String(RUN_ID_LENGTH),
        ForeignKey("runs.run_uuid", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", String(KEY_LENGTH), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_uuid", "key"),
    Index(None, "key"),
    sqlite_with_rowid=False,
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column(
        "run_uuid",
        String(RUN_ID_LENGTH),
        ForeignKey("runs.run_uuid", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", String(KEY_LENGTH), nullable=False),
    Column("value", Double, nullable=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("dataset_name", String(NAME_LENGTH), nullable=True),
    Column("dataset_digest", String(NAME_LENGTH), nullable=True),
    Column("model_id", String(MODEL_ID_LENGTH), nullable=True),
    # History pages read (run, key) in (step, timestamp, id) order straight from this index.
    Index(None, "run_uuid", "key", "step", "timestamp", "id"),
    Index(
        None,
        "model_id",
        "key",
        postgresql_where="model_id IS NOT NULL",
        sqlite_where="model_id IS NOT NULL",
    ),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column(
        "run_uuid",
        String(RUN_ID_LENGTH),
        ForeignKey("runs.run_uuid", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", String(KEY_LENGTH), nullable=False),
    Column("value", Double, nullable=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("dataset_name", String(NAME_LENGTH), nullable=True),
    Column("dataset_digest", String(NAME_LENGTH), nullable=True),
    Column("model_id", String(MODEL_ID_LENGTH), nullable=True),
    PrimaryKeyConstraint("run_uuid", "key"),
    Index(None, "key", "value"),
    sqlite_with_rowid=False,
)

datasets = Table(
    "datasets",
    metadata,
    Column("dataset_id", BigIntId, primary_key=True, autoincrement=True),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("digest", String(NAME_LENGTH), nullable=False),
    Column("source_type", String(NAME_LENGTH), nullable=False),
    Column("source", Text, nullable=False),
    Column("schema", Text, nullable=True),
    Column("profile", Text, nullable=True),
    UniqueConstraint("name", "digest"),
)

dataset_inputs = Table(
    "dataset_inputs",
    metadata,
    Column("input_id", BigIntId, primary_key=True, autoincrement=True),
    Column(
        "run_uuid",
        String(RUN_ID_LENGTH),
        ForeignKey("runs.run_uuid", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "dataset_id",
        BigIntId,
        ForeignKey("datasets.dataset_id", ondelete="CASCADE"),
        nullable=False,
    ),
    UniqueConstraint("run_uuid", "dataset_id"),
    Index(None, "dataset_id"),
)

dataset_input_tags = Table(
    "dataset_input_tags",
    metadata,
    Column(
        "input_id",
        BigIntId,
        ForeignKey("dataset_inputs.input_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", String(KEY_LENGTH), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("input_id", "key"),
    sqlite_with_rowid=False,
)

model_inputs = Table(
    "model_inputs",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column(
        "run_uuid",
        String(RUN_ID_LENGTH),
        ForeignKey("runs.run_uuid", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("model_id", String(MODEL_ID_LENGTH), nullable=False),
    UniqueConstraint("run_uuid", "model_id"),
)

model_outputs = Table(
    "model_outputs",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column(
        "run_uuid",
        String(RUN_ID_LENGTH),
        ForeignKey("runs.run_uuid", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("model_id", String(MODEL_ID_LENGTH), nullable=False),
    Column("step", BigInteger, nullable=False),
    UniqueConstraint("run_uuid", "model_id", "step"),
)

logged_models = Table(
    "logged_models",
    metadata,
    Column("model_id", String(MODEL_ID_LENGTH), primary_key=True),
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("artifact_uri", String(URI_LENGTH), nullable=False),
    Column("status", String(40), nullable=False),
    Column("status_message", Text, nullable=True),
    Column("creation_timestamp_ms", BigInteger, nullable=False),
    Column("last_updated_timestamp_ms", BigInteger, nullable=False),
    Column("lifecycle_stage", String(32), nullable=False),
    Column("model_type", String(NAME_LENGTH), nullable=True),
    Column("source_run_id", String(RUN_ID_LENGTH), nullable=True),
    Column("creator_id", String(NAME_LENGTH), nullable=True),
    CheckConstraint(_LIFECYCLE_CHECK, name="lifecycle"),
    Index(None, "experiment_id", "creation_timestamp_ms"),
    Index(None, "source_run_id"),
)

logged_model_params = Table(
    "logged_model_params",
    metadata,
    Column(
        "model_id",
        String(MODEL_ID_LENGTH),
        ForeignKey("logged_models.model_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", String(KEY_LENGTH), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("model_id", "key"),
    sqlite_with_rowid=False,
)

logged_model_tags = Table(
    "logged_model_tags",
    metadata,
    Column(
        "model_id",
        String(MODEL_ID_LENGTH),
        ForeignKey("logged_models.model_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", String(KEY_LENGTH), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("model_id", "key"),
    sqlite_with_rowid=False,
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    UniqueConstraint("name"),
)


# =============================================================================
# Model registry (revision 0002): registered models, versions, aliases,
# governance, the hash-chained audit log and the webhook outbox.
#
# - A registered model's ``name`` is its primary key. Every table that hangs
#   off a model refers to it (or to (name, version)) with ON UPDATE CASCADE,
#   so a rename is one UPDATE and versions, tags, aliases, the policy and the
#   approvals follow on both backends; ON DELETE CASCADE makes a hard delete
#   take them along (the audit log keeps the record).
# - ``registered_models.last_version`` is the per-model version counter:
#   a new version is ``last_version + 1``, so numbers are never reused after
#   a delete.
# - ``audit_head`` holds one row (id 1): the seq and hash of the newest audit
#   entry, updated in the same transaction as every append. Locking it is
#   what serialises registry writers, so the chain never forks; comparing it
#   with the log detects a deleted newest entry.
# - ``webhook_delivery_state`` has one row per (webhook, event) to deliver:
#   ``due_deliveries`` reads ``done = false AND next_attempt_at <= now``
#   straight from its (done, next_attempt_at) index. ``webhook_deliveries``
#   logs every attempt.
# - JSON columns (details, payload, events, protected_aliases, must_beat)
#   are text: compact JSON written and read by the stores.
# =============================================================================

ALIAS_LENGTH = 256
ACTION_LENGTH = 100
HASH_LENGTH = 64

_STAGE_CHECK = "current_stage IN ('None', 'Staging', 'Production', 'Archived')"
_APPROVAL_STATE_CHECK = "state IN ('pending', 'approved', 'rejected', 'consumed')"


def _model_fk(table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["name"],
        ["registered_models.name"],
        name=f"fk_{table}_name_registered_models",
        onupdate="CASCADE",
        ondelete="CASCADE",
    )


def _version_fk(table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        name=f"fk_{table}_name_model_versions",
        onupdate="CASCADE",
        ondelete="CASCADE",
    )


registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(NAME_LENGTH), primary_key=True),
    Column("creation_timestamp", BigInteger, nullable=False),
    Column("last_updated_timestamp", BigInteger, nullable=False),
    Column("user_id", String(NAME_LENGTH), nullable=False),
    Column("description", Text, nullable=False),
    Column("last_version", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("key", String(KEY_LENGTH), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("name", "key"),
    _model_fk("registered_model_tags"),
    sqlite_with_rowid=False,
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("creation_timestamp", BigInteger, nullable=False),
    Column("last_updated_timestamp", BigInteger, nullable=False),
    Column("user_id", String(NAME_LENGTH), nullable=False),
    Column("description", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("run_id", String(NAME_LENGTH), nullable=True),
    Column("run_link", Text, nullable=True),
    Column("model_id", String(NAME_LENGTH), nullable=True),
    Column("current_stage", String(20), nullable=False),
    Column("status", String(40), nullable=False),
    Column("status_message", Text, nullable=True),
    PrimaryKeyConstraint("name", "version"),
    _model_fk("model_versions"),
    CheckConstraint(_STAGE_CHECK, name="stage"),
    Index(None, "run_id"),
    Index(None, "model_id"),
    sqlite_with_rowid=False,
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("key", String(KEY_LENGTH), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("name", "version", "key"),
    _version_fk("model_version_tags"),
    sqlite_with_rowid=False,
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("alias", String(ALIAS_LENGTH), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(NAME_LENGTH), nullable=False),
    PrimaryKeyConstraint("name", "alias"),
    _version_fk("registered_model_aliases"),
    Index(None, "name", "version"),
    sqlite_with_rowid=False,
)

promotion_policies = Table(
    "promotion_policies",
    metadata,
    Column("name", String(NAME_LENGTH), primary_key=True),
    Column("risk", String(20), nullable=False),
    Column("protected_aliases", Text, nullable=False),
    Column("must_beat", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(NAME_LENGTH), nullable=False),
    _model_fk("promotion_policies"),
    sqlite_with_rowid=False,
)

approvals = Table(
    "approvals",
    metadata,
    Column("approval_id", String(64), primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("alias", String(ALIAS_LENGTH), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("requested_by", String(NAME_LENGTH), nullable=False),
    Column("requested_at", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("state", String(20), nullable=False),
    Column("decided_by", String(NAME_LENGTH), nullable=True),
    Column("decided_at", BigInteger, nullable=True),
    Column("decision_reason", Text, nullable=False),
    _model_fk("approvals"),
    CheckConstraint(_APPROVAL_STATE_CHECK, name="state"),
    Index(None, "name", "requested_at"),
    Index(None, "state", "requested_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigIntId, primary_key=True, autoincrement=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(NAME_LENGTH), nullable=False),
    Column("action", String(ACTION_LENGTH), nullable=False),
    Column("target", String(URI_LENGTH), nullable=False),
    Column("details", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("prev_hash", String(HASH_LENGTH), nullable=False),
    Column("entry_hash", String(HASH_LENGTH), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("entry_hash", String(HASH_LENGTH), nullable=False),
    CheckConstraint("id = 1", name="one_row"),
)

registry_events = Table(
    "registry_events",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("type", String(ACTION_LENGTH), nullable=False),
    Column("payload", Text, nullable=False),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("webhook_id", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("events", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)


def _webhook_fk(table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["webhook_id"],
        ["webhooks.webhook_id"],
        name=f"fk_{table}_webhook_id_webhooks",
        ondelete="CASCADE",
    )


def _event_fk(table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["event_id"],
        ["registry_events.id"],
        name=f"fk_{table}_event_id_registry_events",
        ondelete="CASCADE",
    )


webhook_delivery_state = Table(
    "webhook_delivery_state",
    metadata,
    Column("webhook_id", String(64), nullable=False),
    Column("event_id", BigIntId, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("done", Boolean, nullable=False),
    PrimaryKeyConstraint("webhook_id", "event_id"),
    _webhook_fk("webhook_delivery_state"),
    _event_fk("webhook_delivery_state"),
    Index(None, "done", "next_attempt_at"),
    Index(None, "event_id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("webhook_id", String(64), nullable=False),
    Column("event_id", BigIntId, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=False),
    _webhook_fk("webhook_deliveries"),
    _event_fk("webhook_deliveries"),
    Index(None, "webhook_id", "id"),
    Index(None, "event_id"),
)


# -- monitoring (issue #4): monitors, their results, alert states, scheduler leases --
#
# A monitor's configuration is one JSON document (``config``): it is read and
# written whole, and its shape belongs to ``moorline.monitoring.monitors``.
# ``model`` is not a foreign key: a monitor outlives a model's renaming, and
# its runs say so when the model is gone. Results are a time series per
# monitor (``run_at``), each kept as its JSON document. Leases have no foreign
# key either: a scheduler may hold one while the monitor is being deleted.

MONITOR_NAME_LENGTH = 200

monitors = Table(
    "monitors",
    metadata,
    Column("name", String(MONITOR_NAME_LENGTH), primary_key=True),
    Column("model", String(NAME_LENGTH), nullable=False),
    Column("schedule", String(200), nullable=True),
    Column("config", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)


def _monitor_fk(table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["monitor"], ["monitors.name"], name=f"fk_{table}_monitor_monitors", ondelete="CASCADE"
    )


monitor_results = Table(
    "monitor_results",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("monitor", String(MONITOR_NAME_LENGTH), nullable=False),
    Column("run_at", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("document", Text, nullable=False),
    _monitor_fk("monitor_results"),
    Index(None, "monitor", "run_at"),
)

monitor_alert_states = Table(
    "monitor_alert_states",
    metadata,
    Column("monitor", String(MONITOR_NAME_LENGTH), nullable=False),
    Column("key", String(KEY_LENGTH * 2), nullable=False),
    Column("state", Text, nullable=False),
    PrimaryKeyConstraint("monitor", "key"),
    _monitor_fk("monitor_alert_states"),
)

monitor_leases = Table(
    "monitor_leases",
    metadata,
    Column("name", String(MONITOR_NAME_LENGTH), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)


# -- serving (issue #5): deployments, their revisions, consumers, the prediction log --
#
# A deployment's traffic policy and settings are JSON documents whose shape
# belongs to ``moorline.serving.models``; ``revision`` is the compare-and-set
# counter every change checks, and ``deployment_revisions`` keeps one row per
# revision (a rollback is a new row restoring an older policy). ``model`` is
# not a foreign key, as for monitors: a deployment names the model it serves
# and says so when it is gone. Consumers are unique per active (model, name);
# the stores check that under the audit head lock, since a revoked consumer
# keeps its row. The prediction log is append-only: ``prediction_id`` repeats
# for a request's shadow copies, so it is indexed, not unique; reads scan a
# deployment's time window through (deployment, at). Feedback arrives
# separately and may precede its prediction's row, so it has no foreign key.

DEPLOYMENT_NAME_LENGTH = 100
PREDICTION_ID_LENGTH = 64

deployments = Table(
    "deployments",
    metadata,
    Column("name", String(DEPLOYMENT_NAME_LENGTH), primary_key=True),
    Column("model", String(NAME_LENGTH), nullable=False),
    Column("policy", Text, nullable=False),
    Column("settings", Text, nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(NAME_LENGTH), nullable=False),
    Index(None, "model"),
)

deployment_revisions = Table(
    "deployment_revisions",
    metadata,
    Column("deployment", String(DEPLOYMENT_NAME_LENGTH), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("action", String(20), nullable=False),
    Column("policy", Text, nullable=False),
    Column("settings", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(NAME_LENGTH), nullable=False),
    Column("reason", Text, nullable=False),
    Column("restored_revision", BigInteger, nullable=True),
    PrimaryKeyConstraint("deployment", "revision"),
    ForeignKeyConstraint(
        ["deployment"],
        ["deployments.name"],
        name="fk_deployment_revisions_deployment_deployments",
        ondelete="CASCADE",
    ),
)

consumers = Table(
    "consumers",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("model", String(NAME_LENGTH), nullable=False),
    Column("name", String(100), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("fields", Text, nullable=False),
    Column("key_hash", String(HASH_LENGTH), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Index(None, "model", "name"),
)

predictions = Table(
    "predictions",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("prediction_id", String(PREDICTION_ID_LENGTH), nullable=False),
    Column("deployment", String(DEPLOYMENT_NAME_LENGTH), nullable=False),
    Column("model", String(NAME_LENGTH), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("inputs", Text, nullable=False),
    Column("outputs", Text, nullable=False),
    Column("latency_ms", Double, nullable=False),
    Column("consumer", String(100), nullable=True),
    Column("caller", Text, nullable=False),
    Column("shadow", Boolean, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("columns", Text, nullable=True),
    Column("error_id", String(PREDICTION_ID_LENGTH), nullable=True),
    Index(None, "prediction_id"),
    Index(None, "deployment", "at"),
)

prediction_feedback = Table(
    "prediction_feedback",
    metadata,
    Column("prediction_id", String(PREDICTION_ID_LENGTH), primary_key=True),
    Column("labels", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
)


# -- pipelines (issue #6): training pipelines, triggers, runs, the remediation record --
#
# A pipeline's configuration is one JSON document (``config``), like a
# monitor's. Triggers are unique per (pipeline, key), so an event recorded
# twice (two replicas seeing one alert) is one row; ``dedup_group`` ties the
# triggers that share a run. A run's lease (``holder``, ``lease_expires_at``)
# says which runner executes it and until when; an expired lease is how a
# dead runner's runs are found. Remediation records outlive their pipeline
# (history), so they have no foreign key to it; their steps are append-only.

PIPELINE_NAME_LENGTH = 200
PIPELINE_KEY_LENGTH = 500


def _pipeline_fk(table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["pipeline"], ["pipelines.name"], name=f"fk_{table}_pipeline_pipelines", ondelete="CASCADE"
    )


pipelines = Table(
    "pipelines",
    metadata,
    Column("name", String(PIPELINE_NAME_LENGTH), primary_key=True),
    Column("model", String(NAME_LENGTH), nullable=False),
    Column("schedule", String(200), nullable=True),
    Column("config", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

pipeline_triggers = Table(
    "pipeline_triggers",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("pipeline", String(PIPELINE_NAME_LENGTH), nullable=False),
    Column("key", String(PIPELINE_KEY_LENGTH), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("dedup_group", String(PIPELINE_KEY_LENGTH), nullable=True),
    Column("status", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("run_id", String(RUN_ID_LENGTH), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("pipeline", "key"),
    Index(None, "pipeline", "status"),
    _pipeline_fk("pipeline_triggers"),
)

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", String(RUN_ID_LENGTH), primary_key=True),
    Column("pipeline", String(PIPELINE_NAME_LENGTH), nullable=False),
    Column("status", String(20), nullable=False),
    Column("trigger_id", BigInteger, nullable=True),
    Column("trigger_kind", String(20), nullable=False),
    Column("dedup_group", String(PIPELINE_KEY_LENGTH), nullable=True),
    Column("remediation_id", String(RUN_ID_LENGTH), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("params", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=True),
    Column("finished_at", BigInteger, nullable=True),
    Column("holder", String(200), nullable=True),
    Column("lease_expires_at", BigInteger, nullable=True),
    Column("tracked_run_id", String(RUN_ID_LENGTH), nullable=True),
    Column("model_version", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("error_code", String(50), nullable=True),
    Column("traceback", Text, nullable=True),
    Column("result", Text, nullable=False),
    Index(None, "pipeline", "status"),
    Index(None, "status", "lease_expires_at"),
    _pipeline_fk("pipeline_runs"),
)

pipeline_cursors = Table(
    "pipeline_cursors",
    metadata,
    Column("pipeline", String(PIPELINE_NAME_LENGTH), nullable=False),
    Column("source", String(PIPELINE_KEY_LENGTH), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("pipeline", "source"),
    _pipeline_fk("pipeline_cursors"),
)

remediations = Table(
    "remediations",
    metadata,
    Column("id", String(RUN_ID_LENGTH), primary_key=True),
    Column("pipeline", String(PIPELINE_NAME_LENGTH), nullable=False),
    Column("model", String(NAME_LENGTH), nullable=False),
    Column("status", String(30), nullable=False),
    Column("pipeline_run_id", String(RUN_ID_LENGTH), nullable=False),
    Column("trigger_kind", String(20), nullable=False),
    Column("alert_key", String(PIPELINE_KEY_LENGTH), nullable=True),
    Column("challenger_version", BigInteger, nullable=True),
    Column("champion_version", BigInteger, nullable=True),
    Column("approval_id", String(64), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index(None, "status"),
    Index(None, "pipeline", "created_at"),
)

remediation_steps = Table(
    "remediation_steps",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("remediation_id", String(RUN_ID_LENGTH), nullable=False),
    Column("step", String(50), nullable=False),
    Column("status", String(20), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("details", Text, nullable=False),
    ForeignKeyConstraint(
        ["remediation_id"],
        ["remediations.id"],
        name="fk_remediation_steps_remediation_id_remediations",
        ondelete="CASCADE",
    ),
    Index(None, "remediation_id", "id"),
)

# -- managed canaries (0006) ---------------------------------------------------------------
#
# One row per canary the controller manages (``moorline.serving.rollout``).
# ``running_deployment`` holds the deployment's name while the canary runs and
# NULL once it ended: its unique constraint keeps one running canary per
# deployment on both backends (NULLs never clash), where a partial index would
# need each dialect's own syntax.

CANARY_ID_LENGTH = 32

canaries = Table(
    "canaries",
    metadata,
    Column("id", String(CANARY_ID_LENGTH), primary_key=True),
    Column("deployment", String(DEPLOYMENT_NAME_LENGTH), nullable=False),
    Column("model", String(NAME_LENGTH), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("champion", BigInteger, nullable=False),
    Column("challenger", BigInteger, nullable=False),
    Column("weight", Double, nullable=False),
    Column("policy", Text, nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("deadline_at", BigInteger, nullable=False),
    Column("started_by", String(NAME_LENGTH), nullable=False),
    Column("remediation_id", String(RUN_ID_LENGTH), nullable=True),
    Column("status", String(20), nullable=False),
    Column("running_deployment", String(DEPLOYMENT_NAME_LENGTH), nullable=True),
    Column("last_verdict", Text, nullable=True),
    Column("reason", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger, nullable=True),
    Column("ended_revision", BigInteger, nullable=True),
    UniqueConstraint("running_deployment"),
    Index(None, "deployment", "started_at"),
    Index(None, "status"),
)

# -- serving usage (0007) ------------------------------------------------------------------
#
# One row per (deployment, model, version, UTC hour) with the requests, rows and
# CPU seconds the model servers counted (``moorline.serving.usage``). Writers
# add to a row (INSERT ... ON CONFLICT DO UPDATE SET x = x + excluded.x), so
# every worker and replica writes the same hours without coordination. The
# fleet page reads a model's recent hours through (model, hour).

serving_usage = Table(
    "serving_usage",
    metadata,
    Column("deployment", String(DEPLOYMENT_NAME_LENGTH), nullable=False),
    Column("model", String(NAME_LENGTH), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("hour", BigInteger, nullable=False),
    Column("requests", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("cpu_s", Double, nullable=False),
    Column("predict_cpu_s", Double, nullable=False),
    PrimaryKeyConstraint("deployment", "model", "version", "hour"),
    Index(None, "model", "hour"),
    sqlite_with_rowid=False,
)
