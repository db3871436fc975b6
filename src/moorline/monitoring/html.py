"""A drift report as ONE self-contained HTML page: opens from a file, loads nothing.

The page holds a summary (dataset drift or not, the share of drifted columns
against the drift share, preset, row counts, when it was made), a table with
one row per column (type, test, score, threshold, verdict, error), then one
section per column with its reference and current distributions drawn side
by side on shared bins:

- numerical columns: a histogram over 30 equal bins between the pooled 1st
  and 99th percentiles, with the values outside that range counted in two
  extra bars ("< lo", "> hi"), so a long tail squeezes nothing and hides
  nothing; whole numbers over a short range get one bin per integer, and a
  column with at most 12 distinct values one bar per value;
- categorical columns: the most frequent categories (of either side) as bar
  pairs, the rest folded into "other" (cut short, with a break mark, when it
  would dwarf the named categories).

Why one file with no scripts: reports are attached to tickets, mailed and
archived; they must read the same in ten years, offline, and must not leak
that they were opened. Styles are inline, charts are inline SVG (from
:mod:`moorline.charts`, shared with the UI), fonts are the system's, and a
Content-Security-Policy meta tag forbids every fetch as a second guard.
Every piece of text from the data (column names, categories, error messages)
is escaped by the template engine (Jinja2 with autoescape) or by the chart
module.

The distributions are not part of :class:`~moorline.monitoring.report.DriftReport`
(which stays small and JSON-able); they are computed here from the frames
handed to :func:`render_html`, or from a stored reference profile. A monitor
keeps them with each result in a bounded, compact JSON form
(:func:`stored_distributions`: at most :data:`STORED_BINS` bins per column and
:data:`STORED_COLUMNS` columns), under the report's ``"distributions"`` key,
which :func:`render_html` draws when it is given no data.

>>> report = {
...     "preset": "default", "reference_rows": 3, "current_rows": 3,
...     "columns": [{"column": "x", "type": "num", "stattest": "ks",
...                  "stattest_display_name": "K-S p_value", "score": 0.9,
...                  "threshold": 0.05, "drift_detected": False}],
...     "dataset": {"number_of_columns": 1, "number_of_drifted_columns": 0,
...                 "share": 0.0, "drift_share": 0.5, "dataset_drift": False},
... }
>>> import pandas as pd
>>> reference, current = pd.DataFrame({"x": [1.0, 2.0, 3.0]}), pd.DataFrame({"x": [1.0, 2.0, 4.0]})
>>> page = render_html(report, reference, current)
>>> page.startswith("<!doctype html>") and "No dataset drift" in page
True
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from moorline.charts import (
    Bars,
    category_chart,
    format_number,
    histogram_chart,
    percent,
    short_number,
)
from moorline.errors import InvalidArgument
from moorline.monitoring._frames import Frame as _Frame
from moorline.monitoring.base import ColumnKind, ReferenceColumn
from moorline.monitoring.profile import ReferenceProfile

if TYPE_CHECKING:
    from moorline.monitoring.report import DriftReport

#: Bins of a numerical histogram, between the pooled 1st and 99th percentiles.
BINS = 30
#: Categories drawn before the rest are folded into "other".
TOP_K = 10
#: A numerical column with at most this many distinct values gets one bar per value.
DISCRETE_VALUES = 12
#: "other" longer than this many times the longest named category is cut (see category_chart).
OTHER_CUT = 2.0
#: Bins per column kept with a stored result (adjacent bins are merged down to it).
STORED_BINS = 30
#: Columns whose distributions a stored result keeps (drifted and failed columns first).
STORED_COLUMNS = 200
#: Characters of a category label kept with a stored result.
STORED_LABEL_CHARS = 120
REFERENCE_COLOR = "#94a3b8"
CURRENT_COLOR = "#2563eb"

#: The page may fetch nothing: no scripts, fonts, images or frames; inline styles only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SideStats:
    """Summary numbers of one side of one column (after cleaning)."""

    count: int
    nulls: int
    #: numerical: mean, std, min, median, max; categorical: distinct, most frequent
    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Distribution:
    """What the page draws for one column: a histogram or category bars, and side stats.

    ``edges`` is set for a histogram (``len(edges) == len(reference.counts) + 1``);
    ``categories`` for category bars; neither when both sides are empty (nothing
    to draw). Counts exclude nulls.
    """

    reference: Bars
    current: Bars
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    reference_stats: SideStats | None = None
    current_stats: SideStats | None = None
    #: category bars: the axis end (a share) when one row would squash the others
    axis_max: float | None = None

    @property
    def drawable(self) -> bool:
        return bool(self.edges or self.categories)

    def svg(self, title: str = "") -> str:
        """The chart, as inline SVG text ('' when there is nothing to draw)."""
        if not self.drawable:
            return ""
        if self.edges:
            return histogram_chart(self.edges, [self.reference, self.current], title=title)
        return category_chart(
            self.categories, [self.reference, self.current], title=title, axis_max=self.axis_max
        )

    def compact(self, max_bins: int = STORED_BINS) -> Distribution:
        """The same histogram with adjacent bins merged pairwise until at most
        ``max_bins`` remain (one bar per integer can give up to twice :data:`BINS`).

        >>> ref = Bars(label="reference", counts=[1, 2, 3, 4, 5])
        >>> cur = Bars(label="current", counts=[0, 1, 0, 1, 0])
        >>> small = Distribution(reference=ref, current=cur, edges=(0, 1, 2, 3, 4, 5)).compact(2)
        >>> small.edges, list(small.reference.counts), list(small.current.counts)
        ((0, 4, 5), [10, 5], [2, 0])
        """
        if max_bins < 1:
            raise InvalidArgument(f"max_bins must be at least 1, got {max_bins}")
        edges = list(self.edges)
        ref, cur = list(self.reference.counts), list(self.current.counts)
        while len(edges) - 1 > max_bins:
            edges = edges[::2] if len(edges) % 2 else [*edges[::2], edges[-1]]
            ref = [sum(ref[i : i + 2]) for i in range(0, len(ref), 2)]
            cur = [sum(cur[i : i + 2]) for i in range(0, len(cur), 2)]
        return replace(
            self,
            edges=tuple(edges),
            reference=replace(self.reference, counts=ref),
            current=replace(self.current, counts=cur),
        )

    def to_dict(self) -> dict[str, Any]:
        """The compact JSON form a monitor result keeps (see :meth:`from_dict`)."""
        return {
            "edges": _short_edges(self.edges),
            "categories": [c[:STORED_LABEL_CHARS] for c in self.categories],
            "reference": _bars_dict(self.reference),
            "current": _bars_dict(self.current),
            "reference_stats": _stats_dict(self.reference_stats),
            "current_stats": _stats_dict(self.current_stats),
            "axis_max": self.axis_max,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Distribution:
        """Read :meth:`to_dict`'s form back; :class:`InvalidArgument` when it is malformed.

        >>> d = Distribution(reference=Bars(label="reference", counts=[3]),
        ...                  current=Bars(label="current", counts=[1]), categories=("a",))
        >>> Distribution.from_dict(d.to_dict()).categories
        ('a',)
        """
        try:
            edges = tuple(float(e) for e in data.get("edges") or ())
            categories = tuple(str(c) for c in data.get("categories") or ())
            reference = _bars_from(data["reference"], "reference", REFERENCE_COLOR)
            current = _bars_from(data["current"], "current", CURRENT_COLOR)
            axis = data.get("axis_max")
            out = cls(
                reference=reference,
                current=current,
                edges=edges,
                categories=categories,
                reference_stats=_stats_from(data.get("reference_stats")),
                current_stats=_stats_from(data.get("current_stats")),
                axis_max=None if axis is None else float(axis),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidArgument(f"Malformed stored distribution: {exc!r}") from None
        bars = len(edges) - 1 if edges else len(categories)
        mixed = bool(edges and categories) or len(edges) == 1
        if mixed or any(len(b.counts) != bars for b in (reference, current)):
            raise InvalidArgument(
                f"Malformed stored distribution: {bars} bins, but "
                f"{len(reference.counts)} and {len(current.counts)} counts"
            )
        return out


def _short_edges(edges: Sequence[float]) -> list[float]:
    """Edges to 7 significant digits (they only place the bars), unless that would
    merge two of them."""
    short = [float(f"{e:.7g}") for e in edges]
    if all(b > a for a, b in itertools.pairwise(short)):
        return short
    return [float(e) for e in edges]


def _bars_dict(bars: Bars) -> dict[str, Any]:
    return {
        "counts": [int(c) for c in bars.counts],
        "underflow": int(bars.underflow),
        "overflow": int(bars.overflow),
    }


def _bars_from(data: Mapping[str, Any], label: str, color: str) -> Bars:
    return Bars(
        label=label,
        counts=[int(c) for c in data["counts"]],
        underflow=int(data.get("underflow", 0)),
        overflow=int(data.get("overflow", 0)),
        color=color,
    )


def _stats_dict(stats: SideStats | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {"count": stats.count, "nulls": stats.nulls, "items": [list(i) for i in stats.items]}


def _stats_from(data: Mapping[str, Any] | None) -> SideStats | None:
    if data is None:
        return None
    return SideStats(
        count=int(data["count"]),
        nulls=int(data["nulls"]),
        items=tuple((str(k), str(v)) for k, v in data.get("items") or ()),
    )


# --------------------------------------------------------------------------- distributions


def _values(current: Any) -> npt.NDArray[Any]:
    """A current column (pandas Series, NumPy array or sequence) as a flat NumPy array."""
    to_numpy = getattr(current, "to_numpy", None)
    array = np.asarray(to_numpy() if to_numpy is not None else current)
    return array.reshape(-1)


def _numeric(values: npt.NDArray[Any]) -> tuple[npt.NDArray[np.float64], int]:
    """Finite values as float64 and the count of the rest (null, NaN, ±inf, not a number)."""
    if values.dtype.kind in "biuf":
        floats = values.astype(np.float64, copy=False)
    else:
        floats = np.array([_to_float(v) for v in values.tolist()], dtype=np.float64).reshape(-1)
    keep = np.isfinite(floats)
    return floats[keep], int(values.size - np.count_nonzero(keep))


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):  # None, pd.NA, strings
        return math.nan


def _category_counts(current: Any) -> tuple[dict[Any, int], int]:
    """Counts of each non-null value, and the number of nulls (None, NaN, NA, ±inf)."""
    import pandas as pd

    series = current if isinstance(current, pd.Series) else pd.Series(_values(current))
    counted = series.value_counts(dropna=True, sort=False)
    counts: dict[Any, int] = {}
    for raw, count in zip(counted.index.tolist(), counted.tolist(), strict=True):
        key = _key(raw)
        if isinstance(key, float) and math.isinf(key):
            continue  # cleaned away like a null, as the tests do
        counts[key] = counts.get(key, 0) + int(count)
    return counts, int(len(series) - sum(counts.values()))


def _key(value: Any) -> Any:
    """A category key comparable across NumPy and Python scalars."""
    return value.item() if isinstance(value, np.generic) else value


def _label(key: Any) -> str:
    if isinstance(key, float):
        return format_number(key)
    return str(key)


def _numeric_stats(values: npt.NDArray[np.float64], nulls: int) -> SideStats:
    if values.size == 0:
        return SideStats(count=0, nulls=nulls, items=())
    ordered = values if _is_sorted(values) else np.sort(values)
    return SideStats(
        count=int(values.size),
        nulls=nulls,
        items=(
            ("mean", short_number(float(np.mean(ordered)), digits=4)),
            ("std", short_number(float(np.std(ordered)), digits=4)),
            ("min", short_number(float(ordered[0]), digits=4)),
            ("median", short_number(float(np.median(ordered)), digits=4)),
            ("max", short_number(float(ordered[-1]), digits=4)),
        ),
    )


def _is_sorted(values: npt.NDArray[np.float64]) -> bool:
    return bool(values.size < 2 or np.all(values[1:] >= values[:-1]))


def _sorted_counts(
    ordered: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]
) -> tuple[list[int], int, int]:
    """Counts per bin (half-open, the last closed), below the first and above the last edge."""
    left = np.searchsorted(ordered, edges, side="left")
    last = int(np.searchsorted(ordered, edges[-1], side="right"))
    counts = np.diff(left).astype(np.int64)
    counts[-1] += last - int(left[-1])
    return [int(c) for c in counts], int(left[0]), int(ordered.size - last)


def _distinct(ordered: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    if ordered.size == 0:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def _value_counts(ordered: npt.NDArray[np.float64], values: npt.NDArray[np.float64]) -> list[int]:
    counts = np.searchsorted(ordered, values, side="right") - np.searchsorted(
        ordered, values, side="left"
    )
    return [int(c) for c in counts]


def numeric_distribution(
    reference: ReferenceColumn, current: Any, *, bins: int = BINS
) -> Distribution:
    """Reference and current histograms on shared edges (see the module docstring)."""
    if bins < 1:
        raise InvalidArgument(f"A histogram needs at least 1 bin, got {bins}")
    ref = (
        reference.sorted_values
        if reference.sorted_values is not None
        else np.empty(0, dtype=np.float64)
    )
    cur, cur_dropped = _numeric(_values(current))
    cur = np.sort(cur)
    ref_stats = _numeric_stats(ref, reference.null_count)
    cur_stats = _numeric_stats(cur, cur_dropped)
    pooled = np.concatenate([ref, cur])
    if pooled.size == 0:
        return Distribution(
            reference=Bars(label="reference", counts=[], color=REFERENCE_COLOR),
            current=Bars(label="current", counts=[], color=CURRENT_COLOR),
            reference_stats=ref_stats,
            current_stats=cur_stats,
        )
    # Both sides are sorted: their distinct values come from one pass each. Their
    # union is only needed when both are short (a long side makes the column continuous).
    ref_distinct, cur_distinct = _distinct(ref), _distinct(cur)
    if max(ref_distinct.size, cur_distinct.size) <= DISCRETE_VALUES:
        distinct = np.union1d(ref_distinct, cur_distinct)
        if distinct.size <= DISCRETE_VALUES:
            return Distribution(
                reference=Bars(
                    label="reference", counts=_value_counts(ref, distinct), color=REFERENCE_COLOR
                ),
                current=Bars(
                    label="current", counts=_value_counts(cur, distinct), color=CURRENT_COLOR
                ),
                categories=tuple(format_number(float(v)) for v in distinct),
                reference_stats=ref_stats,
                current_stats=cur_stats,
            )
    lo, hi = (float(v) for v in np.percentile(pooled, [1.0, 99.0]))
    if not hi > lo:
        lo, hi = float(pooled.min()), float(pooled.max())
    whole = all(bool(np.all(d == np.floor(d))) for d in (ref_distinct, cur_distinct))
    if whole and math.ceil(hi) - math.floor(lo) < 2 * bins:
        # Whole numbers over a short range (counts, ratings): one bar per integer, centred,
        # instead of equal-width bins that would leave every other bin empty.
        edges = np.arange(math.floor(lo), math.ceil(hi) + 1, dtype=np.float64)
        edges = np.append(edges - 0.5, edges[-1] + 0.5)
    else:
        edges = np.linspace(lo, hi, bins + 1)
        if not np.all(np.diff(edges) > 0):  # a range too narrow for float64 steps
            edges = np.array([lo, hi])
    ref_counts, ref_under, ref_over = _sorted_counts(ref, edges)
    cur_counts, cur_under, cur_over = _sorted_counts(cur, edges)
    return Distribution(
        reference=Bars(
            label="reference",
            counts=ref_counts,
            underflow=ref_under,
            overflow=ref_over,
            color=REFERENCE_COLOR,
        ),
        current=Bars(
            label="current",
            counts=cur_counts,
            underflow=cur_under,
            overflow=cur_over,
            color=CURRENT_COLOR,
        ),
        edges=tuple(float(e) for e in edges),
        reference_stats=ref_stats,
        current_stats=cur_stats,
    )


def _category_stats(counts: Mapping[Any, int], nulls: int) -> SideStats:
    total = sum(counts.values())
    if total == 0:
        return SideStats(count=0, nulls=nulls, items=())
    top_count = max(counts.values())
    top_key = min((k for k, c in counts.items() if c == top_count), key=str)
    return SideStats(
        count=total,
        nulls=nulls,
        items=(
            ("distinct", f"{len(counts):,}"),
            ("most frequent", f"{_label(top_key)} ({percent(top_count / total)})"),
        ),
    )


def categorical_distribution(
    reference: ReferenceColumn, current: Any, *, top_k: int = TOP_K
) -> Distribution:
    """Bar pairs for the ``top_k`` categories with the largest share on either side, then
    "other" for the rest (new categories in the current window compete on equal terms)."""
    if top_k < 1:
        raise InvalidArgument(f"top_k must be at least 1, got {top_k}")
    ref_counts: dict[Any, int] = {}
    if reference.counts is not None:
        ref_counts = {
            _key(k): int(c) for k, c in zip(reference.keys, reference.counts, strict=True)
        }
    cur_counts, cur_nulls = _category_counts(current)
    ref_total = sum(ref_counts.values()) or 1
    cur_total = sum(cur_counts.values()) or 1
    keys = list({**dict.fromkeys(ref_counts), **dict.fromkeys(cur_counts)})
    keys.sort(
        key=lambda k: (
            -max(ref_counts.get(k, 0) / ref_total, cur_counts.get(k, 0) / cur_total),
            str(k),
        )
    )
    shown, rest = keys[:top_k], keys[top_k:]
    if len(rest) == 1:  # "other (1 category)" would hide a name for no gain
        shown, rest = keys, []
    labels = [_label(k) for k in shown]
    ref_bars = [ref_counts.get(k, 0) for k in shown]
    cur_bars = [cur_counts.get(k, 0) for k in shown]
    axis_max = None
    if rest:
        labels.append(f"other ({len(rest):,} categories)")
        ref_bars.append(sum(ref_counts.get(k, 0) for k in rest))
        cur_bars.append(sum(cur_counts.get(k, 0) for k in rest))
        # Many small categories fold into a large "other": cut its bar rather than let it
        # shrink the named categories, whose differences are the point of the chart.
        named = max(max(ref_bars[:-1]) / ref_total, max(cur_bars[:-1]) / cur_total)
        other = max(ref_bars[-1] / ref_total, cur_bars[-1] / cur_total)
        if named > 0 and other > OTHER_CUT * named:
            axis_max = min(1.0, named * 1.25)
    return Distribution(
        reference=Bars(label="reference", counts=ref_bars, color=REFERENCE_COLOR),
        current=Bars(label="current", counts=cur_bars, color=CURRENT_COLOR),
        categories=tuple(labels),
        reference_stats=_category_stats(ref_counts, reference.null_count),
        current_stats=_category_stats(cur_counts, cur_nulls),
        axis_max=axis_max,
    )


def column_distribution(
    reference: ReferenceColumn, current: Any, *, bins: int = BINS, top_k: int = TOP_K
) -> Distribution | None:
    """The distribution to draw for one column, or None for text columns."""
    if reference.kind == ColumnKind.NUMERICAL:
        return numeric_distribution(reference, current, bins=bins)
    if reference.kind == ColumnKind.CATEGORICAL:
        return categorical_distribution(reference, current, top_k=top_k)
    return None


# --------------------------------------------------------------------------- the page


@dataclass(frozen=True, slots=True, kw_only=True)
class _Row:
    index: int
    column: str
    #: "" for a feature; "prediction" or "target" for those columns (not in dataset drift)
    role: str
    type: str
    test: str
    score: str
    threshold: str
    verdict: str  # "drift", "ok" or "error"
    error: str
    chart: Markup | None
    note: str
    stats: tuple[tuple[str, str, str], ...]


def _stats_rows(
    reference: SideStats | None, current: SideStats | None
) -> tuple[tuple[str, str, str], ...]:
    """(label, reference, current) lines of the side-by-side summary table."""
    if reference is None or current is None:
        return ()
    ref_items, cur_items = dict(reference.items), dict(current.items)
    labels = list(dict.fromkeys([*ref_items, *cur_items]))
    return (
        ("values", f"{reference.count:,}", f"{current.count:,}"),
        ("missing", f"{reference.nulls:,}", f"{current.nulls:,}"),
        *((k, ref_items.get(k, "—"), cur_items.get(k, "—")) for k in labels),
    )


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):  # "NaN" / "Infinity" spelled out by a JSON form
        return value
    return format_number(float(value), digits=4)


_TYPE_NAMES = {"num": "numerical", "cat": "categorical", "text": "text"}


class _Sources:
    """Where the two sides of each column come from: a reference profile (given, or built
    once from the reference frame, with the engine's own cleaning) and the current frame."""

    def __init__(self, reference: Any, current: Any, names: Sequence[str]) -> None:
        self.profile: ReferenceProfile | None = None
        self.current: _Frame | None = None
        if isinstance(reference, ReferenceProfile):
            self.profile = reference
        elif reference is not None:
            frame = _Frame(reference, role="reference")
            wanted = [name for name in dict.fromkeys(names) if name in frame]
            self.profile = ReferenceProfile.from_frame(frame, columns=wanted, keep_texts=False)
        if current is not None:
            self.current = _Frame(current, role="current")

    @property
    def given(self) -> bool:
        return self.profile is not None or self.current is not None

    def sides(self, name: str, kind: ColumnKind) -> tuple[ReferenceColumn, Any] | str:
        """The reference column and current values of ``name``, or why they are missing."""
        if self.profile is None or name not in self.profile.columns:
            return "The reference data given to the report has no column of this name."
        if self.current is None or name not in self.current:
            return "The current data given to the report has no column of this name."
        try:
            reference = self.profile.reference_column(name, kind)
        except InvalidArgument as exc:
            return f"No distribution drawn: {exc.message}"
        return reference, self.current.series(name)


def _kind(type_: str) -> ColumnKind | None:
    try:
        return ColumnKind(type_)
    except ValueError:
        return None


def _verdict(col: Mapping[str, Any]) -> str:
    return "error" if col.get("error") else ("drift" if col.get("drift_detected") else "ok")


def _rows(
    columns: Sequence[tuple[Mapping[str, Any], str]],
    sources: _Sources,
    stored: Mapping[str, Any],
    *,
    bins: int,
    top_k: int,
) -> list[_Row]:
    rows: list[_Row] = []
    for index, (col, role) in enumerate(columns):
        name = str(col.get("column", ""))
        type_ = str(col.get("type") or "")
        error = col.get("error") or ""
        verdict = _verdict(col)
        chart: Markup | None = None
        note = ""
        stats: tuple[SideStats | None, SideStats | None] = (None, None)
        kind = _kind(type_)
        dist: Distribution | None = None
        if kind == ColumnKind.TEXT:
            note = "Text columns are compared by a domain classifier; no distribution is drawn."
        elif kind is not None and sources.given:
            sides = sources.sides(name, kind)
            if isinstance(sides, str):
                note = sides
            else:
                dist = column_distribution(*sides, bins=bins, top_k=top_k)
        elif kind is not None and isinstance(stored.get(name), Mapping):
            try:
                dist = Distribution.from_dict(stored[name])
            except InvalidArgument as exc:
                note = f"The stored distribution cannot be drawn: {exc.message}"
        elif kind is not None and stored:
            note = "The stored result keeps no distribution of this column."
        elif kind is not None:
            note = "No data was given to the report, so no distribution is drawn."
        if dist is not None:
            if dist.drawable:
                # The chart module escapes every piece of text it draws.
                chart = Markup(dist.svg())  # noqa: S704
            else:
                note = "No values on either side after removing nulls: nothing to draw."
            stats = (dist.reference_stats, dist.current_stats)
        rows.append(
            _Row(
                index=index,
                column=name,
                role=role,
                type=_TYPE_NAMES.get(type_, type_),
                test=str(col.get("stattest_display_name") or col.get("stattest") or ""),
                score=_number(col.get("score")),
                threshold=_number(col.get("threshold")),
                verdict=verdict,
                error=str(error),
                chart=chart,
                note=note,
                stats=_stats_rows(*stats),
            )
        )
    return rows


_ORDER = {"drift": 0, "error": 1, "ok": 2}


def render_html(
    report: DriftReport | Mapping[str, Any],
    reference: Any = None,
    current: Any = None,
    *,
    title: str = "Data drift report",
    generated_at: dt.datetime | None = None,
    bins: int = BINS,
    top_k: int = TOP_K,
    distributions: Mapping[str, Any] | None = None,
) -> str:
    """The report as one self-contained HTML page (a string; write it with UTF-8).

    ``report`` is a :class:`DriftReport` or its ``to_dict()`` form (e.g. read
    back from JSON). ``reference`` and ``current`` are the data the report
    was computed from (pandas DataFrames or PyArrow Tables); ``reference``
    may also be a :class:`ReferenceProfile`. Without them, the distributions
    are drawn from ``distributions`` (the form :func:`stored_distributions`
    makes; by default the report's own ``"distributions"`` key, as a monitor
    result keeps it), and without those either the page has everything but
    the distributions.
    """
    data: Mapping[str, Any] = report if isinstance(report, Mapping) else report.to_dict()
    columns = _report_columns(data)
    dataset = dict(data.get("dataset") or {})
    sources = _Sources(reference, current, [str(c.get("column", "")) for c, _ in columns])
    if distributions is None:
        distributions = data.get("distributions")
    stored = distributions if isinstance(distributions, Mapping) else {}
    rows = _rows(columns, sources, stored, bins=bins, top_k=top_k)
    moment = (generated_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    share = dataset.get("share")
    drift_share = dataset.get("drift_share")
    summary = {
        "dataset_drift": bool(dataset.get("dataset_drift")),
        "drifted": dataset.get("number_of_drifted_columns", 0),
        "tested": dataset.get("number_of_columns", len(columns)),
        "share": percent(float(share)) if isinstance(share, int | float) else "—",
        "drift_share": (
            percent(float(drift_share)) if isinstance(drift_share, int | float) else "—"
        ),
        "preset": str(data.get("preset") or "—"),
        "reference_rows": _count(data.get("reference_rows")),
        "current_rows": _count(data.get("current_rows")),
        "errors": sum(1 for r in rows if r.verdict == "error" and not r.role),
        "roles": [r for r in rows if r.role],
        "generated": moment.strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    page: str = _template().render(
        title=title,
        csp=CONTENT_SECURITY_POLICY,
        summary=summary,
        table=sorted(rows, key=lambda r: (bool(r.role), _ORDER[r.verdict], r.index)),
        sections=rows,
    )
    return page


def _report_columns(data: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], str]]:
    """The report's columns with their role: features, then prediction and target."""
    columns: list[tuple[Mapping[str, Any], str]] = [(c, "") for c in data.get("columns") or []]
    for role in ("prediction", "target"):
        extra = data.get(f"{role}_drift")
        if isinstance(extra, Mapping):
            columns.append((extra, role))
    return columns


def stored_distributions(
    report: DriftReport | Mapping[str, Any],
    reference: Any,
    current: Any,
    *,
    max_columns: int = STORED_COLUMNS,
    max_bins: int = STORED_BINS,
) -> dict[str, dict[str, Any]]:
    """Each column's reference and current distribution, compact enough to keep with
    every monitor result: at most ``max_bins`` bins per column (adjacent bins
    merged), category labels cut to :data:`STORED_LABEL_CHARS` characters, and
    at most ``max_columns`` columns, drifted and failed ones first. Keyed by
    column name, in the form :meth:`Distribution.to_dict` gives; text columns
    and columns missing from either side are left out.

    >>> import pandas as pd
    >>> report = {"columns": [{"column": "x", "type": "num", "drift_detected": False}]}
    >>> ref, cur = pd.DataFrame({"x": range(100)}), pd.DataFrame({"x": range(50, 150)})
    >>> kept = stored_distributions(report, ref, cur)
    >>> len(kept["x"]["edges"]) - 1 <= STORED_BINS, sum(kept["x"]["current"]["counts"]) > 0
    (True, True)
    """
    if max_columns < 0:
        raise InvalidArgument(f"max_columns must be >= 0, got {max_columns}")
    data: Mapping[str, Any] = report if isinstance(report, Mapping) else report.to_dict()
    columns = [c for c, _ in _report_columns(data)]
    columns.sort(key=lambda c: _ORDER[_verdict(c)])
    sources = _Sources(reference, current, [str(c.get("column", "")) for c in columns])
    out: dict[str, dict[str, Any]] = {}
    for col in columns:
        if len(out) >= max_columns:
            break
        name, kind = str(col.get("column", "")), _kind(str(col.get("type") or ""))
        if kind is None or kind == ColumnKind.TEXT or name in out:
            continue
        sides = sources.sides(name, kind)
        if isinstance(sides, str):
            continue
        dist = column_distribution(*sides)
        if dist is not None:
            out[name] = dist.compact(max_bins).to_dict()
    return out


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "—"


_ENVIRONMENT: Environment | None = None


def _template() -> Any:
    global _ENVIRONMENT  # noqa: PLW0603 - built once, on first use (no work at import)
    if _ENVIRONMENT is None:
        _ENVIRONMENT = Environment(autoescape=True, undefined=StrictUndefined)
    return _ENVIRONMENT.from_string(_PAGE)


_PAGE = """{%- macro badge(verdict) -%}
<span class="badge {{ verdict }}">{{ {"drift": "Drift", "ok": "No drift",
  "error": "Error"}[verdict] }}</span>
{%- endmacro -%}
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="moorline">
<title>{{ title }}</title>
<style>
:root { --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #f8fafc;
  --drift: #b91c1c; --drift-bg: #fee2e2; --ok: #15803d; --ok-bg: #dcfce7;
  --error: #92400e; --error-bg: #fef3c7; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; }
h3 { font-size: 15px; margin: 0; display: flex; gap: 10px; align-items: center;
  flex-wrap: wrap; word-break: break-all; }
a { color: #1d4ed8; text-decoration: none; }
a:hover { text-decoration: underline; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 18px; }
.summary { display: flex; gap: 24px; align-items: stretch; flex-wrap: wrap; margin-top: 14px; }
.headline { font-size: 20px; font-weight: 650; padding: 14px 18px; border-radius: 8px;
  display: flex; flex-direction: column; justify-content: center; min-width: 260px; }
.headline small { font-size: 13px; font-weight: 400; margin-top: 4px; }
.headline.drift { background: var(--drift-bg); color: var(--drift); }
.headline.ok { background: var(--ok-bg); color: var(--ok); }
.facts { display: grid; grid-template-columns: max-content auto; gap: 4px 18px; margin: 0;
  align-content: center; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; font-variant-numeric: tabular-nums; }
.meter { height: 8px; background: var(--line); border-radius: 4px; position: relative;
  width: 220px; margin-top: 8px; }
.meter span { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 4px; }
.meter i { position: absolute; top: -4px; bottom: -4px; width: 2px; background: var(--fg); }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line);
  border-radius: 8px; overflow: hidden; }
th, td { text-align: left; padding: 7px 12px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: #f1f5f9; font-weight: 600; font-size: 13px; white-space: nowrap; }
th.sorted::after { content: " \\25BE"; color: var(--muted); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name { word-break: break-all; max-width: 340px; }
td.test { white-space: nowrap; }
td.err { color: var(--error); max-width: 360px; }
tr:last-child td, tr:last-child th { border-bottom: 0; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px;
  font-weight: 600; white-space: nowrap; }
.badge.drift { background: var(--drift-bg); color: var(--drift); }
.badge.ok { background: var(--ok-bg); color: var(--ok); }
.badge.error { background: var(--error-bg); color: var(--error); }
.column { margin-top: 16px; }
.meta { color: var(--muted); margin: 4px 0 10px; }
.meta b { color: var(--fg); font-weight: 600; }
.body { display: flex; gap: 22px; flex-wrap: wrap; align-items: flex-start; }
.chart svg { display: block; max-width: 100%; height: auto; }
.stats { border: 0; width: auto; font-size: 13px; }
.stats th, .stats td { padding: 3px 10px; border-bottom: 1px solid var(--line); }
.stats th { background: none; }
.error-box { background: var(--error-bg); color: var(--error); border-radius: 6px;
  padding: 8px 12px; margin: 6px 0 10px; white-space: pre-wrap; word-break: break-word; }
.note { color: var(--muted); font-style: italic; }
.muted { color: var(--muted); }
.role { font-size: 12px; font-weight: 500; color: #5b21b6; background: #ede9fe;
  border-radius: 4px; padding: 0 6px; white-space: nowrap; }
footer { color: var(--muted); font-size: 12px; margin-top: 36px; }
@media print { body { background: #fff; } .column { break-inside: avoid; } }
</style>
</head>
<body>
<main>
<header>
<h1>{{ title }}</h1>
<div class="summary">
  <div class="headline {{ 'drift' if summary.dataset_drift else 'ok' }}" id="dataset-verdict"
       data-dataset-drift="{{ 'true' if summary.dataset_drift else 'false' }}">
    {{ "Dataset drift detected" if summary.dataset_drift else "No dataset drift" }}
    <small>{{ summary.drifted }} of {{ summary.tested }} columns drifted
      ({{ summary.share }}; dataset drift at {{ summary.drift_share }} or more)</small>
  </div>
  <dl class="facts card">
    <dt>Preset</dt><dd>{{ summary.preset }}</dd>
    <dt>Reference rows</dt><dd>{{ summary.reference_rows }}</dd>
    <dt>Current rows</dt><dd>{{ summary.current_rows }}</dd>
    <dt>Columns tested</dt><dd>{{ summary.tested }}{% if summary.errors %}
      <span class="badge error">{{ summary.errors }} could not be tested</span>{% endif %}</dd>
    {%- for r in summary.roles %}
    <dt>{{ r.role | capitalize }} drift</dt><dd>{{ badge(r.verdict) }}
      <span class="muted">{{ r.column }}</span></dd>
    {%- endfor %}
    <dt>Generated</dt><dd>{{ summary.generated }}</dd>
  </dl>
</div>
</header>

<h2>Columns</h2>
<table class="columns">
<thead><tr><th>Column</th><th>Type</th><th>Test</th><th class="num">Score</th>
<th class="num">Threshold</th><th class="sorted">Verdict</th><th>Error</th></tr></thead>
<tbody>
{%- for r in table %}
<tr data-column="{{ r.column }}" data-verdict="{{ r.verdict }}">
<td class="name"><a href="#col-{{ r.index }}">{{ r.column }}</a>{% if r.role %}
  <span class="role">{{ r.role }}</span>{% endif %}</td>
<td>{{ r.type }}</td><td class="test">{{ r.test }}</td>
<td class="num">{{ r.score }}</td><td class="num">{{ r.threshold }}</td>
<td>{{ badge(r.verdict) }}</td><td class="err">{{ r.error }}</td></tr>
{%- endfor %}
</tbody>
</table>

<h2>Distributions</h2>
{%- for r in sections %}
<section class="column card" id="col-{{ r.index }}" data-column="{{ r.column }}"
         data-verdict="{{ r.verdict }}">
<h3><span>{{ r.column }}</span> {{ badge(r.verdict) }}{% if r.role %}
  <span class="role">{{ r.role }} (not counted in dataset drift)</span>{% endif %}</h3>
<p class="meta">{{ r.type }} · {% if r.test %}<b>{{ r.test }}</b> {{ r.score }}
  (threshold {{ r.threshold }}){% else %}not tested{% endif %}</p>
{%- if r.error %}<div class="error-box">{{ r.error }}</div>{% endif %}
<div class="body">
{%- if r.chart %}<div class="chart">{{ r.chart }}</div>{% endif %}
{%- if r.stats %}
<table class="stats">
<thead><tr><th></th><th class="num">reference</th><th class="num">current</th></tr></thead>
<tbody>
{%- for label, ref, cur in r.stats %}
<tr><th>{{ label }}</th><td class="num">{{ ref }}</td><td class="num">{{ cur }}</td></tr>
{%- endfor %}
</tbody>
</table>
{%- endif %}
{%- if r.note %}<p class="note">{{ r.note }}</p>{% endif %}
</div>
</section>
{%- endfor %}
<footer>Made by moorline. This page is self-contained: it loads no scripts, fonts or images.
</footer>
</main>
</body>
</html>
"""
