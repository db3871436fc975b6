"""Translate the search AST (:class:`Clause`, :class:`OrderKey`) into SQL.

The parser (``moorline.tracking``) has already checked keys, operators and
literal types; this module only maps them onto tables, and refuses what a
table cannot answer with :class:`~moorline.errors.InvalidArgument`.

Semantics, identical on SQLite and PostgreSQL:

- ``metrics.k`` compares the run's *latest* value of ``k``. NaN (stored as
  NULL) compares like IEEE NaN: it never satisfies ``= < <= > >=`` and always
  satisfies ``!=``. Runs without the metric never match.
- ``params.k`` / ``tags.k`` match runs that have the key with a matching value;
  ``IS NULL`` matches runs lacking the key, ``IS NOT NULL`` runs having it.
- ``datasets.name|digest|context`` match runs with *at least one* dataset
  input whose field matches (so ``NOT IN`` means "has an input outside the
  list"); ``context`` is the input's ``mlflow.data.context`` tag.
- ``LIKE`` is case-sensitive and ``ILIKE`` case-insensitive on both backends;
  ``%`` and ``_`` are the only wildcards and there is no escape character.
  SQLite's own LIKE ignores case, so there LIKE becomes GLOB and ILIKE
  becomes GLOB over a Unicode-aware ``moorline_lower()`` (registered on every
  connection by ``engine.py``).
- Ordering puts rows in buckets before comparing values: present < NaN <
  missing, in both directions, so rows lacking the key always come last.
  Strings order by code point on both backends (``COLLATE "C"`` on PostgreSQL).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    collate,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.sql.elements import KeyedColumnElement

from moorline.errors import InvalidArgument
from moorline.store.sql import tables as t
from moorline.store.sql._base import parse_experiment_id
from moorline.tracking.models import TAG_DATASET_CONTEXT
from moorline.tracking.search import Clause, OrderKey

_STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN", ">", ">=", "<", "<="})
_NUMERIC_OPS = frozenset({"=", "!=", ">", ">=", "<", "<="})
_IN_OPS = frozenset({"IN", "NOT IN"})

AnyColumn = ColumnElement[Any]


# -- value comparisons -------------------------------------------------------


def like_to_glob(pattern: str) -> str:
    """A LIKE pattern as a GLOB pattern with the same meaning (GLOB is case-sensitive).

    >>> like_to_glob("a%b_c*?[")
    'a*b?c[*][?][[]'
    """
    out = []
    for ch in pattern:
        if ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    return "".join(out)


def _like(col: AnyColumn, pattern: str, *, insensitive: bool, sqlite: bool) -> ColumnElement[bool]:
    if sqlite:
        target: ColumnElement[object] = func.moorline_lower(col) if insensitive else col
        glob = like_to_glob(pattern.lower() if insensitive else pattern)
        return target.op("GLOB", is_comparison=True)(literal(glob, String()))
    # PostgreSQL's default escape character is the backslash; double it so it stays literal.
    escaped = pattern.replace("\\", "\\\\")
    return col.ilike(escaped) if insensitive else col.like(escaped)


def string_condition(
    col: AnyColumn, op: str, value: object, *, sqlite: bool
) -> ColumnElement[bool]:
    """``col <op> value`` for a string column."""
    if op in _IN_OPS:
        values = _string_tuple(value, op)
        return col.in_(values) if op == "IN" else col.not_in(values)
    if op not in _STRING_OPS:
        raise InvalidArgument(f"Operator {op!r} cannot compare strings")
    if not isinstance(value, str):
        raise InvalidArgument(f"Operator {op!r} needs a string value, got {value!r}")
    if op == "LIKE":
        return _like(col, value, insensitive=False, sqlite=sqlite)
    if op == "ILIKE":
        return _like(col, value, insensitive=True, sqlite=sqlite)
    return _compare(col, op, value)


def numeric_condition(col: AnyColumn, op: str, value: object) -> ColumnElement[bool]:
    """``col <op> value`` for an integer column (timestamps); NULL never matches."""
    if op not in _NUMERIC_OPS:
        raise InvalidArgument(f"Operator {op!r} cannot compare numbers")
    if isinstance(value, int) and not isinstance(value, bool):
        return _compare(col, op, value)  # exact, even beyond 2**53
    number = _number(value, op)
    if math.isnan(number):
        return false()
    if math.isinf(number):
        # No int64 equals infinity; compare against the extreme representable values.
        number = float(2**63) if number > 0 else -float(2**63)
    bound: int | float = int(number) if number.is_integer() else number
    return _compare(col, op, bound)


def metric_condition(col: AnyColumn, op: str, value: object) -> ColumnElement[bool]:
    """``col <op> value`` for a metric value column where NULL means NaN (IEEE semantics)."""
    if op not in _NUMERIC_OPS:
        raise InvalidArgument(f"Operator {op!r} cannot compare metric values")
    number = _number(value, op)
    if math.isnan(number):
        # NaN equals nothing, not even NaN; it differs from everything.
        return true() if op == "!=" else false()
    cond = _compare(col, op, number)
    return or_(cond, col.is_(None)) if op == "!=" else cond


def _compare(col: AnyColumn, op: str, value: object) -> ColumnElement[bool]:
    if op == "=":
        return col == value
    if op == "!=":
        return col != value
    if op == ">":
        return col > value
    if op == ">=":
        return col >= value
    if op == "<":
        return col < value
    if op == "<=":
        return col <= value
    raise InvalidArgument(f"Unsupported operator {op!r}")


def _number(value: object, op: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"Operator {op!r} needs a numeric value, got {value!r}")
    return float(value)


def _string_tuple(value: object, op: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, tuple) or not value or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"Operator {op!r} needs a non-empty list of strings, got {value!r}")
    return value


def _order_value(col: AnyColumn, *, is_string: bool, sqlite: bool) -> AnyColumn:
    if is_string and not sqlite:
        return collate(col, "C")
    return col


# -- shared pieces: key/value side tables ------------------------------------


def _kv_condition(
    owner: AnyColumn,
    table: Table,
    owner_key: str,
    clause: Clause,
    *,
    sqlite: bool,
) -> ColumnElement[bool]:
    """Filter ``owner`` rows on a key/value side table (params or tags)."""
    owner_col = table.c[owner_key]
    has_key = select(owner_col).where(table.c.key == clause.key)
    if clause.op == "IS NULL":
        return owner.not_in(has_key)
    if clause.op == "IS NOT NULL":
        return owner.in_(has_key)
    return owner.in_(
        has_key.where(string_condition(table.c.value, clause.op, clause.value, sqlite=sqlite))
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Ordering:
    """The outer joins and ORDER BY terms an order_by list needs."""

    from_clause: FromClause
    terms: tuple[ColumnElement[object], ...]


def _bucketed(
    terms: list[ColumnElement[object]],
    bucket: ColumnElement[object] | None,
    value: AnyColumn,
    ascending: bool,
) -> None:
    if bucket is not None:
        terms.append(bucket.asc())
    terms.append(value.asc() if ascending else value.desc())


# -- runs ------------------------------------------------------------------------

_RUN_STRING_COLUMNS: Mapping[str, KeyedColumnElement[object]] = {
    "run_id": t.runs.c.run_uuid,
    "run_name": t.runs.c.name,
    "status": t.runs.c.status,
    "user_id": t.runs.c.user_id,
    "artifact_uri": t.runs.c.artifact_uri,
    "lifecycle_stage": t.runs.c.lifecycle_stage,
}
_RUN_NUMERIC_COLUMNS: Mapping[str, KeyedColumnElement[object]] = {
    "start_time": t.runs.c.start_time,
    "created": t.runs.c.start_time,
    "end_time": t.runs.c.end_time,
}


def run_condition(clause: Clause, *, sqlite: bool) -> ColumnElement[bool]:
    """The WHERE term for one runs filter clause."""
    run_id = t.runs.c.run_uuid
    if clause.entity == "attribute":
        return _attribute_condition(
            clause, _RUN_STRING_COLUMNS, _RUN_NUMERIC_COLUMNS, sqlite=sqlite
        )
    if clause.entity == "metric":
        lm = t.latest_metrics
        if clause.op == "IS NULL":
            return run_id.not_in(select(lm.c.run_uuid).where(lm.c.key == clause.key))
        if clause.op == "IS NOT NULL":
            return run_id.in_(select(lm.c.run_uuid).where(lm.c.key == clause.key))
        cond = metric_condition(lm.c.value, clause.op, clause.value)
        return run_id.in_(select(lm.c.run_uuid).where(lm.c.key == clause.key, cond))
    if clause.entity == "param":
        return _kv_condition(run_id, t.params, "run_uuid", clause, sqlite=sqlite)
    if clause.entity == "tag":
        return _kv_condition(run_id, t.tags, "run_uuid", clause, sqlite=sqlite)
    if clause.entity == "dataset":
        return _dataset_condition(clause, sqlite=sqlite)
    raise InvalidArgument(f"Unsupported filter entity {clause.entity!r} for runs")


def _attribute_condition(
    clause: Clause,
    strings: Mapping[str, AnyColumn],
    numbers: Mapping[str, AnyColumn],
    *,
    sqlite: bool,
) -> ColumnElement[bool]:
    if clause.op in ("IS NULL", "IS NOT NULL"):
        col = strings.get(clause.key, numbers.get(clause.key))
        if col is None:
            raise InvalidArgument(f"Unknown attribute {clause.key!r} in filter")
        return col.is_(None) if clause.op == "IS NULL" else col.is_not(None)
    if clause.key in strings:
        return string_condition(strings[clause.key], clause.op, clause.value, sqlite=sqlite)
    if clause.key in numbers:
        return numeric_condition(numbers[clause.key], clause.op, clause.value)
    raise InvalidArgument(f"Unknown attribute {clause.key!r} in filter")


def _dataset_condition(clause: Clause, *, sqlite: bool) -> ColumnElement[bool]:
    di, ds, dt = t.dataset_inputs, t.datasets, t.dataset_input_tags
    if clause.key in ("name", "digest"):
        col = ds.c[clause.key]
        sub = (
            select(di.c.run_uuid)
            .join(ds, ds.c.dataset_id == di.c.dataset_id)
            .where(string_condition(col, clause.op, clause.value, sqlite=sqlite))
        )
    elif clause.key == "context":
        sub = (
            select(di.c.run_uuid)
            .join(dt, dt.c.input_id == di.c.input_id)
            .where(
                dt.c.key == TAG_DATASET_CONTEXT,
                string_condition(dt.c.value, clause.op, clause.value, sqlite=sqlite),
            )
        )
    else:
        raise InvalidArgument(
            f"Unknown dataset attribute {clause.key!r}; use name, digest or context"
        )
    return t.runs.c.run_uuid.in_(sub)


_RUN_ORDER_COLUMNS: Mapping[str, tuple[KeyedColumnElement[object], bool, bool]] = {
    # key: (column, is_string, nullable)
    "start_time": (t.runs.c.start_time, False, False),
    "created": (t.runs.c.start_time, False, False),
    "end_time": (t.runs.c.end_time, False, True),
    "run_name": (t.runs.c.name, True, False),
    "run_id": (t.runs.c.run_uuid, True, False),
    "status": (t.runs.c.status, True, False),
    "user_id": (t.runs.c.user_id, True, False),
    "artifact_uri": (t.runs.c.artifact_uri, True, False),
    "experiment_id": (t.runs.c.experiment_id, False, False),
    "lifecycle_stage": (t.runs.c.lifecycle_stage, True, False),
}


def run_ordering(order_by: Sequence[OrderKey], *, sqlite: bool) -> Ordering:
    """Joins and ORDER BY terms for runs, with the implicit tie-breakers
    ``start_time DESC`` (unless ordered explicitly) and ``run_id ASC``."""
    runs = t.runs
    from_clause: FromClause = runs
    terms: list[ColumnElement[object]] = []
    explicit_start = False
    for n, key in enumerate(order_by):
        if key.entity == "attribute":
            spec = _RUN_ORDER_COLUMNS.get(key.key)
            if spec is None:
                raise InvalidArgument(f"Cannot order runs by attribute {key.key!r}")
            col, is_string, nullable = spec
            explicit_start = explicit_start or col is runs.c.start_time
            bucket = case((col.is_(None), 1), else_=0) if nullable else None
            _bucketed(
                terms, bucket, _order_value(col, is_string=is_string, sqlite=sqlite), key.ascending
            )
        elif key.entity == "metric":
            lm = t.latest_metrics.alias(f"order_{n}")
            from_clause = from_clause.outerjoin(
                lm, and_(lm.c.run_uuid == runs.c.run_uuid, lm.c.key == key.key)
            )
            bucket = case((lm.c.run_uuid.is_(None), 2), (lm.c.value.is_(None), 1), else_=0)
            _bucketed(terms, bucket, lm.c.value, key.ascending)
        elif key.entity in ("param", "tag"):
            side = (t.params if key.entity == "param" else t.tags).alias(f"order_{n}")
            from_clause = from_clause.outerjoin(
                side, and_(side.c.run_uuid == runs.c.run_uuid, side.c.key == key.key)
            )
            bucket = case((side.c.value.is_(None), 1), else_=0)
            _bucketed(
                terms,
                bucket,
                _order_value(side.c.value, is_string=True, sqlite=sqlite),
                key.ascending,
            )
        else:
            raise InvalidArgument(f"Cannot order runs by {key.entity} {key.key!r}")
    if not explicit_start:
        terms.append(runs.c.start_time.desc())
    terms.append(_order_value(runs.c.run_uuid, is_string=True, sqlite=sqlite).asc())
    return Ordering(from_clause=from_clause, terms=tuple(terms))


# -- experiments ---------------------------------------------------------------

_EXPERIMENT_NUMERIC_COLUMNS: Mapping[str, KeyedColumnElement[object]] = {
    "creation_time": t.experiments.c.creation_time,
    "last_update_time": t.experiments.c.last_update_time,
}


def experiment_condition(clause: Clause, *, sqlite: bool) -> ColumnElement[bool]:
    """The WHERE term for one experiments filter clause."""
    exp = t.experiments
    if clause.entity == "tag":
        return _kv_condition(
            exp.c.experiment_id, t.experiment_tags, "experiment_id", clause, sqlite=sqlite
        )
    if clause.entity != "attribute":
        raise InvalidArgument(f"Unsupported filter entity {clause.entity!r} for experiments")
    if clause.key == "experiment_id":
        return _experiment_id_condition(clause, sqlite=sqlite)
    strings = {"name": exp.c.name, "lifecycle_stage": exp.c.lifecycle_stage}
    return _attribute_condition(clause, strings, _EXPERIMENT_NUMERIC_COLUMNS, sqlite=sqlite)


def _experiment_id_condition(clause: Clause, *, sqlite: bool) -> ColumnElement[bool]:
    col = t.experiments.c.experiment_id
    if clause.op in ("=", "!=", "IN", "NOT IN"):
        ids = experiment_int_ids(_string_tuple(clause.value, clause.op))
        if clause.op in ("=", "IN"):
            return col.in_(ids) if ids else false()
        return col.not_in(ids) if ids else true()
    # LIKE and friends compare the decimal text of the id.
    return string_condition(cast(col, String), clause.op, clause.value, sqlite=sqlite)


def experiment_ordering(
    order_by: Sequence[OrderKey], *, sqlite: bool
) -> tuple[ColumnElement[object], ...]:
    """ORDER BY terms for experiments: by default ``creation_time DESC, experiment_id ASC``."""
    exp = t.experiments
    columns: Mapping[str, tuple[KeyedColumnElement[object], bool]] = {
        "name": (exp.c.name, True),
        "experiment_id": (exp.c.experiment_id, False),
        "creation_time": (exp.c.creation_time, False),
        "last_update_time": (exp.c.last_update_time, False),
    }
    terms: list[ColumnElement[object]] = []
    for key in order_by:
        spec = columns.get(key.key) if key.entity == "attribute" else None
        if spec is None:
            raise InvalidArgument(f"Cannot order experiments by {key.entity} {key.key!r}")
        col, is_string = spec
        _bucketed(terms, None, _order_value(col, is_string=is_string, sqlite=sqlite), key.ascending)
    if not order_by:
        terms.append(exp.c.creation_time.desc())
    terms.append(exp.c.experiment_id.asc())
    return tuple(terms)


# -- logged models -------------------------------------------------------------

_MODEL_STRING_COLUMNS: Mapping[str, KeyedColumnElement[object]] = {
    "name": t.logged_models.c.name,
    "model_id": t.logged_models.c.model_id,
    "status": t.logged_models.c.status,
    "source_run_id": t.logged_models.c.source_run_id,
    "model_type": t.logged_models.c.model_type,
}
_MODEL_NUMERIC_COLUMNS: Mapping[str, KeyedColumnElement[object]] = {
    "creation_timestamp": t.logged_models.c.creation_timestamp_ms,
    "creation_timestamp_ms": t.logged_models.c.creation_timestamp_ms,
    "creation_time": t.logged_models.c.creation_timestamp_ms,
    "last_updated_timestamp": t.logged_models.c.last_updated_timestamp_ms,
    "last_updated_timestamp_ms": t.logged_models.c.last_updated_timestamp_ms,
}


def latest_model_metrics(
    model_ids: Sequence[str] | None = None, key: str | None = None
) -> Select[Any]:
    """For each (model, key): the latest point logged with that ``model_id``.

    Latest means greatest by (step, timestamp, value) with NaN above every
    number, the same rule as a run's latest metric.
    """
    m = t.metrics
    rank = (
        func.row_number()
        .over(
            partition_by=(m.c.model_id, m.c.key),
            order_by=(
                m.c.step.desc(),
                m.c.timestamp.desc(),
                case((m.c.value.is_(None), 1), else_=0).desc(),
                m.c.value.desc(),
                m.c.id.desc(),
            ),
        )
        .label("rank")
    )
    inner = select(
        m.c.model_id,
        m.c.key,
        m.c.value,
        m.c.timestamp,
        m.c.step,
        m.c.dataset_name,
        m.c.dataset_digest,
        m.c.run_uuid,
        rank,
    ).where(m.c.model_id.is_not(None))
    if model_ids is not None:
        inner = inner.where(m.c.model_id.in_(model_ids))
    if key is not None:
        inner = inner.where(m.c.key == key)
    sub = inner.subquery()
    return select(*[c for c in sub.c if c.key != "rank"]).where(sub.c.rank == 1)


def logged_model_condition(clause: Clause, *, sqlite: bool) -> ColumnElement[bool]:
    """The WHERE term for one logged-models filter clause."""
    model_id = t.logged_models.c.model_id
    if clause.entity == "attribute":
        return _attribute_condition(
            clause, _MODEL_STRING_COLUMNS, _MODEL_NUMERIC_COLUMNS, sqlite=sqlite
        )
    if clause.entity == "param":
        return _kv_condition(model_id, t.logged_model_params, "model_id", clause, sqlite=sqlite)
    if clause.entity == "tag":
        return _kv_condition(model_id, t.logged_model_tags, "model_id", clause, sqlite=sqlite)
    if clause.entity == "metric":
        latest = latest_model_metrics(key=clause.key).subquery()
        has_key = select(latest.c.model_id)
        if clause.op == "IS NULL":
            return model_id.not_in(has_key)
        if clause.op == "IS NOT NULL":
            return model_id.in_(has_key)
        return model_id.in_(
            has_key.where(metric_condition(latest.c.value, clause.op, clause.value))
        )
    raise InvalidArgument(f"Unsupported filter entity {clause.entity!r} for logged models")


def logged_model_ordering(order_by: Sequence[OrderKey], *, sqlite: bool) -> Ordering:
    """Joins and ORDER BY terms for logged models; default ``creation_timestamp DESC``,
    then ``model_id ASC``."""
    lm = t.logged_models
    from_clause: FromClause = lm
    terms: list[ColumnElement[object]] = []
    for n, key in enumerate(order_by):
        if key.entity == "attribute":
            if key.key in _MODEL_STRING_COLUMNS:
                col = _MODEL_STRING_COLUMNS[key.key]
                bucket = case((col.is_(None), 1), else_=0)
                _bucketed(
                    terms, bucket, _order_value(col, is_string=True, sqlite=sqlite), key.ascending
                )
            elif key.key in _MODEL_NUMERIC_COLUMNS:
                _bucketed(terms, None, _MODEL_NUMERIC_COLUMNS[key.key], key.ascending)
            else:
                raise InvalidArgument(f"Cannot order logged models by attribute {key.key!r}")
        elif key.entity == "metric":
            latest = latest_model_metrics(key=key.key).subquery(f"order_{n}")
            from_clause = from_clause.outerjoin(latest, latest.c.model_id == lm.c.model_id)
            bucket = case((latest.c.model_id.is_(None), 2), (latest.c.value.is_(None), 1), else_=0)
            _bucketed(terms, bucket, latest.c.value, key.ascending)
        elif key.entity in ("param", "tag"):
            table = t.logged_model_params if key.entity == "param" else t.logged_model_tags
            side = table.alias(f"order_{n}")
            from_clause = from_clause.outerjoin(
                side, and_(side.c.model_id == lm.c.model_id, side.c.key == key.key)
            )
            bucket = case((side.c.value.is_(None), 1), else_=0)
            _bucketed(
                terms,
                bucket,
                _order_value(side.c.value, is_string=True, sqlite=sqlite),
                key.ascending,
            )
        else:
            raise InvalidArgument(f"Cannot order logged models by {key.entity} {key.key!r}")
    if not order_by:
        terms.append(lm.c.creation_timestamp_ms.desc())
    terms.append(_order_value(lm.c.model_id, is_string=True, sqlite=sqlite).asc())
    return Ordering(from_clause=from_clause, terms=tuple(terms))


def experiment_int_ids(experiment_ids: Sequence[str]) -> list[int]:
    """Experiment ids as stored; ids that are not decimal integers cannot exist."""
    return [eid for e in experiment_ids if (eid := parse_experiment_id(e)) is not None]


__all__ = [
    "Ordering",
    "experiment_condition",
    "experiment_int_ids",
    "experiment_ordering",
    "latest_model_metrics",
    "like_to_glob",
    "logged_model_condition",
    "logged_model_ordering",
    "metric_condition",
    "numeric_condition",
    "run_condition",
    "run_ordering",
    "string_condition",
]
