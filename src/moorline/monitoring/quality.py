"""Data quality: check new data against the schema and profile of a reference.

The contract is what a logged dataset version already carries (see
:mod:`moorline.tracking.datasets`): the schema (column names, canonical
types, nullability) and the profile (per column counts, nulls, min/max, top
categories). :func:`check_quality` compares a current batch with it and says,
per column and with a severity, what changed, so an upstream change that
drops, renames, retypes or nulls a column is caught before it reaches a model
or a drift report.

The checks (each a :class:`Check`; thresholds in :class:`QualityConfig`):

=================== ========================================================= ==========
check               fires when                                                severity
=================== ========================================================= ==========
missing_column      a reference column is absent                              critical
unexpected_column   a column is not in the reference                          warning
type_change         the canonical type differs (``int64`` -> ``large_string``) critical;
                    ``int64`` <-> ``double`` is a numeric widening            warning/info
null_rate           the null rate exceeds the reference's by more than        warning
                    ``max(null_rate_margin, null_rate_z * standard error)``;
                    a column that had no nulls is now more than
                    ``critical_null_rate`` null, or any column is all null    critical;
                    a column that had no nulls has a few now                  info
out_of_range        the share of numeric values outside the reference         warning
                    [min, max] exceeds ``max_out_of_range_share``             (info below)
unseen_category     the share of rows with a category the reference never     warning
                    had exceeds ``max_unseen_share``
constant_column     the column holds one value and the reference held more    warning
duplicate_rows      the share of rows repeating an earlier row exceeds the    warning
                    reference's own share by more than                        (info below)
                    ``max_duplicate_share`` (the share alone when the
                    contract does not know the reference's)
no_rows             the current data is empty                                 warning
=================== ========================================================= ==========

What the contract cannot say is reported in :attr:`QualityReport.skipped`
rather than guessed: the profile keeps the 20 most frequent categories, so
the unseen-category check runs only on columns whose reference had at most
that many distinct values; temporal columns get no range check (time moves
on). A contract computed from a reference DataFrame goes through the same
functions as a logged version (:func:`~moorline.tracking.datasets.canonical_table`,
``dataset_schema``, ``profile_table``), so both give the same report.

>>> import pandas as pd
>>> reference = pd.DataFrame({"temperature": [20.5, 21.0, 19.8], "city": ["a", "b", "a"]})
>>> current = pd.DataFrame({"temperature": [None, None, None], "city": ["a", "b", "c"]})
>>> report = check_quality(reference, current)
>>> report.passed, report.max_severity
(False, <Severity.CRITICAL: 'critical'>)
>>> print(report.issues[0].message)
column 'temperature' is 100% null (reference: 0%)
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Final

from moorline.errors import InvalidArgument
from moorline.tracking.datasets import (
    MAX_CATEGORY_CHARS,
    PROFILE_FORMAT,
    SCHEMA_FORMAT,
    TOP_CATEGORIES,
    canonical_table,
    dataset_schema,
    profile_table,
)
from moorline.tracking.models import Dataset, DatasetVersion

REPORT_FORMAT: Final = "moorline.quality/1"
_NUMERIC_TYPES: Final = frozenset({"int64", "double"})


class Severity(StrEnum):
    """How bad an issue is; ordered ``info < warning < critical``."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK: Final = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class Check(StrEnum):
    """The checks :func:`check_quality` runs, by their stable names."""

    NO_ROWS = "no_rows"
    MISSING_COLUMN = "missing_column"
    UNEXPECTED_COLUMN = "unexpected_column"
    TYPE_CHANGE = "type_change"
    NULL_RATE = "null_rate"
    OUT_OF_RANGE = "out_of_range"
    UNSEEN_CATEGORY = "unseen_category"
    CONSTANT_COLUMN = "constant_column"
    DUPLICATE_ROWS = "duplicate_rows"


