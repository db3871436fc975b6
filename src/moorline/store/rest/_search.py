"""Parsed search clauses written back as text, so they can cross the wire.

The storage ports take a filter already parsed into :class:`Clause` values;
the API takes MLflow's text grammar (what people type). This module is the
inverse of :mod:`moorline.tracking._grammar`: for every clause the parser
can produce, parsing :func:`format_filter`'s text gives the same clause
back (a property test pins this). Keys are double-quoted with backslash
escapes, which the grammar reads for any key whatever its characters.

>>> from moorline.tracking.search import parse_run_filter
>>> clauses = parse_run_filter("metrics.`val loss` < 0.5 and params.lr = '0.1'")
>>> print(format_filter(clauses))
metrics."val loss" < 0.5 AND params."lr" = '0.1'
>>> parse_run_filter(format_filter(clauses)) == clauses
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from moorline.tracking.search import Clause, Entity, OrderKey, Value

_PREFIX: dict[Entity, str] = {
    "metric": "metrics",
    "param": "params",
    "tag": "tags",
    "attribute": "attributes",
    "dataset": "datasets",
}


def _quote(text: str, quote: str) -> str:
    escaped = text.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return f"{quote}{escaped}{quote}"


def _path(entity: Entity, key: str) -> str:
    return f"{_PREFIX[entity]}.{_quote(key, chr(34))}"


def _number(value: float) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if math.isinf(value):
        # The grammar has no infinity literal; a literal beyond float range parses to one.
        return "1e999" if value > 0 else "-1e999"
    if math.isnan(value):
        raise ValueError("a NaN literal cannot appear in a search filter")
    return repr(float(value))


def _value(value: Value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_quote(v, "'") for v in value) + ")"
    if isinstance(value, str):
        return _quote(value, "'")
    if value is None:
        raise ValueError("only IS NULL / IS NOT NULL clauses have no value")
    return _number(value)


def format_clause(clause: Clause) -> str:
    if clause.op in ("IS NULL", "IS NOT NULL"):
        return f"{_path(clause.entity, clause.key)} {clause.op}"
    return f"{_path(clause.entity, clause.key)} {clause.op} {_value(clause.value)}"


def format_filter(clauses: Sequence[Clause]) -> str | None:
    """The clauses as one filter string; None when there are none."""
    if not clauses:
        return None
    return " AND ".join(format_clause(c) for c in clauses)


def format_order_by(keys: Sequence[OrderKey]) -> list[str]:
    """The order keys as ``order_by`` items."""
    return [f"{_path(k.entity, k.key)} {'ASC' if k.ascending else 'DESC'}" for k in keys]
