"""Bar charts that compare distributions, as standalone SVG text.

Two shapes, both drawing every series side by side within each bin or
category so that a reference and a current sample can be read against each
other at a glance:

- :func:`histogram_chart`: a numerical distribution over shared bin edges.
  Values below the first edge or above the last one are drawn as two extra
  bars set apart at the ends (labelled "< lo" / "> hi"), so clipping the axis to the
  bulk of the data (say the 1st to 99th percentile) hides nothing.
- :func:`category_chart`: one row of horizontal bars per category, which
  keeps long category names readable.

Heights are *shares* of each series' total, not raw counts: two samples of
different sizes are comparable only as proportions. The raw counts stay in
``data-*`` attributes and in hover titles. All user text is escaped, so a
chart can be inlined into an HTML page as is.

>>> svg = histogram_chart(
...     [0.0, 1.0, 2.0],
...     [Bars(label="reference", counts=[3, 1]), Bars(label="current", counts=[1, 3], overflow=2)],
... )
>>> svg.startswith("<svg") and 'data-bins="2"' in svg and 'data-overflow="2"' in svg
True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from moorline.charts.line import (
    _COLOR_RE,
    _FONT,
    PALETTE,
    _coord,
    _shorten,
    _text,
    format_number,
    nice_ticks,
)
from moorline.errors import InvalidArgument

#: Most bins or categories one chart accepts: beyond that bars are thinner than a pixel.
MAX_BARS = 500
_CHAR_WIDTH = 6.4  # average glyph width (px) of the 11px sans-serif used for labels
_CATEGORY_CHARS = 28


@dataclass(frozen=True, slots=True, kw_only=True)
class Bars:
    """One series: a count per bin (or category), plus counts outside the drawn range.

    ``underflow`` and ``overflow`` count values below the first and above
    the last histogram edge (ignored by :func:`category_chart`). Shares are
    taken over ``counts + underflow + overflow``. ``color`` defaults to the
    palette colour of the series' position.
    """

    label: str
    counts: Sequence[float]
    underflow: float = 0
    overflow: float = 0
    color: str | None = None

    @property
    def total(self) -> float:
        return float(sum(self.counts)) + float(self.underflow) + float(self.overflow)


def short_number(value: float, *, digits: int = 3) -> str:
    """``value`` in few characters for a tight label: ``digits`` significant digits, large
    magnitudes with a k/M/G/T suffix, exponents only for the very small or very large.

    >>> short_number(2049.7), short_number(212_345.0), short_number(16.54), short_number(-0.01234)
    ('2050', '212k', '16.5', '-0.0123')
    >>> short_number(3.2e-7), short_number(0.0), short_number(float("inf"))
    ('3.2e-07', '0', '∞')
    """
    if not math.isfinite(value) or value == 0:
        return format_number(value)
    rounded = float(f"{value:.{digits}g}")
    magnitude = abs(rounded)
    if magnitude < 1e-3 or magnitude >= 1e15:
        return f"{value:.{digits}g}"
    for threshold, divisor, suffix in ((1e12, 1e12, "T"), (1e9, 1e9, "G"), (1e6, 1e6, "M")):
        if magnitude >= threshold:
            return f"{format_number(rounded / divisor, digits=digits)}{suffix}"
    if magnitude >= 1e4:
        return f"{format_number(rounded / 1e3, digits=digits)}k"
    exponent = math.floor(math.log10(magnitude))
    decimals = max(digits - 1 - exponent, 0)
    text = f"{rounded:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def percent(share: float) -> str:
    """A share as a short percentage: ``0.1234`` -> ``'12.3%'``; tiny non-zero shares stay visible.

    >>> percent(0.1234), percent(0.0), percent(0.00004), percent(1.0)
    ('12.3%', '0%', '<0.01%', '100%')
    """
    if not math.isfinite(share):
        return format_number(share)
    value = share * 100
    if value == 0:
        return "0%"
    if abs(value) < 0.01:
        return "<0.01%"
    if abs(value) < 1:
        return f"{value:.2f}%"
    if abs(value - round(value)) < 0.05:
        return f"{round(value)}%"
    return f"{value:.1f}%"


def _check_series(series: Sequence[Bars], length: int, what: str) -> None:
    if not series:
        raise InvalidArgument("A bar chart needs at least one series")
    if length > MAX_BARS:
        raise InvalidArgument(f"A bar chart draws at most {MAX_BARS} {what}, got {length}")
    for s in series:
        if len(s.counts) != length:
            raise InvalidArgument(
                f"Series {s.label!r} has {len(s.counts)} counts for {length} {what}"
            )
        values = [*s.counts, s.underflow, s.overflow]
        if any(not math.isfinite(v) or v < 0 for v in values):
            raise InvalidArgument(f"Series {s.label!r} has a negative or non-finite count")
        if s.color is not None and not _COLOR_RE.match(s.color):
            raise InvalidArgument(f"Invalid colour {s.color!r} for series {s.label!r}")


def _shares(s: Bars) -> tuple[list[float], float, float]:
    total = s.total
    if total <= 0:
        return [0.0] * len(s.counts), 0.0, 0.0
    return [c / total for c in s.counts], s.underflow / total, s.overflow / total


def _color(series: Sequence[Bars], i: int) -> str:
    return series[i].color or PALETTE[i % len(PALETTE)]


def _count(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else format_number(value)


def _legend(series: Sequence[Bars], x_right: float, y: float) -> str:
    """Legend entries laid out right-aligned on one line ending at ``x_right``."""
    items = [(i, _shorten(s.label, 24)) for i, s in enumerate(series)]
    widths = [18 + len(label) * _CHAR_WIDTH + 12 for _, label in items]
    x = x_right - sum(widths)
    out = ['<g class="legend" fill="#1f2937">']
    for (i, label), w in zip(items, widths, strict=True):
        out.append(
            f'<g class="legend-item" data-index="{i}"><title>{_text(series[i].label)}</title>'
            f'<rect x="{_coord(x)}" y="{_coord(y - 8)}" width="11" height="11" rx="2" '
            f'fill="{_color(series, i)}"/>'
            f'<text x="{_coord(x + 16)}" y="{_coord(y - 2.5)}" dy="0.32em">{_text(label)}</text>'
            "</g>"
        )
        x += w
    out.append("</g>")
    return "".join(out)


def _open_svg(kind: str, width: float, height: float, title: str) -> list[str]:
    label = title or f"{kind} chart"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="moorline-chart moorline-{kind}" '
        f'viewBox="0 0 {_coord(width)} {_coord(height)}" width="{_coord(width)}" '
        f'height="{_coord(height)}" role="img" aria-label="{_text(label)}" '
        f'font-family="{_FONT}" font-size="11"',
        f"<title>{_text(label)}</title>",
    ]


def histogram_chart(
    edges: Sequence[float],
    series: Sequence[Bars],
    *,
    title: str = "",
    x_label: str = "",
    width: int = 560,
    height: int = 260,
    x_format: Callable[[float], str] | None = None,
) -> str:
    """Side-by-side histograms of ``series`` over shared bin ``edges``.

    ``edges`` has one more element than each series has counts and must be
    finite and increasing. The two out-of-range bars are drawn when any
    series has an ``underflow`` or ``overflow``. The y axis is the share of
    each series' total. The SVG carries ``data-bins``, ``data-edges`` and,
    per series, ``data-counts``, ``data-underflow``, ``data-overflow``.

    >>> svg = histogram_chart([0, 1], [Bars(label="only", counts=[5])], title="x")
    >>> 'data-counts="5"' in svg and "100%" in svg
    True
    """
    bins = len(edges) - 1
    if bins < 1:
        raise InvalidArgument(f"A histogram needs at least two edges, got {len(edges)}")
    if any(not math.isfinite(e) for e in edges) or any(
        b <= a for a, b in itertools.pairwise(edges)
    ):
        raise InvalidArgument("Histogram edges must be finite and strictly increasing")
    _check_series(series, bins, "bins")
    if width < 240 or height < 140:
        raise InvalidArgument(f"A chart needs at least 240x140 pixels, got {width}x{height}")
    shares = [_shares(s) for s in series]
    outside_low = any(s.underflow > 0 for s in series)
    outside_high = any(s.overflow > 0 for s in series)
    peak = max(
        (v for bins_, lo, hi in shares for v in (*bins_, lo, hi)),
        default=0.0,
    )
    y_ticks = nice_ticks(0.0, peak * 100 if peak > 0 else 100.0, target=5)
    y_labels = [f"{label}%" for label in y_ticks.labels]

    top = 30.0 if title else 26.0
    bottom = 24.0 + (16.0 if x_label else 0.0)
    left = 14.0 + max(len(label) for label in y_labels) * _CHAR_WIDTH
    right = 12.0
    plot_h = height - top - bottom
    full_w = width - left - right
    # An out-of-range bar gets a region as wide as about 1.6 bins (at least 40px), set apart
    # from the binned range by a dashed line.
    out_w = max(1.6 * full_w / (bins + 3.2), 40.0)
    low_w = out_w if outside_low else 0.0
    high_w = out_w if outside_high else 0.0
    body_x = left + low_w
    body_w = full_w - low_w - high_w
    bin_w = body_w / bins
    lo_edge, hi_edge = float(edges[0]), float(edges[-1])

    def sy(share: float) -> float:
        return top + plot_h - (share * 100 - y_ticks.lo) / (y_ticks.hi - y_ticks.lo) * plot_h

    def sx(value: float) -> float:
        return body_x + (value - lo_edge) / (hi_edge - lo_edge) * body_w

    out = _open_svg("histogram", width, height, title)
    out[0] += (
        f' data-bins="{bins}" data-edges="{" ".join(repr(float(e)) for e in edges)}" '
        f'data-plot="{_coord(left)} {_coord(top)} {_coord(full_w)} {_coord(plot_h)}">'
    )
    out.append(
        f'<rect class="plot-bg" x="{_coord(left)}" y="{_coord(top)}" width="{_coord(full_w)}" '
        f'height="{_coord(plot_h)}" fill="#ffffff" stroke="#d4d8de"/>'
    )
    if title:
        out.append(
            f'<text class="chart-title" x="{_coord(left)}" y="17" font-size="13" '
            f'font-weight="600" fill="#1f2937">{_text(_shorten(title, 60))}</text>'
        )
    out.append(_legend(series, width - right, 17))
    out.append('<g class="y-axis" fill="#4b5563" text-anchor="end">')
    for value, label in zip(y_ticks.values, y_labels, strict=True):
        ty = _coord(top + plot_h - (value - y_ticks.lo) / (y_ticks.hi - y_ticks.lo) * plot_h)
        out.append(
            f'<line x1="{_coord(left)}" x2="{_coord(left + full_w)}" y1="{ty}" y2="{ty}" '
            'stroke="#eceff3"/>'
            f'<text x="{_coord(left - 6)}" y="{ty}" dy="0.32em">{_text(label)}</text>'
        )
    out.append("</g>")
    base = top + plot_h
    # x ticks: round values inside the binned range, the range ends labelled by the bars.
    x_target = max(2, min(7, int(body_w // 80)))
    x_ticks = nice_ticks(lo_edge, hi_edge, target=x_target)
    # Enough significant digits that neighbouring ticks never share a label.
    step = x_ticks.values[1] - x_ticks.values[0] if len(x_ticks.values) > 1 else 0.0
    widest = max(abs(lo_edge), abs(hi_edge))
    digits = 3
    if step > 0 and widest > 0:
        digits = min(15, max(2, math.floor(math.log10(widest)) - math.floor(math.log10(step)) + 1))
    fmt = x_format or (lambda v: short_number(v, digits=digits))
    edge_digits = max(digits + 1, 4)

    def fmt_edge(value: float) -> str:
        return short_number(value, digits=edge_digits)

    out.append('<g class="x-axis" fill="#4b5563" text-anchor="middle">')
    for value in x_ticks.values:
        if not lo_edge <= value <= hi_edge:
            continue
        tx = _coord(sx(value))
        out.append(
            f'<line x1="{tx}" x2="{tx}" y1="{_coord(base)}" y2="{_coord(base + 4)}" '
            'stroke="#9ca3af"/>'
            f'<text x="{tx}" y="{_coord(base + 16)}">{_text(fmt(value))}</text>'
        )
    out.append("</g>")
    regions = (
        (outside_low, left, f"< {short_number(lo_edge)}"),
        (outside_high, body_x + body_w, f"> {short_number(hi_edge)}"),
    )
    region_marks: list[str] = []  # drawn last, so labels stay above tall bars
    for present, x0, label in regions:
        if not present:
            continue
        edge = _coord(x0 + out_w if x0 == left else x0)
        region_marks.append(
            f'<g class="outside-range" fill="#6b7280"><line x1="{edge}" x2="{edge}" '
            f'y1="{_coord(top)}" y2="{_coord(base)}" stroke="#9ca3af" stroke-dasharray="3 3"/>'
            f'<text x="{_coord(x0 + out_w / 2)}" y="{_coord(top + 12)}" text-anchor="middle" '
            f'font-size="10" font-style="italic">{_text(label)}</text></g>'
        )
    if x_label:
        out.append(
            f'<text class="x-label" x="{_coord(left + full_w / 2)}" y="{_coord(base + 34)}" '
            f'text-anchor="middle" fill="#374151">{_text(_shorten(x_label, 80))}</text>'
        )

    n = len(series)
    group = 0.84
    for i, (s, (bin_shares, low_share, high_share)) in enumerate(zip(series, shares, strict=True)):
        color = _color(series, i)
        out.append(
            f'<g class="series" data-index="{i}" data-label="{_text(s.label)}" '
            f'data-counts="{" ".join(_count(c) for c in s.counts)}" '
            f'data-underflow="{_count(s.underflow)}" data-overflow="{_count(s.overflow)}" '
            f'data-total="{_count(s.total)}" fill="{color}">'
        )
        bar_w = bin_w * group / n
        for b, share in enumerate(bin_shares):
            if share <= 0:
                continue
            x = body_x + b * bin_w + bin_w * (1 - group) / 2 + i * bar_w
            y = sy(share)
            out.append(
                f'<rect x="{_coord(x)}" y="{_coord(y)}" width="{_coord(max(bar_w, 0.6))}" '
                f'height="{_coord(base - y)}"><title>{_text(s.label)}: {_text(percent(share))} '
                f"({_count(s.counts[b])}) in [{fmt_edge(edges[b])}, {fmt_edge(edges[b + 1])}"
                f"{']' if b == bins - 1 else ')'}</title></rect>"
            )
        outside = (
            (outside_low, low_share, s.underflow, left, f"below {fmt_edge(lo_edge)}"),
            (outside_high, high_share, s.overflow, body_x + body_w, f"above {fmt_edge(hi_edge)}"),
        )
        for present, share, count, x0, what in outside:
            if not present or share <= 0:
                continue
            ow = min(out_w * 0.6, bin_w * group)
            x = x0 + (out_w - ow) / 2 + i * ow / n
            y = sy(share)
            out.append(
                f'<rect class="outside" x="{_coord(x)}" y="{_coord(y)}" '
                f'width="{_coord(ow / n)}" height="{_coord(base - y)}" '
                f'fill-opacity="0.6"><title>{_text(s.label)}: {_text(percent(share))} '
                f"({_count(count)}) {_text(what)}</title></rect>"
            )
        out.append("</g>")
    out.extend(region_marks)
    if all(s.total <= 0 for s in series):
        out.append(
            f'<text class="no-data" x="{_coord(left + full_w / 2)}" '
            f'y="{_coord(top + plot_h / 2)}" text-anchor="middle" fill="#6b7280">'
            "no values to draw</text>"
        )
    out.append("</svg>")
    return "".join(out)


def category_chart(
    categories: Sequence[str],
    series: Sequence[Bars],
    *,
    title: str = "",
    width: int = 560,
    row_height: int = 0,
    axis_max: float | None = None,
) -> str:
    """Horizontal bars: one row per category, one bar per series, lengths as shares.

    Category names are shortened to fit (the full name is in the row's
    hover title). The height grows with the number of categories. The SVG
    carries ``data-categories`` (the count) and, per row, ``data-category``;
    per series, ``data-counts`` in category order.

    ``axis_max`` (a share in (0, 1]) caps the axis below the longest bar, so
    one dominant row (an "other" that folds many categories, say) does not
    squash the rest: a bar beyond the axis is cut at its end, marked with a
    break (class ``clipped``), and its label still gives the true share.

    >>> svg = category_chart(["a", "b"], [Bars(label="ref", counts=[1, 3])])
    >>> 'data-categories="2"' in svg and "75%" in svg
    True
    """
    _check_series(series, len(categories), "categories")
    if not categories:
        raise InvalidArgument("A category chart needs at least one category")
    if width < 240:
        raise InvalidArgument(f"A chart needs at least 240 pixels of width, got {width}")
    n = len(series)
    bar_h = 10.0
    row_h = float(row_height) if row_height > 0 else n * bar_h + 8.0
    labels = [_shorten(c, _CATEGORY_CHARS) for c in categories]
    shares = [_shares(s)[0] for s in series]
    peak = max((v for row in shares for v in row), default=0.0)
    if axis_max is not None:
        if not (math.isfinite(axis_max) and 0 < axis_max <= 1):
            raise InvalidArgument(f"axis_max must be a share in (0, 1], got {axis_max!r}")
        peak = min(peak, axis_max)
    x_ticks = nice_ticks(0.0, peak * 100 if peak > 0 else 100.0, target=5)

    top = 30.0 if title else 26.0
    bottom = 24.0
    left = 12.0 + max(len(label) for label in labels) * _CHAR_WIDTH + 8.0
    right = 48.0  # room for the value label after the longest bar
    plot_w = width - left - right
    if plot_w < 80:
        raise InvalidArgument(f"A chart of width {width} is too narrow for its category names")
    plot_h = row_h * len(categories)
    height = top + plot_h + bottom

    def sx(share: float) -> float:
        return left + (share * 100 - x_ticks.lo) / (x_ticks.hi - x_ticks.lo) * plot_w

    out = _open_svg("categories", width, height, title)
    out[0] += (
        f' data-categories="{len(categories)}" '
        f'data-plot="{_coord(left)} {_coord(top)} {_coord(plot_w)} {_coord(plot_h)}">'
    )
    out.append(
        f'<rect class="plot-bg" x="{_coord(left)}" y="{_coord(top)}" width="{_coord(plot_w)}" '
        f'height="{_coord(plot_h)}" fill="#ffffff" stroke="#d4d8de"/>'
    )
    if title:
        out.append(
            f'<text class="chart-title" x="12" y="17" font-size="13" font-weight="600" '
            f'fill="#1f2937">{_text(_shorten(title, 60))}</text>'
        )
    out.append(_legend(series, width - 12, 17))
    base = top + plot_h
    out.append('<g class="x-axis" fill="#4b5563" text-anchor="middle">')
    for value, label in zip(x_ticks.values, x_ticks.labels, strict=True):
        tx = _coord(left + (value - x_ticks.lo) / (x_ticks.hi - x_ticks.lo) * plot_w)
        out.append(
            f'<line x1="{tx}" x2="{tx}" y1="{_coord(top)}" y2="{_coord(base)}" '
            'stroke="#eceff3"/>'
            f'<text x="{tx}" y="{_coord(base + 16)}">{_text(label)}%</text>'
        )
    out.append("</g>")
    out.append('<g class="rows">')
    for r, (category, label) in enumerate(zip(categories, labels, strict=True)):
        y0 = top + r * row_h
        out.append(
            f'<g class="row" data-category="{_text(category)}"><title>{_text(category)}</title>'
            f'<text x="{_coord(left - 8)}" y="{_coord(y0 + row_h / 2)}" dy="0.32em" '
            f'text-anchor="end" fill="#1f2937">{_text(label)}</text></g>'
        )
    out.append("</g>")
    for i, s in enumerate(series):
        color = _color(series, i)
        out.append(
            f'<g class="series" data-index="{i}" data-label="{_text(s.label)}" '
            f'data-counts="{" ".join(_count(c) for c in s.counts)}" '
            f'data-total="{_count(s.total)}" fill="{color}">'
        )
        for r, share in enumerate(shares[i]):
            y = top + r * row_h + (row_h - n * bar_h) / 2 + i * bar_h
            x_end = min(sx(share), left + plot_w)
            clipped = sx(share) > left + plot_w + 0.05
            css = ' class="clipped"' if clipped else ""
            out.append(
                f'<rect{css} x="{_coord(left)}" '
                f'y="{_coord(y + 0.5)}" '
                f'width="{_coord(max(x_end - left, 0.0))}" height="{_coord(bar_h - 1)}">'
                f"<title>{_text(s.label)}: {_text(percent(share))} ({_count(s.counts[r])}) "
                f"{_text(categories[r])}</title></rect>"
            )
            if clipped:  # a break: two white slashes near the end of the cut bar
                out.append(
                    "".join(
                        f'<line x1="{_coord(x - 2)}" x2="{_coord(x + 2)}" '
                        f'y1="{_coord(y + bar_h)}" y2="{_coord(y)}" stroke="#ffffff" '
                        'stroke-width="1.6"/>'
                        for x in (x_end - 14, x_end - 10)
                    )
                )
            out.append(
                f'<text x="{_coord(x_end + 4)}" y="{_coord(y + bar_h / 2)}" dy="0.32em" '
                f'font-size="9" fill="#4b5563">{_text(percent(share))}</text>'
            )
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)
