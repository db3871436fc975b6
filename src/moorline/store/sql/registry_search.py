"""Translate registry searches (registered models, model versions) into SQL.

The parser (``kind="registered_model"`` / ``"model_version"``) has already
checked keys, operators and literal types; this module maps them onto the
registry tables with the comparison helpers of :mod:`moorline.store.sql.search`,
so LIKE/ILIKE, IN and numbers mean exactly what they mean for runs:

- registered models: ``name`` (``= != LIKE ILIKE IN NOT IN``), ``tags.<k>``;
  ordered by ``name``, ``creation_timestamp``, ``last_updated_timestamp``,
  always ending with ``name ASC`` (names are unique). Default: ``name ASC``.
- model versions: ``name`` and ``run_id`` (with ``IN``), ``source_path`` (the
  ``source`` URI), ``version_number`` (an integer), ``tags.<k>``; ordered by
  ``name``, ``version_number``, ``creation_timestamp``,
  ``last_updated_timestamp``, always ending with ``name ASC, version DESC``
  (the default order).
- ``tags.<k> <op> v`` matches records having tag ``k`` with a matching value.
  One exception, as in MLflow's own stores: a record without MLflow's prompt
  marker tag (:data:`PROMPT_TAG`) is a plain model, so the missing tag reads
  as ``'false'``: it satisfies ``!= 'true'`` (which MLflow's client appends to
  every registered-model search) and ``= 'false'``.
- Strings order by code point on both backends (``COLLATE "C"`` on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, collate, exists, or_

from moorline.errors import InvalidArgument
from moorline.store.sql import tables as t
from moorline.store.sql.search import numeric_condition, string_condition
from moorline.tracking.search import Clause, OrderKey

AnyColumn = ColumnElement[Any]

_rm = t.registered_models
_mv = t.model_versions

#: The tag MLflow marks prompts with (``mlflow.entities.model_registry.prompt_version``).
PROMPT_TAG = "mlflow.prompt.is_prompt"


def _missing_tag_matches(clause: Clause) -> bool:
    """Whether a record lacking the clause's tag satisfies it (MLflow's prompt-tag rule)."""
    return clause.key == PROMPT_TAG and (
        (clause.op == "=" and clause.value == "false")
        or (clause.op == "!=" and clause.value == "true")
    )


def _tag_condition(
    table: Table, owner: Sequence[tuple[AnyColumn, AnyColumn]], clause: Clause, *, sqlite: bool
) -> ColumnElement[bool]:
    """Records that have tag ``clause.key`` with a value matching the clause."""
    if clause.op in ("IS NULL", "IS NOT NULL"):
        has = exists().where(*(a == b for a, b in owner), table.c.key == clause.key)
        return has if clause.op == "IS NOT NULL" else ~has
    matches = exists().where(
        *(a == b for a, b in owner),
        table.c.key == clause.key,
        string_condition(table.c.value, clause.op, clause.value, sqlite=sqlite),
    )
    if _missing_tag_matches(clause):
        return or_(matches, ~exists().where(*(a == b for a, b in owner), table.c.key == clause.key))
    return matches


def _order_value(col: AnyColumn, *, is_string: bool, sqlite: bool) -> AnyColumn:
    return collate(col, "C") if is_string and not sqlite else col


def _terms(
    order_by: Sequence[OrderKey],
    columns: Mapping[str, tuple[AnyColumn, bool]],
    label: str,
    *,
    sqlite: bool,
) -> list[ColumnElement[Any]]:
    terms: list[ColumnElement[Any]] = []
    for key in order_by:
        spec = columns.get(key.key) if key.entity == "attribute" else None
        if spec is None:
            raise InvalidArgument(f"Cannot order {label} by {key.entity} {key.key!r}")
        col, is_string = spec
        value = _order_value(col, is_string=is_string, sqlite=sqlite)
        terms.append(value.asc() if key.ascending else value.desc())
    return terms


# -- registered models -------------------------------------------------------------------


def registered_model_condition(clause: Clause, *, sqlite: bool) -> ColumnElement[bool]:
    """The WHERE term for one registered-models filter clause."""
    if clause.entity == "tag":
        rmt = t.registered_model_tags
        return _tag_condition(rmt, [(rmt.c.name, _rm.c.name)], clause, sqlite=sqlite)
    if clause.entity == "attribute" and clause.key == "name":
        return string_condition(_rm.c.name, clause.op, clause.value, sqlite=sqlite)
    raise InvalidArgument(
        f"Cannot filter registered models by {clause.entity} {clause.key!r}; use name or tags.<key>"
    )


_MODEL_ORDER: Mapping[str, tuple[AnyColumn, bool]] = {
    "name": (_rm.c.name, True),
    "creation_timestamp": (_rm.c.creation_timestamp, False),
    "last_updated_timestamp": (_rm.c.last_updated_timestamp, False),
}


def registered_model_ordering(
    order_by: Sequence[OrderKey], *, sqlite: bool
) -> tuple[ColumnElement[Any], ...]:
    """ORDER BY terms for registered models, ending with ``name ASC``."""
    terms = _terms(order_by, _MODEL_ORDER, "registered models", sqlite=sqlite)
    if not any(k.key == "name" for k in order_by):
        terms.append(_order_value(_rm.c.name, is_string=True, sqlite=sqlite).asc())
    return tuple(terms)


# -- model versions ----------------------------------------------------------------------

_VERSION_STRINGS: Mapping[str, AnyColumn] = {
    "name": _mv.c.name,
    "run_id": _mv.c.run_id,
    "source_path": _mv.c.source,
}


def model_version_condition(clause: Clause, *, sqlite: bool) -> ColumnElement[bool]:
    """The WHERE term for one model-versions filter clause."""
    if clause.entity == "tag":
        mvt = t.model_version_tags
        owner = [(mvt.c.name, _mv.c.name), (mvt.c.version, _mv.c.version)]
        return _tag_condition(mvt, owner, clause, sqlite=sqlite)
    if clause.entity == "attribute":
        if clause.key in _VERSION_STRINGS:
            return string_condition(
                _VERSION_STRINGS[clause.key], clause.op, clause.value, sqlite=sqlite
            )
        if clause.key == "version_number":
            return numeric_condition(_mv.c.version, clause.op, clause.value)
    raise InvalidArgument(
        f"Cannot filter model versions by {clause.entity} {clause.key!r}; use name, "
        "version_number, run_id, source_path or tags.<key>"
    )


_VERSION_ORDER: Mapping[str, tuple[AnyColumn, bool]] = {
    "name": (_mv.c.name, True),
    "version_number": (_mv.c.version, False),
    "creation_timestamp": (_mv.c.creation_timestamp, False),
    "last_updated_timestamp": (_mv.c.last_updated_timestamp, False),
}


def model_version_ordering(
    order_by: Sequence[OrderKey], *, sqlite: bool
) -> tuple[ColumnElement[Any], ...]:
    """ORDER BY terms for model versions, ending with ``name ASC, version DESC``."""
    terms = _terms(order_by, _VERSION_ORDER, "model versions", sqlite=sqlite)
    keys = {k.key for k in order_by}
    if "name" not in keys:
        terms.append(_order_value(_mv.c.name, is_string=True, sqlite=sqlite).asc())
    if "version_number" not in keys:
        terms.append(_mv.c.version.desc())
    return tuple(terms)


__all__ = [
    "model_version_condition",
    "model_version_ordering",
    "registered_model_condition",
    "registered_model_ordering",
]