@dataclass(frozen=True, slots=True, kw_only=True)
class QualityConfig:
    """Thresholds of the checks. Shares and rates are fractions in [0, 1].

    ``null_rate_z`` widens the null-rate margin on small windows: a rate is
    flagged only when it exceeds the reference's by more than both the margin
    and that many binomial standard errors, so a 50-row window does not alert
    on noise. ``fail_on``: the lowest severity that makes a report fail.
    """

    null_rate_margin: float = 0.05
    null_rate_z: float = 3.0
    critical_null_rate: float = 0.5
    max_out_of_range_share: float = 0.01
    max_unseen_share: float = 0.0
    max_duplicate_share: float = 0.01
    #: how many offending values a message and ``observed`` list at most
    max_listed_values: int = 5
    fail_on: Severity = Severity.WARNING
    checks: frozenset[Check] = frozenset(Check)
    ignore_columns: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in (
            "null_rate_margin",
            "critical_null_rate",
            "max_out_of_range_share",
            "max_unseen_share",
            "max_duplicate_share",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise InvalidArgument(f"QualityConfig.{name} must be in [0, 1], got {value!r}")
        if not isinstance(self.null_rate_z, int | float) or self.null_rate_z < 0:
            raise InvalidArgument(
                f"QualityConfig.null_rate_z must be >= 0, got {self.null_rate_z!r}"
            )
        if self.max_listed_values < 0:
            raise InvalidArgument("QualityConfig.max_listed_values must be >= 0")
        unknown = {str(c) for c in self.checks} - {c.value for c in Check}
        if unknown:
            raise InvalidArgument(
                f"Unknown quality check(s) {sorted(unknown)}; known: {[c.value for c in Check]}"
            )
        object.__setattr__(self, "checks", frozenset(Check(c) for c in self.checks))
        object.__setattr__(self, "fail_on", Severity(self.fail_on))
        object.__setattr__(self, "ignore_columns", frozenset(self.ignore_columns))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, frozenset):
                value = sorted(str(v) for v in value)
            elif isinstance(value, StrEnum):
                value = value.value
            out[f.name] = value
        return out


# -- the contract ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnContract:
    """What the reference says about one column.

    ``null_rate`` is None when only a schema is known and it says the column
    may hold nulls. ``categories`` is the complete set of reference values of
    a categorical column, or None when the profile does not list them all.
    """

    name: str
    type: str
    kind: str = "other"
    count: int | None = None
    null_rate: float | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    categories: frozenset[Any] | None = None
    distinct: int | None = None
    #: whether the reference held a single (non-null) value; None when unknown
    constant: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QualityContract:
    """The schema and profile a current batch is checked against."""

    columns: tuple[ColumnContract, ...]
    rows: int | None = None
    #: the share of reference rows repeating an earlier row; None when unknown
    #: (a contract read from a logged dataset's profile, or an older stored one)
    duplicate_share: float | None = None

    def column(self, name: str) -> ColumnContract | None:
        """The contract of column ``name``, or None when the reference has no such column."""
        return next((c for c in self.columns if c.name == name), None)

    @classmethod
    def from_profile(
        cls,
        schema: str | Mapping[str, Any] | None = None,
        profile: str | Mapping[str, Any] | None = None,
        *,
        duplicate_share: float | None = None,
    ) -> QualityContract:
        """A contract from a stored schema and/or profile (JSON text or parsed).

        Either alone is enough: the profile carries each column's type and
        null count; the schema alone gives names, types and nullability.
        ``duplicate_share``: the reference's share of duplicate rows, when known
        (see :func:`duplicate_share`).
        """
        share = _share(duplicate_share)
        schema_body = _load_json(schema, "schema")
        profile_body = _load_json(profile, "profile")
        if schema_body is not None and schema_body.get("format") != SCHEMA_FORMAT:
            raise InvalidArgument(
                f"The schema is not in {SCHEMA_FORMAT!r} format "
                f"(found {schema_body.get('format')!r}); it cannot serve as a quality contract"
            )
        if profile_body is not None and profile_body.get("format") != PROFILE_FORMAT:
            raise InvalidArgument(
                f"The profile is not in {PROFILE_FORMAT!r} format "
                f"(found {profile_body.get('format')!r}); it cannot serve as a quality contract"
            )
        if profile_body is not None:
            rows = int(profile_body.get("rows", 0))
            columns = tuple(_column_from_profile(c, rows) for c in profile_body["columns"])
            return cls(columns=columns, rows=rows, duplicate_share=share)
        if schema_body is not None:
            return cls(
                duplicate_share=share,
                columns=tuple(
                    ColumnContract(
                        name=str(c["name"]),
                        type=str(c["type"]),
                        kind=_kind_of_type(str(c["type"])),
                        null_rate=None if c.get("nullable", True) else 0.0,
                    )
                    for c in schema_body["columns"]
                ),
            )
        raise InvalidArgument("A quality contract needs a schema or a profile; neither was given")

    @classmethod
    def from_dataset(cls, dataset: Any) -> QualityContract:
        """A contract from a logged dataset: a ``DatasetVersion`` or ``Dataset``
        (anything with ``schema`` and ``profile`` JSON attributes)."""
        inner = getattr(dataset, "dataset", dataset)
        schema = getattr(inner, "schema", None)
        profile = getattr(inner, "profile", None)
        name = getattr(inner, "name", "?")
        if not schema and not profile:
            raise InvalidArgument(
                f"Dataset {name!r} has neither a schema nor a profile; "
                "it cannot serve as a quality contract"
            )
        try:
            return cls.from_profile(schema or None, profile or None)
        except InvalidArgument as exc:
            raise InvalidArgument(f"Dataset {name!r}: {exc}") from exc

    @classmethod
    def from_data(cls, data: object) -> QualityContract:
        """A contract computed from reference data (DataFrame, Arrow table,
        CSV/Parquet path) exactly as a logged version's schema and profile are."""
        table = canonical_table(data)
        schema = {
            "format": SCHEMA_FORMAT,
            "columns": [
                {"name": c.name, "type": c.type, "nullable": c.nullable}
                for c in dataset_schema(table)
            ],
        }
        # Through JSON, so a contract from data equals one from the stored profile.
        profile = json.loads(json.dumps(profile_table(table), allow_nan=False))
        return cls.from_profile(schema, profile, duplicate_share=_duplicate_share(table))


