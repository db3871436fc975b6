"""Serving's ports over SQL: deployments, consumers and the prediction log.

Deployments and consumers change like the registry does (see
:mod:`moorline.store.sql._changes`): each mutation runs in one write
transaction that takes the audit head lock first, writes the change and its
hash-chained audit entry (and events) together. Holding that lock is also
what makes "one active consumer per (model, name)" safe on PostgreSQL
without a partial unique index: every writer of consumers is serialised.

A deployment change is a compare-and-set on its ``revision``: the UPDATE
names the revision the caller read, so of two concurrent changes one wins
and the other gets :class:`~moorline.errors.Conflict`; the history row is
written in the same transaction.

Serving usage (requests, rows and CPU seconds per deployment, version and
hour) is added up in the database: one ``INSERT ... ON CONFLICT DO UPDATE SET
x = x + excluded.x`` per record, all in one transaction, with the records in
key order so concurrent writers lock rows in the same order (no deadlock on
PostgreSQL) and lose nothing.

The prediction log is written off the request path (by
:class:`moorline.serving.prediction_log.PredictionLogger`) in batches, each
one INSERT for the whole batch (:class:`~moorline.store.sql._base.BulkInsert`:
the driver's ``executemany`` on SQLite, one ``unnest`` statement on
PostgreSQL). Inputs and outputs are JSON text written with orjson (NumPy
values included; NaN becomes null; values JSON cannot hold are written as
their ``str``, so an odd value never costs a batch).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson
from sqlalchemy import Engine, and_, bindparam, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from moorline.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from moorline.registry.ports import Change
from moorline.serving.canaries import CanaryRecord, CanarySpec, CanaryStatus
from moorline.serving.canary import CanaryPolicy
from moorline.serving.models import (
    HOUR_MS,
    Consumer,
    Deployment,
    DeploymentSettings,
    Feedback,
    LoggedPrediction,
    PolicyRevision,
    PredictionRecord,
    RevisionAction,
    TrafficPolicy,
    UsageRecord,
    VersionTraffic,
)
from moorline.serving.ports import CanaryStore, ConsumerStore, DeploymentStore, PredictionStore
from moorline.store.sql import tables as t
from moorline.store.sql._base import BulkInsert, SqlStoreBase, chunks, fetch_rows
from moorline.store.sql._changes import ChangeWriter, dumps

_d, _h, _c = t.deployments, t.deployment_revisions, t.consumers
_p, _f, _u = t.predictions, t.prediction_feedback, t.serving_usage

#: Most rows one read of the prediction log returns.
MAX_READ: Final = 1_000_000
#: Latencies a p99 is computed from when the database has no percentile function
#: (SQLite): the newest ones of the window, so the work stays bounded.
MAX_LATENCY_SAMPLES: Final = 200_000
#: Distinct undeclared callers reported.
MAX_CALLERS: Final = 1000
#: Longest caller description kept (an address and a user agent).
MAX_CALLER: Final = 1000

_DEPLOYMENT_COLUMNS = (
    _d.c.name,
    _d.c.model,
    _d.c.policy,
    _d.c.settings,
    _d.c.revision,
    _d.c.description,
    _d.c.created_at,
    _d.c.updated_at,
    _d.c.updated_by,
)
_SELECT_DEPLOYMENT = select(*_DEPLOYMENT_COLUMNS).where(_d.c.name == bindparam("dname"))
_DEPLOYMENT_REVISION = select(_d.c.revision).where(_d.c.name == bindparam("dname"))
_REVISION_COLUMNS = (
    _h.c.deployment,
    _h.c.revision,
    _h.c.action,
    _h.c.policy,
    _h.c.settings,
    _h.c.at,
    _h.c.actor,
    _h.c.reason,
    _h.c.restored_revision,
)
_CONSUMER_COLUMNS = (
    _c.c.name,
    _c.c.model,
    _c.c.owner,
    _c.c.fields,
    _c.c.key_id,
    _c.c.key_hash,
    _c.c.created_at,
    _c.c.revoked_at,
)
_PREDICTION_NAMES = (
    "prediction_id",
    "deployment",
    "model",
    "version",
    "at",
    "inputs",
    "outputs",
    "latency_ms",
    "consumer",
    "caller",
    "shadow",
    "rows",
    "columns",
    "error_id",
)
_READ_COLUMNS = (
    *(_p.c[name] for name in _PREDICTION_NAMES),
    _f.c.labels,
    _f.c.at.label("labelled_at"),
)


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()


# -- deployments -----------------------------------------------------------------------


def _deployment(row: Sequence[Any]) -> Deployment:
    name, model, policy, settings, revision, description, created, updated, by = row
    return Deployment(
        name=name,
        model=model,
        policy=TrafficPolicy.from_dict(json.loads(policy)),
        settings=DeploymentSettings.from_dict(json.loads(settings)),
        revision=int(revision),
        description=description,
        created_at=int(created),
        updated_at=int(updated),
        updated_by=by,
    )


def _revision(row: Sequence[Any]) -> PolicyRevision:
    deployment, revision, action, policy, settings, at, actor, reason, restored = row
    return PolicyRevision(
        deployment=deployment,
        revision=int(revision),
        action=RevisionAction(action),
        policy=TrafficPolicy.from_dict(json.loads(policy)),
        settings=DeploymentSettings.from_dict(json.loads(settings)),
        at=int(at),
        actor=actor,
        reason=reason,
        restored_revision=None if restored is None else int(restored),
    )


def _revision_row(revision: PolicyRevision) -> dict[str, Any]:
    return {
        "deployment": revision.deployment,
        "revision": revision.revision,
        "action": RevisionAction(revision.action).value,
        "policy": dumps(revision.policy.to_dict()),
        "settings": dumps(revision.settings.to_dict()),
        "at": revision.at,
        "actor": revision.actor,
        "reason": revision.reason,
        "restored_revision": revision.restored_revision,
    }


class SqlDeploymentStore(ChangeWriter, DeploymentStore):
    """Deployments and their revision history (audited, compare-and-set on revision)."""

    def create_deployment(self, deployment: Deployment, *, change: Change) -> Deployment:
        stored = Deployment(
            name=deployment.name,
            model=deployment.model,
            policy=deployment.policy,
            settings=deployment.settings,
            revision=1,
            description=deployment.description,
            created_at=deployment.created_at,
            updated_at=deployment.updated_at,
            updated_by=deployment.updated_by,
        )
        first = PolicyRevision(
            deployment=stored.name,
            revision=1,
            action=RevisionAction.DEPLOY,
            policy=stored.policy,
            settings=stored.settings,
            at=stored.created_at,
            actor=stored.updated_by,
            reason=change.audit.reason,
        )
        with self._change_tx() as tx:
            conn = tx.conn
            if conn.execute(_DEPLOYMENT_REVISION, {"dname": stored.name}).first() is not None:
                raise AlreadyExists(f"A deployment named {stored.name!r} already exists")
            conn.execute(
                _d.insert(),
                {
                    "name": stored.name,
                    "model": stored.model,
                    "policy": dumps(stored.policy.to_dict()),
                    "settings": dumps(stored.settings.to_dict()),
                    "revision": 1,
                    "description": stored.description,
                    "created_at": stored.created_at,
                    "updated_at": stored.updated_at,
                    "updated_by": stored.updated_by,
                },
            )
            conn.execute(_h.insert(), _revision_row(first))
            self._record(tx, change, now=stored.created_at or None)
        return stored

    def get_deployment(self, name: str) -> Deployment:
        with self._read() as conn:
            row = conn.execute(_SELECT_DEPLOYMENT, {"dname": name}).first()
        if row is None:
            raise NotFound(f"Deployment {name!r} not found")
        return _deployment(tuple(row))

    def list_deployments(self, *, model: str | None = None) -> list[Deployment]:
        query = select(*_DEPLOYMENT_COLUMNS).order_by(_d.c.name)
        if model is not None:
            query = query.where(_d.c.model == model)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_deployment(tuple(row)) for row in rows]

    def deployment_revisions(self) -> dict[str, int]:
        with self._read() as conn:
            rows = fetch_rows(conn, select(_d.c.name, _d.c.revision))
        return {name: int(revision) for name, revision in rows}

    def update_deployment(
        self, revision: PolicyRevision, *, expected_revision: int, change: Change
    ) -> Deployment:
        name = revision.deployment
        if revision.revision != expected_revision + 1:
            raise InvalidArgument(
                f"Revision {revision.revision} of deployment {name!r} must follow "
                f"revision {expected_revision} directly"
            )
        with self._change_tx() as tx:
            conn = tx.conn
            done = conn.execute(
                update(_d)
                .where(_d.c.name == name, _d.c.revision == expected_revision)
                .values(
                    policy=dumps(revision.policy.to_dict()),
                    settings=dumps(revision.settings.to_dict()),
                    revision=revision.revision,
                    updated_at=revision.at,
                    updated_by=revision.actor,
                )
            )
            if done.rowcount == 0:
                current = conn.execute(_DEPLOYMENT_REVISION, {"dname": name}).scalar()
                if current is None:
                    raise NotFound(f"Deployment {name!r} not found")
                raise Conflict(
                    f"Deployment {name!r} is at revision {current}, not {expected_revision}: "
                    "another change was applied first; read it again and retry"
                )
            conn.execute(_h.insert(), _revision_row(revision))
            self._record(tx, change, now=revision.at or None)
            row = conn.execute(_SELECT_DEPLOYMENT, {"dname": name}).one()
        return _deployment(tuple(row))

    def policy_history(self, name: str, *, limit: int = 100) -> list[PolicyRevision]:
        query = (
            select(*_REVISION_COLUMNS)
            .where(_h.c.deployment == name)
            .order_by(_h.c.revision.desc())
            .limit(limit)
        )
        with self._read() as conn:
            if conn.execute(_DEPLOYMENT_REVISION, {"dname": name}).first() is None:
                raise NotFound(f"Deployment {name!r} not found")
            rows = conn.execute(query).all()
        return [_revision(tuple(row)) for row in rows]

    def delete_deployment(self, name: str, *, change: Change) -> None:
        with self._change_tx() as tx:
            conn = tx.conn
            # The history first: SQLite enforces the cascade only with foreign keys on.
            conn.execute(delete(_h).where(_h.c.deployment == name))
            if conn.execute(delete(_d).where(_d.c.name == name)).rowcount == 0:
                raise NotFound(f"Deployment {name!r} not found")
            self._record(tx, change)


# -- consumers -------------------------------------------------------------------------


def _consumer(row: Sequence[Any]) -> Consumer:
    name, model, owner, fields, key_id, key_hash, created, revoked = row
    return Consumer(
        name=name,
        model=model,
        owner=owner,
        fields=tuple(json.loads(fields)),
        key_id=key_id,
        key_hash=key_hash,
        created_at=int(created),
        revoked_at=None if revoked is None else int(revoked),
    )


_ACTIVE_CONSUMER = select(_c.c.key_id).where(
    _c.c.model == bindparam("model"), _c.c.name == bindparam("cname"), _c.c.revoked_at.is_(None)
)


class SqlConsumerStore(ChangeWriter, ConsumerStore):
    """Declared consumers of models (audited; one active per model and name)."""

    def add_consumer(self, consumer: Consumer, *, change: Change) -> Consumer:
        with self._change_tx() as tx:
            conn = tx.conn
            taken = {"model": consumer.model, "cname": consumer.name}
            if conn.execute(_ACTIVE_CONSUMER, taken).first() is not None:
                raise AlreadyExists(
                    f"Model {consumer.model!r} already has an active consumer named "
                    f"{consumer.name!r}; revoke it first to declare it again"
                )
            if conn.execute(select(_c.c.key_id).where(_c.c.key_id == consumer.key_id)).first():
                raise AlreadyExists(f"Consumer key id {consumer.key_id!r} is already in use")
            conn.execute(
                _c.insert(),
                {
                    "key_id": consumer.key_id,
                    "model": consumer.model,
                    "name": consumer.name,
                    "owner": consumer.owner,
                    "fields": dumps(list(consumer.fields)),
                    "key_hash": consumer.key_hash,
                    "created_at": consumer.created_at,
                    "revoked_at": consumer.revoked_at,
                },
            )
            self._record(tx, change, now=consumer.created_at or None)
        return consumer

    def get_consumer_by_key(self, key_id: str) -> Consumer | None:
        with self._read() as conn:
            row = conn.execute(select(*_CONSUMER_COLUMNS).where(_c.c.key_id == key_id)).first()
        return None if row is None else _consumer(tuple(row))

    def list_consumers(self, *, model: str | None = None) -> list[Consumer]:
        query = (
            select(*_CONSUMER_COLUMNS)
            .where(_c.c.revoked_at.is_(None))
            .order_by(_c.c.model, _c.c.name)
        )
        if model is not None:
            query = query.where(_c.c.model == model)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_consumer(tuple(row)) for row in rows]

    def revoke_consumer(self, model: str, name: str, *, now: int, change: Change) -> None:
        with self._change_tx() as tx:
            done = tx.conn.execute(
                update(_c)
                .where(_c.c.model == model, _c.c.name == name, _c.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if done.rowcount == 0:
                raise NotFound(f"Model {model!r} has no active consumer named {name!r}")
            self._record(tx, change, now=now or None)


# -- the prediction log ----------------------------------------------------------------


_MAX_BIGINT: Final = 2**63 - 1


def _check_record(index: int, record: PredictionRecord) -> None:
    """Refuse what the columns cannot hold, naming the record, before anything is written."""
    problem = None
    pid = record.prediction_id
    if not isinstance(pid, str) or not 1 <= len(pid) <= t.PREDICTION_ID_LENGTH:
        problem = f"prediction_id must be 1 to {t.PREDICTION_ID_LENGTH} characters"
    elif not isinstance(record.deployment, str) or not record.deployment:
        problem = "it names no deployment"
    elif len(record.deployment) > t.DEPLOYMENT_NAME_LENGTH:
        problem = f"its deployment name is longer than {t.DEPLOYMENT_NAME_LENGTH} characters"
    elif not isinstance(record.model, str) or not 1 <= len(record.model) <= t.NAME_LENGTH:
        problem = f"its model name must be 1 to {t.NAME_LENGTH} characters"
    elif (
        isinstance(record.version, bool)
        or not isinstance(record.version, int)
        or not 1 <= record.version <= _MAX_BIGINT
    ):
        problem = f"version {record.version!r} is not a model version number"
    elif (
        isinstance(record.at, bool)
        or not isinstance(record.at, int)
        or abs(record.at) > _MAX_BIGINT
    ):
        problem = f"at {record.at!r} is not a time in milliseconds"
    elif record.consumer is not None and len(record.consumer) > 100:
        problem = "its consumer name is longer than 100 characters"
    elif record.error_id is not None and len(record.error_id) > t.PREDICTION_ID_LENGTH:
        problem = f"error_id is longer than {t.PREDICTION_ID_LENGTH} characters"
    elif not isinstance(record.inputs, list) or not isinstance(record.outputs, list):
        problem = "inputs and outputs must be lists"
    if problem is not None:
        raise InvalidArgument(
            f"Prediction record {index} ({str(pid)[:80]!r}) cannot be logged: {problem}; "
            "nothing of the batch was written"
        )


def _prediction_row(record: PredictionRecord) -> tuple[Any, ...]:
    return (
        record.prediction_id,
        record.deployment,
        record.model,
        record.version,
        record.at,
        _json(record.inputs),
        _json(record.outputs),
        float(record.latency_ms) if math.isfinite(record.latency_ms) else 0.0,
        record.consumer,
        (record.caller or "")[:MAX_CALLER],
        bool(record.shadow),
        len(record.inputs),
        None if record.columns is None else _json(list(record.columns)),
        record.error_id,
    )


def _logged(row: Sequence[Any]) -> LoggedPrediction:
    (
        prediction_id,
        deployment,
        model,
        version,
        at,
        inputs,
        outputs,
        latency_ms,
        consumer,
        caller,
        shadow,
        _rows,
        columns,
        error_id,
        labels,
        labelled_at,
    ) = row
    record = PredictionRecord(
        prediction_id=prediction_id,
        deployment=deployment,
        model=model,
        version=int(version),
        at=int(at),
        inputs=orjson.loads(inputs),
        outputs=orjson.loads(outputs),
        latency_ms=float(latency_ms),
        consumer=consumer,
        caller=caller,
        shadow=bool(shadow),
        columns=None if columns is None else tuple(orjson.loads(columns)),
        error_id=error_id,
    )
    return LoggedPrediction(
        record=record,
        labels=None if labels is None else orjson.loads(labels),
        labelled_at=None if labelled_at is None else int(labelled_at),
    )


_USAGE_COUNTERS: Final = ("requests", "rows", "cpu_s", "predict_cpu_s")
_USAGE_COLUMNS = (
    _u.c.deployment,
    _u.c.model,
    _u.c.version,
    _u.c.hour,
    _u.c.requests,
    _u.c.rows,
    _u.c.cpu_s,
    _u.c.predict_cpu_s,
)


def _is_int(value: object, low: int, high: int = _MAX_BIGINT) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_seconds(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _check_usage(index: int, record: UsageRecord) -> None:
    """Refuse what the columns cannot hold, naming the record, before anything is written."""
    problem = None
    if not isinstance(record.deployment, str) or not record.deployment:
        problem = "it names no deployment"
    elif len(record.deployment) > t.DEPLOYMENT_NAME_LENGTH:
        problem = f"its deployment name is longer than {t.DEPLOYMENT_NAME_LENGTH} characters"
    elif not isinstance(record.model, str) or not 1 <= len(record.model) <= t.NAME_LENGTH:
        problem = f"its model name must be 1 to {t.NAME_LENGTH} characters"
    elif not _is_int(record.version, 1):
        problem = f"version {record.version!r} is not a model version number"
    elif not _is_int(record.hour, -_MAX_BIGINT) or record.hour % HOUR_MS:
        problem = f"hour {record.hour!r} is not the start of an hour in milliseconds"
    elif not _is_int(record.requests, 0) or not _is_int(record.rows, 0):
        problem = "requests and rows must be integers, 0 or more"
    elif not _is_seconds(record.cpu_s) or not _is_seconds(record.predict_cpu_s):
        problem = "cpu_s and predict_cpu_s must be finite numbers of seconds, 0 or more"
    elif record.predict_cpu_s > record.cpu_s:
        problem = "predict_cpu_s is more than cpu_s (which includes it)"
    if problem is not None:
        raise InvalidArgument(
            f"Usage record {index} ({str(record.deployment)[:100]!r} v{record.version!r}) "
            f"cannot be stored: {problem}; nothing was written"
        )


def _time_bound(name: str, value: object) -> None:
    if value is not None and not _is_int(value, -_MAX_BIGINT):
        raise InvalidArgument(f"{name} must be a time in milliseconds, got {value!r}")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` with linear interpolation, as
    PostgreSQL's ``percentile_cont`` computes it.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.5
    >>> percentile([5.0], 0.99)
    5.0
    """
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class SqlPredictionStore(SqlStoreBase, PredictionStore):
    """The prediction log and its feedback."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._bulk = BulkInsert(engine, _p, _PREDICTION_NAMES)
        insert = self._insert(_u)
        self._add_usage = insert.on_conflict_do_update(
            index_elements=["deployment", "model", "version", "hour"],
            set_={c: _u.c[c] + insert.excluded[c] for c in _USAGE_COUNTERS},
        )

    def append_predictions(self, records: Sequence[PredictionRecord]) -> None:
        if not records:
            return
        for index, record in enumerate(records):
            _check_record(index, record)
        rows = [_prediction_row(r) for r in records]
        with self._write() as conn:
            self._bulk.execute(conn, rows)

    def add_feedback(self, items: Sequence[Feedback]) -> int:
        if not items:
            return 0
        # One row per id (a later label replaces an earlier one, in the batch too).
        latest = {item.prediction_id: item for item in items}
        stmt = self._upsert(_f, ["prediction_id"], ["labels", "at"])
        rows = [
            {"prediction_id": pid, "labels": _json(item.labels), "at": item.at}
            for pid, item in latest.items()
        ]
        ids = list(latest)
        matched: set[str] = set()
        with self._write() as conn:
            conn.execute(stmt, rows)
            for part in chunks(ids):
                found = conn.execute(
                    select(_p.c.prediction_id).distinct().where(_p.c.prediction_id.in_(part))
                )
                matched.update(found.scalars())
        return sum(1 for item in items if item.prediction_id in matched)

    def read_predictions(
        self,
        deployment: str,
        *,
        since: int | None = None,
        until: int | None = None,
        version: int | None = None,
        shadow: bool | None = False,
        limit: int = 100_000,
    ) -> list[LoggedPrediction]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_READ:
            raise InvalidArgument(f"limit must be an integer in [1, {MAX_READ}]")
        query = (
            select(*_READ_COLUMNS)
            .select_from(_p.outerjoin(_f, _f.c.prediction_id == _p.c.prediction_id))
            .where(*self._window(deployment, since, until))
            .order_by(_p.c.at, _p.c.id)
            .limit(limit)
        )
        if version is not None:
            query = query.where(_p.c.version == version)
        if shadow is not None:
            query = query.where(_p.c.shadow.is_(shadow))
        with self._read() as conn:
            rows = fetch_rows(conn, query)
        return [_logged(row) for row in rows]

    @staticmethod
    def _window(deployment: str, since: int | None, until: int | None) -> list[Any]:
        conditions: list[Any] = [_p.c.deployment == deployment]
        if since is not None:
            conditions.append(_p.c.at >= since)
        if until is not None:
            conditions.append(_p.c.at < until)
        return conditions

    def traffic(
        self, deployment: str, *, since: int, until: int | None = None
    ) -> list[VersionTraffic]:
        """Per version in the window: ``requests`` answered to callers and
        ``shadow_requests`` (copies), ``errors`` (either kind), ``rows`` predicted,
        ``labelled`` logged answers with feedback, and the mean and p99 latency of
        the answers that did not fail (shadow copies included: it is the
        version's latency)."""
        window = self._window(deployment, since, until)
        answered = _p.c.error_id.is_(None)
        ok_latency = case((answered, _p.c.latency_ms))
        columns: list[Any] = [
            _p.c.version,
            func.sum(case((_p.c.shadow.is_(False), 1), else_=0)),
            func.sum(case((_p.c.shadow.is_(True), 1), else_=0)),
            func.sum(case((answered, 0), else_=1)),
            func.sum(_p.c.rows),
            func.sum(case((_f.c.prediction_id.is_not(None), 1), else_=0)),
            func.avg(ok_latency),
        ]
        if not self._sqlite:
            columns.append(func.percentile_cont(0.99).within_group(ok_latency))
        query = (
            select(*columns)
            .select_from(_p.outerjoin(_f, _f.c.prediction_id == _p.c.prediction_id))
            .where(*window)
            .group_by(_p.c.version)
            .order_by(_p.c.version)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
            p99 = (
                {int(row[0]): row[7] for row in rows}
                if not self._sqlite
                else self._p99_sampled(conn, window)
            )
        out = []
        for row in rows:
            version = int(row[0])
            mean = row[6]
            tail = p99.get(version)
            out.append(
                VersionTraffic(
                    version=version,
                    requests=int(row[1] or 0),
                    shadow_requests=int(row[2] or 0),
                    errors=int(row[3] or 0),
                    rows=int(row[4] or 0),
                    labelled=int(row[5] or 0),
                    mean_latency_ms=None if mean is None else float(mean),
                    p99_latency_ms=None if tail is None else float(tail),
                )
            )
        return out

    @staticmethod
    def _p99_sampled(conn: Any, window: list[Any]) -> dict[int, float]:
        """p99 per version from the newest :data:`MAX_LATENCY_SAMPLES` answers."""
        query = (
            select(_p.c.version, _p.c.latency_ms)
            .where(and_(*window), _p.c.error_id.is_(None))
            .order_by(_p.c.at.desc())
            .limit(MAX_LATENCY_SAMPLES)
        )
        by_version: dict[int, list[float]] = {}
        for version, latency in fetch_rows(conn, query):
            by_version.setdefault(int(version), []).append(float(latency))
        return {version: percentile(values, 0.99) for version, values in by_version.items()}

    def undeclared_callers(self, deployment: str, *, since: int) -> dict[str, int]:
        count = func.count()
        query = (
            select(_p.c.caller, count)
            .where(
                *self._window(deployment, since, None),
                _p.c.consumer.is_(None),
                _p.c.shadow.is_(False),
            )
            .group_by(_p.c.caller)
            .order_by(count.desc(), _p.c.caller)
            .limit(MAX_CALLERS)
        )
        with self._read() as conn:
            rows = fetch_rows(conn, query)
        return {str(caller): int(n) for caller, n in rows}

    def record_usage(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        for index, record in enumerate(records):
            _check_usage(index, record)
        # One row per key (PostgreSQL refuses to update a row twice in one statement),
        # in key order: concurrent writers then lock the rows they share in one order.
        merged: dict[tuple[str, str, int, int], list[Any]] = {}
        for r in records:
            cell = merged.get(r.key)
            if cell is None:
                merged[r.key] = [r.requests, r.rows, float(r.cpu_s), float(r.predict_cpu_s)]
            else:
                cell[0] += r.requests
                cell[1] += r.rows
                cell[2] += r.cpu_s
                cell[3] += r.predict_cpu_s
        rows = [
            {
                "deployment": deployment,
                "model": model,
                "version": version,
                "hour": hour,
                "requests": cell[0],
                "rows": cell[1],
                "cpu_s": cell[2],
                "predict_cpu_s": cell[3],
            }
            for (deployment, model, version, hour), cell in sorted(merged.items())
        ]
        with self._write() as conn:
            conn.execute(self._add_usage, rows)

    def usage(
        self,
        *,
        model: str | None = None,
        deployment: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[UsageRecord]:
        _time_bound("since", since)
        _time_bound("until", until)
        query = select(*_USAGE_COLUMNS).order_by(
            _u.c.hour, _u.c.deployment, _u.c.version, _u.c.model
        )
        if model is not None:
            query = query.where(_u.c.model == model)
        if deployment is not None:
            query = query.where(_u.c.deployment == deployment)
        if since is not None:
            query = query.where(_u.c.hour >= since)
        if until is not None:
            query = query.where(_u.c.hour < until)
        with self._read() as conn:
            rows = fetch_rows(conn, query)
        return [
            UsageRecord(
                deployment=d,
                model=m,
                version=int(v),
                hour=int(h),
                requests=int(n),
                rows=int(r),
                cpu_s=float(cpu),
                predict_cpu_s=float(predict),
            )
            for d, m, v, h, n, r, cpu, predict in rows
        ]


__all__ = [
    "SqlCanaryStore",
    "SqlConsumerStore",
    "SqlDeploymentStore",
    "SqlPredictionStore",
    "percentile",
]


# -- managed canaries ------------------------------------------------------------------

_k = t.canaries
_CANARY_COLUMNS = (
    _k.c.id,
    _k.c.deployment,
    _k.c.model,
    _k.c.revision,
    _k.c.champion,
    _k.c.challenger,
    _k.c.weight,
    _k.c.policy,
    _k.c.started_at,
    _k.c.started_by,
    _k.c.remediation_id,
    _k.c.status,
    _k.c.last_verdict,
    _k.c.reason,
    _k.c.updated_at,
    _k.c.ended_at,
    _k.c.ended_revision,
)
#: Most canaries one list returns.
MAX_CANARIES: Final = 10_000


def _canary(row: Sequence[Any]) -> CanaryRecord:
    (
        cid,
        deployment,
        model,
        revision,
        champion,
        challenger,
        weight,
        policy,
        started_at,
        started_by,
        remediation,
        status,
        verdict,
        reason,
        updated_at,
        ended_at,
        ended_revision,
    ) = row
    spec = CanarySpec(
        id=cid,
        deployment=deployment,
        model=model,
        champion=int(champion),
        challenger=int(challenger),
        weight=float(weight),
        policy=CanaryPolicy.from_dict(json.loads(policy)),
        revision=int(revision),
        started_at=int(started_at),
        remediation=remediation,
        started_by=started_by,
    )
    return CanaryRecord(
        spec=spec,
        status=CanaryStatus(status),
        updated_at=int(updated_at),
        last_verdict=None if verdict is None else json.loads(verdict),
        ended_at=None if ended_at is None else int(ended_at),
        ended_revision=None if ended_revision is None else int(ended_revision),
        reason=reason,
    )


class SqlCanaryStore(SqlStoreBase, CanaryStore):
    """Managed canaries: one running per deployment (a unique column that is NULL
    once a canary ended), status changes as compare-and-set on ``running``."""

    def add_canary(self, record: CanaryRecord) -> CanaryRecord:
        if not record.running:
            raise InvalidArgument("A new canary is running")
        spec = record.spec
        if not spec.id:
            raise InvalidArgument("A canary needs an id")
        with self._write() as conn:
            if conn.execute(select(_k.c.id).where(_k.c.id == spec.id)).first() is not None:
                raise AlreadyExists(f"A canary with id {spec.id!r} already exists")
            running = conn.execute(
                select(_k.c.id, _k.c.challenger).where(_k.c.running_deployment == spec.deployment)
            ).first()
            if running is not None:
                raise _busy(spec.deployment, running[0], int(running[1]))
            try:
                conn.execute(
                    _k.insert().values(
                        id=spec.id,
                        deployment=spec.deployment,
                        model=spec.model,
                        revision=spec.revision,
                        champion=spec.champion,
                        challenger=spec.challenger,
                        weight=spec.weight,
                        policy=dumps(spec.policy.to_dict()),
                        started_at=spec.started_at,
                        deadline_at=spec.deadline_at,
                        started_by=spec.started_by,
                        remediation_id=spec.remediation,
                        status=CanaryStatus.RUNNING.value,
                        running_deployment=spec.deployment,
                        last_verdict=None
                        if record.last_verdict is None
                        else _json(record.last_verdict),
                        reason=record.reason,
                        updated_at=record.updated_at,
                    )
                )
            except IntegrityError:
                # Another start of the same deployment committed between check and insert.
                raise Conflict(
                    f"Deployment {spec.deployment!r} started another canary at the same moment"
                ) from None
        return record

    def get_canary(self, canary_id: str) -> CanaryRecord:
        with self._read() as conn:
            row = conn.execute(select(*_CANARY_COLUMNS).where(_k.c.id == canary_id)).first()
        if row is None:
            raise NotFound(f"Canary {canary_id!r} not found")
        return _canary(tuple(row))

    def running_canary(self, deployment: str) -> CanaryRecord | None:
        query = select(*_CANARY_COLUMNS).where(_k.c.running_deployment == deployment)
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _canary(tuple(row))

    def list_canaries(
        self,
        *,
        deployment: str | None = None,
        status: CanaryStatus | None = None,
        limit: int = 100,
    ) -> list[CanaryRecord]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_CANARIES:
            raise InvalidArgument(f"limit must be an integer in [1, {MAX_CANARIES}]")
        query = select(*_CANARY_COLUMNS)
        if deployment is not None:
            query = query.where(_k.c.deployment == deployment)
        if status is not None:
            query = query.where(_k.c.status == CanaryStatus(status).value)
        query = query.order_by(_k.c.started_at.desc(), _k.c.id.desc()).limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_canary(tuple(row)) for row in rows]

    def update_canary(
        self,
        canary_id: str,
        *,
        now: int,
        revision: int | None = None,
        started_at: int | None = None,
        last_verdict: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> bool:
        values: dict[str, Any] = {"updated_at": now}
        if revision is not None:
            values["revision"] = revision
        if last_verdict is not None:
            values["last_verdict"] = _json(last_verdict)
        if reason is not None:
            values["reason"] = reason
        with self._write() as conn:
            if started_at is not None:
                row = conn.execute(select(_k.c.policy).where(_k.c.id == canary_id)).first()
                if row is not None:
                    policy = CanaryPolicy.from_dict(json.loads(row[0]))
                    values["started_at"] = started_at
                    values["deadline_at"] = started_at + round(policy.max_duration_s * 1000)
            return self._changed(conn, canary_id, values)

    def finish_canary(
        self,
        canary_id: str,
        *,
        status: CanaryStatus,
        now: int,
        reason: str,
        ended_revision: int | None = None,
        last_verdict: Mapping[str, Any] | None = None,
    ) -> bool:
        status = CanaryStatus(status)
        if status is CanaryStatus.RUNNING:
            raise InvalidArgument("A canary ends promoted, rolled_back or aborted")
        values: dict[str, Any] = {
            "status": status.value,
            "running_deployment": None,
            "reason": reason,
            "updated_at": now,
            "ended_at": now,
            "ended_revision": ended_revision,
        }
        if last_verdict is not None:
            values["last_verdict"] = _json(last_verdict)
        with self._write() as conn:
            return self._changed(conn, canary_id, values)

    @staticmethod
    def _changed(conn: Any, canary_id: str, values: Mapping[str, Any]) -> bool:
        done = conn.execute(
            update(_k)
            .where(_k.c.id == canary_id, _k.c.status == CanaryStatus.RUNNING.value)
            .values(**values)
        )
        if done.rowcount:
            return True
        if conn.execute(select(_k.c.id).where(_k.c.id == canary_id)).first() is None:
            raise NotFound(f"Canary {canary_id!r} not found")
        return False

    def discard_canary(self, canary_id: str) -> None:
        with self._write() as conn:
            if conn.execute(delete(_k).where(_k.c.id == canary_id)).rowcount == 0:
                raise NotFound(f"Canary {canary_id!r} not found")


def _busy(deployment: str, canary_id: str, challenger: int) -> Conflict:
    return Conflict(
        f"Deployment {deployment!r} runs canary {canary_id} (v{challenger}) already: "
        "end it first ('moorline canary abort')"
    )
