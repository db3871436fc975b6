"""MLflow's search grammar, parsed into a small backend-neutral AST.

The filter is a conjunction of clauses ``<entity>.<key> <op> <value>``; the
order is a list of ``<entity>.<key> [ASC|DESC]``. Parsing validates keys,
operators and literal types so stores only translate, never judge. Every
parse error is an :class:`~moorline.errors.InvalidArgument` whose message
names the offending part.

>>> acc, lr = parse_run_filter("metrics.acc > 0.9 and params.lr = '0.1'")
>>> acc
Clause(entity='metric', key='acc', op='>', value=0.9)
>>> lr.entity, lr.key, lr.op, lr.value
('param', 'lr', '=', '0.1')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Entity = Literal["metric", "param", "tag", "attribute", "dataset"]
Op = Literal[
    "=", "!=", ">", ">=", "<", "<=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"
]
Value = str | float | tuple[str, ...] | None

#: Run attributes usable in filters, with their kind.
RUN_STRING_ATTRIBUTES = (
    "run_id",
    "run_name",
    "status",
    "user_id",
    "artifact_uri",
    "lifecycle_stage",
)
RUN_NUMERIC_ATTRIBUTES = ("start_time", "end_time")
#: Run attributes usable in order_by.
RUN_ORDER_ATTRIBUTES = (
    "start_time",
    "end_time",
    "run_name",
    "run_id",
    "status",
    "user_id",
    "artifact_uri",
    "experiment_id",
)
DATASET_ATTRIBUTES = ("name", "digest", "context")

EXPERIMENT_STRING_ATTRIBUTES = ("name", "experiment_id")
EXPERIMENT_NUMERIC_ATTRIBUTES = ("creation_time", "last_update_time")

LOGGED_MODEL_STRING_ATTRIBUTES = ("name", "model_id", "status", "source_run_id", "model_type")
LOGGED_MODEL_NUMERIC_ATTRIBUTES = ("creation_timestamp", "last_updated_timestamp")


@dataclass(frozen=True, slots=True, kw_only=True)
class Clause:
    """One comparison. ``key`` is canonical (``created`` becomes ``start_time``)."""

    entity: Entity
    key: str
    op: Op
    value: Value


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderKey:
    entity: Entity
    key: str
    ascending: bool = True


def parse_run_filter(text: str | None) -> tuple[Clause, ...]:
    """Parse a runs filter string (empty or None gives no clauses)."""
    from moorline.tracking._grammar import parse_filter

    return parse_filter(text, kind="run")


def parse_run_order_by(items: list[str] | tuple[str, ...] | None) -> tuple[OrderKey, ...]:
    """Parse runs ``order_by`` items; duplicate keys are refused."""
    from moorline.tracking._grammar import parse_order_by

    return parse_order_by(items, kind="run")


def parse_experiment_filter(text: str | None) -> tuple[Clause, ...]:
    from moorline.tracking._grammar import parse_filter

    return parse_filter(text, kind="experiment")


def parse_experiment_order_by(items: list[str] | tuple[str, ...] | None) -> tuple[OrderKey, ...]:
    from moorline.tracking._grammar import parse_order_by

    return parse_order_by(items, kind="experiment")


def parse_logged_model_filter(text: str | None) -> tuple[Clause, ...]:
    from moorline.tracking._grammar import parse_filter

    return parse_filter(text, kind="logged_model")


def parse_logged_model_order_by(items: list[str] | tuple[str, ...] | None) -> tuple[OrderKey, ...]:
    from moorline.tracking._grammar import parse_order_by

    return parse_order_by(items, kind="logged_model")


def like_to_regex(pattern: str, *, case_insensitive: bool) -> str:
    """SQL LIKE pattern (``%`` and ``_``) as an anchored Python regex."""
    import re

    out = []
    for ch in pattern:
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    prefix = "(?is)" if case_insensitive else "(?s)"
    return prefix + "^" + "".join(out) + "$"