def duplicate_share(data: object) -> float | None:
    """The share of rows of ``data`` that repeat an earlier row (over every column).

    Stored with a reference's contract, so that the ``duplicate_rows`` check
    compares a window with the duplicates the reference already had. None when
    the data has no rows or no columns, or its rows cannot be compared.

    >>> import pandas as pd
    >>> duplicate_share(pd.DataFrame({"a": [1, 1, 2, 3], "b": ["x", "x", "y", "y"]}))
    0.25
    """
    return _duplicate_share(canonical_table(data))


def _duplicate_share(table: Any) -> float | None:
    rows = int(table.num_rows)
    if not rows:
        return None
    distinct = _distinct_rows(table, table.column_names)
    if isinstance(distinct, str):
        return None
    return (rows - distinct) / rows


def _distinct_rows(table: Any, keys: Sequence[str]) -> int | str:
    """How many distinct rows ``table`` has over ``keys``, or why they cannot be compared."""
    import pyarrow as pa

    if not keys:
        return "there are no columns to compare"
    try:
        return int(table.select(list(keys)).group_by(list(keys)).aggregate([]).num_rows)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        return f"rows cannot be compared: {exc}"


def _share(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidArgument(f"duplicate_share must be a number in [0, 1], got {value!r}")
    return float(value)


def _load_json(value: str | Mapping[str, Any] | None, what: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            body = json.loads(value)
        except ValueError as exc:
            raise InvalidArgument(f"The {what} is not valid JSON: {exc}") from exc
    else:
        body = dict(value)
    if not isinstance(body, dict) or not isinstance(body.get("columns"), list):
        raise InvalidArgument(f"The {what} has no 'columns' list")
    return body


def _kind_of_type(type_name: str) -> str:
    if type_name in _NUMERIC_TYPES or type_name.startswith("decimal"):
        return "numeric"
    if type_name in ("large_string", "bool"):
        return "categorical"
    if type_name.startswith(("timestamp", "date", "time", "duration")):
        return "temporal"
    return "other"


def _profile_number(value: Any) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    return None


def _column_from_profile(entry: Mapping[str, Any], rows: int) -> ColumnContract:
    name = str(entry["name"])
    type_name = str(entry.get("type", ""))
    kind = str(entry.get("kind") or _kind_of_type(type_name))
    count = int(entry.get("count", 0))
    nulls = int(entry.get("null_count", 0))
    null_rate = nulls / rows if rows else None
    minimum = maximum = None
    categories: frozenset[Any] | None = None
    distinct: int | None = None
    constant: bool | None = None
    if kind == "numeric":
        minimum = _profile_number(entry.get("min"))
        maximum = _profile_number(entry.get("max"))
        if minimum is not None and maximum is not None:
            constant = minimum == maximum
    elif kind == "categorical":
        top = entry.get("top") or []
        distinct = int(entry.get("distinct", len(top)))
        if distinct <= len(top):
            categories = frozenset(t["value"] for t in top)
        constant = distinct == 1
    elif kind == "temporal" and entry.get("min") is not None:
        constant = entry.get("min") == entry.get("max")
    if count == 0:
        constant = None
    return ColumnContract(
        name=name,
        type=type_name,
        kind=kind,
        count=count,
        null_rate=null_rate,
        minimum=minimum,
        maximum=maximum,
        categories=categories,
        distinct=distinct,
        constant=constant,
    )


def as_contract(reference: object) -> QualityContract:
    """Whatever names a reference, as a contract.

    Accepts a :class:`QualityContract`; a ``DatasetVersion`` or ``Dataset``;
    a mapping with ``"schema"`` and/or ``"profile"`` (JSON text or parsed),
    and optionally ``"duplicate_share"``; a bare profile mapping; or reference
    data (a pandas DataFrame, an Arrow table, a ``.csv``/``.parquet`` path),
    profiled on the spot.
    """
    if isinstance(reference, QualityContract):
        return reference
    if isinstance(reference, Mapping):
        if "schema" in reference or "profile" in reference:
            return QualityContract.from_profile(
                reference.get("schema"),
                reference.get("profile"),
                duplicate_share=reference.get("duplicate_share"),
            )
        if reference.get("format") == PROFILE_FORMAT:
            return QualityContract.from_profile(None, reference)
        if reference.get("format") == SCHEMA_FORMAT:
            return QualityContract.from_profile(reference, None)
        raise InvalidArgument(
            "A reference mapping needs 'schema' and/or 'profile' keys, or must itself be "
            f"a {PROFILE_FORMAT!r} or {SCHEMA_FORMAT!r} document"
        )
    if isinstance(reference, Dataset | DatasetVersion):
        return QualityContract.from_dataset(reference)
    if isinstance(reference, str | os.PathLike) or type(reference).__module__.split(".")[0] in (
        "pandas",
        "pyarrow",
    ):
        # Data first: a DataFrame with a column named "profile" is still data.
        return QualityContract.from_data(reference)
    if hasattr(reference, "profile") or hasattr(getattr(reference, "dataset", None), "profile"):
        return QualityContract.from_dataset(reference)
    return QualityContract.from_data(reference)


# -- the report --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class QualityIssue:
    """One finding: which check, on which column (None for the whole table), how bad.

    ``observed`` and ``expected`` are JSON values (numbers, strings, lists).
    """

    check: Check
    column: str | None
    severity: Severity
    message: str
    observed: Any = None
    expected: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check.value,
            "column": self.column,
            "severity": self.severity.value,
            "message": self.message,
            "observed": _jsonable(self.observed),
            "expected": _jsonable(self.expected),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedCheck:
    """A check the contract could not support for a column, and why."""

    check: Check
    column: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check.value, "column": self.column, "reason": self.reason}


@dataclass(frozen=True, slots=True, kw_only=True)
class QualityReport:
    """Every issue found, in a stable order: per column (reference order, then
    unexpected columns in the order of the current data), checks in the order
    of :class:`Check`, table-wide checks last."""

    issues: tuple[QualityIssue, ...]
    skipped: tuple[SkippedCheck, ...] = ()
    rows: int = 0
    reference_rows: int | None = None
    config: QualityConfig = field(default_factory=QualityConfig)

    @property
    def max_severity(self) -> Severity | None:
        """The worst severity among the issues; None when there are none."""
        if not self.issues:
            return None
        return max((i.severity for i in self.issues), key=lambda s: s.rank)

    @property
    def passed(self) -> bool:
        """No issue at or above ``config.fail_on`` (default: warning)."""
        worst = self.max_severity
        return worst is None or worst.rank < self.config.fail_on.rank

    def by_severity(self, severity: Severity | str) -> tuple[QualityIssue, ...]:
        wanted = Severity(severity)
        return tuple(i for i in self.issues if i.severity == wanted)

    def for_column(self, column: str) -> tuple[QualityIssue, ...]:
        return tuple(i for i in self.issues if i.column == column)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form (format ``moorline.quality/1``)."""
        worst = self.max_severity
        counts = {s.value: 0 for s in Severity}
        for issue in self.issues:
            counts[issue.severity.value] += 1
        return {
            "format": REPORT_FORMAT,
            "passed": self.passed,
            "max_severity": worst.value if worst else None,
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "counts": counts,
            "issues": [i.to_dict() for i in self.issues],
            "skipped": [s.to_dict() for s in self.skipped],
            "config": self.config.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    item = getattr(value, "item", None)  # NumPy scalars
    if callable(item):
        return _jsonable(item())
    return str(value)


# -- the checks --------------------------------------------------------------------


def _pct(share: float) -> str:
    """0 -> '0%', 1 -> '100%', 0.001234 -> '0.123%'."""
    return f"{share * 100:.3g}%"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


class _Collector:
    def __init__(self, config: QualityConfig) -> None:
        self.config = config
        self.issues: list[QualityIssue] = []
        self.skipped: list[SkippedCheck] = []

    def add(
        self,
        check: Check,
        column: str | None,
        severity: Severity,
        message: str,
        *,
        observed: Any = None,
        expected: Any = None,
    ) -> None:
        if check in self.config.checks:
            self.issues.append(
                QualityIssue(
                    check=check,
                    column=column,
                    severity=severity,
                    message=message,
                    observed=_jsonable(observed),
                    expected=_jsonable(expected),
                )
            )

    def skip(self, check: Check, column: str | None, reason: str) -> None:
        if check in self.config.checks:
            self.skipped.append(SkippedCheck(check=check, column=column, reason=reason))

    def wants(self, check: Check) -> bool:
        return check in self.config.checks


def check_quality(
    reference: object, current: object, config: QualityConfig | None = None
) -> QualityReport:
    """Check ``current`` against the contract of ``reference``.

    ``reference``: anything :func:`as_contract` accepts (a contract, a logged
    dataset version, a schema/profile mapping, or reference data).
    ``current``: a pandas DataFrame, an Arrow table, or a CSV/Parquet path;
    it is brought to the canonical form of datasets first, so types compare
    as a logged version's do (every integer is ``int64``, every string
    ``large_string``, NaN is null).
    """
    config = config or QualityConfig()
    contract = as_contract(reference)
    table = canonical_table(current)
    out = _Collector(config)
    rows = table.num_rows
    present = {str(name): i for i, name in enumerate(table.column_names)}
    expected = {c.name: c for c in contract.columns if c.name not in config.ignore_columns}
    known = {c.name for c in contract.columns}
    unexpected = [n for n in present if n not in known and n not in config.ignore_columns]
    if rows == 0:
        out.add(Check.NO_ROWS, None, Severity.WARNING, "the current data has no rows", observed=0)
    for name, col in expected.items():
        if name not in present:
            _missing(out, col, unexpected, table)
            continue
        _check_column(out, col, table.column(present[name]).combine_chunks(), rows)
    for name in unexpected:
        out.add(
            Check.UNEXPECTED_COLUMN,
            name,
            Severity.WARNING,
            f"column {name!r} is not in the reference",
            observed=str(table.schema.field(name).type),
        )
    if rows and out.wants(Check.DUPLICATE_ROWS):
        keys = [n for n in present if n not in config.ignore_columns]
        _duplicates(out, table, keys, contract.duplicate_share)
    return QualityReport(
        issues=tuple(out.issues),
        skipped=tuple(out.skipped),
        rows=rows,
        reference_rows=contract.rows,
        config=config,
    )


def _missing(out: _Collector, col: ColumnContract, unexpected: Sequence[str], table: Any) -> None:
    same_type = [n for n in unexpected if str(table.schema.field(n).type) == col.type]
    hint = f"; was it renamed to {same_type[0]!r}?" if len(same_type) == 1 else ""
    out.add(
        Check.MISSING_COLUMN,
        col.name,
        Severity.CRITICAL,
        f"column {col.name!r} is missing (reference type: {col.type}){hint}",
        expected=col.type,
    )


def _check_column(out: _Collector, col: ColumnContract, array: Any, rows: int) -> None:
    import pyarrow as pa

    current_type = str(array.type)
    nulls = int(array.null_count)
    count = rows - nulls
    comparable = _check_type(out, col, array, current_type, count)
    if rows:
        _check_nulls(out, col, nulls / rows, rows, nulls)
    if not comparable or count == 0 or pa.types.is_null(array.type):
        return
    values = array.drop_null()
    if col.kind == "numeric" and current_type in _NUMERIC_TYPES | {col.type}:
        _check_range(out, col, values)
    if col.kind == "categorical":
        _check_categories(out, col, values)
    elif col.kind == "temporal":
        out.skip(Check.OUT_OF_RANGE, col.name, "temporal columns have no range check")
    _check_constant(out, col, values)


def _check_type(
    out: _Collector, col: ColumnContract, array: Any, current_type: str, count: int
) -> bool:
    """Report a type change; True when the values can still be compared."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if current_type == col.type or col.type in ("null", ""):
        return True
    if pa.types.is_null(array.type):
        return True  # all-null column: the null check reports it
    if {current_type, col.type} == _NUMERIC_TYPES:
        whole = (
            current_type == "int64"
            or count == 0
            or bool(pc.all(pc.equal(pc.floor(array.drop_null()), array.drop_null())).as_py())
        )
        severity = Severity.INFO if whole else Severity.WARNING
        note = (
            " (still whole numbers: pandas turns integer columns with nulls into floats)"
            if current_type == "double" and whole
            else ""
        )
        out.add(
            Check.TYPE_CHANGE,
            col.name,
            severity,
            f"column {col.name!r} changed type from {col.type} to {current_type}{note}",
            observed=current_type,
            expected=col.type,
        )
        return True
    out.add(
        Check.TYPE_CHANGE,
        col.name,
        Severity.CRITICAL,
        f"column {col.name!r} changed type from {col.type} to {current_type}",
        observed=current_type,
        expected=col.type,
    )
    return False


def _check_nulls(out: _Collector, col: ColumnContract, rate: float, rows: int, nulls: int) -> None:
    cfg = out.config
    ref = col.null_rate
    ref_text = _pct(ref) if ref is not None else "unknown"
    message = f"column {col.name!r} is {_pct(rate)} null (reference: {ref_text})"
    if rate == 1.0 and (ref is None or ref < 1.0):
        out.add(Check.NULL_RATE, col.name, Severity.CRITICAL, message, observed=rate, expected=ref)
        return
    if ref is None:
        if rate > 0:
            out.skip(Check.NULL_RATE, col.name, "the reference null rate is unknown (schema only)")
        return
    if ref == 0.0 and rate > cfg.critical_null_rate:
        out.add(Check.NULL_RATE, col.name, Severity.CRITICAL, message, observed=rate, expected=ref)
        return
    standard_error = math.sqrt(max(ref * (1 - ref), 1.0 / rows) / rows)
    if rate > ref + max(cfg.null_rate_margin, cfg.null_rate_z * standard_error):
        out.add(Check.NULL_RATE, col.name, Severity.WARNING, message, observed=rate, expected=ref)
    elif ref == 0.0 and nulls:
        out.add(Check.NULL_RATE, col.name, Severity.INFO, message, observed=rate, expected=ref)


def _check_range(out: _Collector, col: ColumnContract, values: Any) -> None:
    import numpy as np

    low, high = col.minimum, col.maximum
    if low is None or high is None:
        out.skip(Check.OUT_OF_RANGE, col.name, "the reference has no numeric values")
        return
    data = np.asarray(values.to_numpy(zero_copy_only=False))
    if data.dtype.kind not in "iuf":
        data = data.astype(np.float64)
    below = int(np.count_nonzero(data < low))
    above = int(np.count_nonzero(data > high))
    outside = below + above
    if not outside:
        return
    share = outside / len(data)
    severity = Severity.WARNING if share > out.config.max_out_of_range_share else Severity.INFO
    observed_low, observed_high = data.min().item(), data.max().item()
    out.add(
        Check.OUT_OF_RANGE,
        col.name,
        severity,
        f"column {col.name!r}: {_pct(share)} of values are outside the reference range "
        f"[{_show(low)}, {_show(high)}] (observed [{_show(observed_low)}, {_show(observed_high)}]"
        f"; {below} below, {above} above)",
        observed={
            "share": share,
            "below": below,
            "above": above,
            "min": observed_low,
            "max": observed_high,
        },
        expected={"min": low, "max": high},
    )


def _check_categories(out: _Collector, col: ColumnContract, values: Any) -> None:
    import pyarrow.compute as pc

    known = col.categories
    if known is None:
        out.skip(
            Check.UNSEEN_CATEGORY,
            col.name,
            f"the reference has {col.distinct} distinct values and its profile lists the "
            f"{TOP_CATEGORIES} most frequent",
        )
        return
    counted = pc.value_counts(values)
    unseen: list[tuple[Any, int]] = []
    for value, count in zip(
        counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
    ):
        key = value[:MAX_CATEGORY_CHARS] if isinstance(value, str) else value
        if key not in known:
            unseen.append((value, int(count)))
    if not unseen:
        return
    unseen.sort(key=lambda vc: (-vc[1], str(vc[0])))
    rows_unseen = sum(c for _, c in unseen)
    share = rows_unseen / len(values)
    limit = out.config.max_listed_values
    listed = [v for v, _ in unseen[:limit]]
    more = f" and {len(unseen) - limit} more" if len(unseen) > limit else ""
    severity = Severity.WARNING if share > out.config.max_unseen_share else Severity.INFO
    out.add(
        Check.UNSEEN_CATEGORY,
        col.name,
        severity,
        f"column {col.name!r}: {_pct(share)} of rows have values not seen in the reference: "
        f"{', '.join(_show(v) for v in listed)}{more}",
        observed={"share": share, "rows": rows_unseen, "distinct": len(unseen), "values": listed},
        expected={"categories": len(known)},
    )


def _check_constant(out: _Collector, col: ColumnContract, values: Any) -> None:
    import pyarrow.compute as pc

    if col.constant is not False or len(values) == 0:
        return
    try:
        distinct = int(pc.count_distinct(values).as_py())
    except NotImplementedError:  # pragma: no cover - nested types (pyarrow raises this)
        return
    if distinct == 1:
        value = values[0].as_py()
        out.add(
            Check.CONSTANT_COLUMN,
            col.name,
            Severity.WARNING,
            f"column {col.name!r} is constant (value {_show(value)}) but varied in the reference",
            observed={"value": value, "distinct": 1},
            expected={"distinct": col.distinct} if col.distinct is not None else None,
        )


def _duplicates(
    out: _Collector, table: Any, keys: Sequence[str], reference_share: float | None
) -> None:
    """Duplicates above what the reference had: a reference with 3% repeated rows
    (event logs, coarse features) makes 3% in a window normal, not news."""
    if not keys:
        return
    distinct = _distinct_rows(table, keys)
    if isinstance(distinct, str):
        out.skip(Check.DUPLICATE_ROWS, None, distinct)
        return
    rows = table.num_rows
    duplicated = rows - distinct
    tolerance = out.config.max_duplicate_share
    share = duplicated / rows
    if not duplicated or (reference_share is not None and share <= reference_share):
        return
    limit = tolerance if reference_share is None else reference_share + tolerance
    severity = Severity.WARNING if share > limit else Severity.INFO
    expected: dict[str, float] = {"max_share": limit}
    reference = ""
    if reference_share is not None:
        expected["reference_share"] = reference_share
        reference = f"; reference: {_pct(reference_share)}"
    out.add(
        Check.DUPLICATE_ROWS,
        None,
        severity,
        f"{_pct(share)} of rows are duplicates of another row ({duplicated} of {rows}{reference})",
        observed={"share": share, "rows": duplicated},
        expected=expected,
    )


__all__ = [
    "REPORT_FORMAT",
    "Check",
    "ColumnContract",
    "QualityConfig",
    "QualityContract",
    "QualityIssue",
    "QualityReport",
    "Severity",
    "SkippedCheck",
    "as_contract",
    "check_quality",
    "duplicate_share",
]
