"""Line charts of metric histories as standalone SVG text.

One chart shows one or more series (one per run, say) over a shared x axis
(usually the step). Values that cannot be drawn (NaN, +/-inf) break the line:
the gap stays visible instead of being bridged by a misleading segment. Axis
ranges are widened to "nice" round numbers (1, 2 or 5 times a power of ten)
so tick labels are readable, and long series are reduced with a min/max
bucketing that keeps every spike visible.

The SVG carries a few ``data-*`` attributes (plot box, axis domain, points per
series) so that pages can add hover read-outs and tests can check what was
drawn without parsing path geometry.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from moorline.errors import InvalidArgument

#: Distinguishable colours, assigned to series in order (then reused).
PALETTE: tuple[str, ...] = (
    "#2563eb",
    "#dc2626",
    "#16a34a",
    "#d97706",
    "#7c3aed",
    "#0891b2",
    "#db2777",
    "#65a30d",
    "#475569",
    "#ea580c",
)

Point = tuple[float, float]

_COLOR_RE = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20})$")
# Characters that XML 1.0 forbids even when escaped.
_XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FONT = "system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"
_MAX_TICKS = 60
#: Ranges narrower than this are drawn as flat: tick steps would underflow.
_MIN_SPAN = 1e-200
_LABEL_CHARS = 40
_CHAR_WIDTH = 6.4  # average glyph width (px) of the 11px sans-serif used for labels
_MARKER_LIMIT = 30  # draw a dot on every point when a series has at most this many


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """One line: ``points`` are ``(x, y)`` pairs, drawn in the order given.

    A non-finite ``y`` (or ``x``) ends the current segment; the next finite
    point starts a new one. ``color`` defaults to the palette colour of the
    series' position.
    """

    label: str
    points: Sequence[Point]
    color: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticks:
    """An axis: its drawn range ``lo..hi`` and tick values with their labels."""

    lo: float
    hi: float
    values: tuple[float, ...]
    labels: tuple[str, ...]


def format_number(value: float, *, digits: int = 6) -> str:
    """A short, human-readable rendering of a metric value.

    >>> format_number(0.123456789)
    '0.123457'
    >>> format_number(float("nan"))
    'NaN'
    >>> format_number(-0.0)
    '0'
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def _nice(value: float) -> float:
    """The 1, 2, 5 or 10 times a power of ten nearest ``value`` (Heckbert's nice number)."""
    exponent = math.floor(math.log10(value))
    fraction = value / 10**exponent
    nice = 1.0 if fraction < 1.5 else 2.0 if fraction < 3 else 5.0 if fraction < 7 else 10.0
    return nice * 10.0**exponent


def nice_ticks(lo: float, hi: float, *, target: int = 5, integer: bool = False) -> Ticks:
    """Round tick values covering ``lo..hi``, about ``target`` of them.

    The returned range starts and ends on a tick, so it always contains the
    data. ``integer`` keeps the step at 1 or more (for steps and counts).

    >>> nice_ticks(0.013, 0.98).values
    (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    >>> nice_ticks(0, 119, integer=True).labels
    ('0', '20', '40', '60', '80', '100', '120')
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidArgument(f"Axis bounds must be finite numbers, got {lo!r} and {hi!r}")
    if lo > hi:
        raise InvalidArgument(f"Axis lower bound {lo!r} is above the upper bound {hi!r}")
    if target < 2:
        raise InvalidArgument(f"An axis needs a target of at least 2 ticks, got {target}")
    magnitude = max(abs(lo), abs(hi))
    if hi - lo <= max(magnitude * 1e-12, _MIN_SPAN):
        # A flat series: open a window around the value so the line sits mid-plot.
        pad = magnitude * 0.1 if magnitude * 0.1 > _MIN_SPAN else 1.0
        if integer:
            pad = max(1.0, math.ceil(pad))
        lo, hi = lo - pad, hi + pad
    span = hi - lo
    if not math.isfinite(span):
        # Bounds near the float limits: only the ends can be labelled safely.
        return Ticks(
            lo=lo, hi=hi, values=(lo, hi), labels=(_tick_label(lo, span), _tick_label(hi, span))
        )
    step = _nice(span / (target - 1))
    if integer:
        step = max(step, 1.0)
    start = math.floor(lo / step) * step
    stop = math.ceil(hi / step) * step
    # lo / step can underflow to -0.0 for subnormal lo: widen by a step then.
    if start > lo:
        start -= step
    if stop < hi:
        stop += step
    count = round((stop - start) / step) + 1
    if count > _MAX_TICKS:  # only reachable through float cancellation; stay bounded
        count = _MAX_TICKS
        step = (stop - start) / (count - 1)
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    values = tuple(_clean(start + i * step, decimals) for i in range(count))
    widest = max(abs(values[0]), abs(values[-1]))
    labels = tuple(_tick_label(v, step, decimals=decimals, magnitude=widest) for v in values)
    return Ticks(lo=values[0], hi=values[-1], values=values, labels=labels)


def _clean(value: float, decimals: int) -> float:
    rounded = round(value, decimals + 2) if decimals < 13 else value
    return 0.0 if rounded == 0 else rounded


def _tick_label(
    value: float, step: float, *, decimals: int = 0, magnitude: float | None = None
) -> str:
    if value == 0:
        return "0"
    mag = abs(value) if magnitude is None else magnitude
    if not math.isfinite(step) or mag >= 1e6 or (mag < 1e-3) or decimals > 6:
        significant = 3
        if math.isfinite(step) and step > 0 and mag > 0:
            significant = min(
                15, max(1, math.floor(math.log10(mag)) - math.floor(math.log10(step)) + 1)
            )
        # '#' keeps trailing zeros, so neighbouring labels have the same shape.
        return f"{value:#.{significant}g}"
    return f"{value:.{decimals}f}"


def downsample(points: Sequence[Point], max_points: int) -> list[Point]:
    """At most ``max_points`` points that still show every spike and gap.

    The first and last points are kept; the rest is cut into buckets and each
    bucket keeps its lowest and highest value (in their original order). A
    bucket holding a non-finite value keeps one of them, so gaps survive.

    >>> len(downsample([(i, float(i % 7)) for i in range(10_000)], 500)) <= 500
    True
    """
    if max_points < 4:
        raise InvalidArgument(f"max_points must be at least 4, got {max_points}")
    n = len(points)
    if n <= max_points:
        return list(points)
    inner = points[1:-1]
    buckets = (max_points - 2) // 2
    size = len(inner) / buckets
    out: list[Point] = [points[0]]
    for b in range(buckets):
        chunk = inner[int(b * size) : int((b + 1) * size)]
        if not chunk:
            continue
        finite = [
            (i, p) for i, p in enumerate(chunk) if math.isfinite(p[1]) and math.isfinite(p[0])
        ]
        gap = next(
            (
                (i, p)
                for i, p in enumerate(chunk)
                if not (math.isfinite(p[1]) and math.isfinite(p[0]))
            ),
            None,
        )
        if not finite:
            out.append(chunk[0])
            continue
        low = min(finite, key=lambda ip: ip[1][1])
        high = max(finite, key=lambda ip: ip[1][1])
        if gap is not None:
            keep = sorted([low, gap], key=lambda ip: ip[0])
        elif low[0] == high[0]:
            keep = [low]
        else:
            keep = sorted([low, high], key=lambda ip: ip[0])
        out.extend(p for _, p in keep)
    out.append(points[-1])
    return out


def _text(value: str) -> str:
    """Escape user text for SVG content or attribute values."""
    return html.escape(_XML_INVALID_RE.sub("\ufffd", value), quote=True)


def _shorten(value: str, limit: int = _LABEL_CHARS) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _coord(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _exact(value: float) -> str:
    """A finite number in the fewest characters that keep 8 significant digits."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.8g}"


def _segments(points: Sequence[Point]) -> list[list[Point]]:
    segments: list[list[Point]] = []
    current: list[Point] = []
    for x, y in points:
        if math.isfinite(x) and math.isfinite(y):
            current.append((float(x), float(y)))
        elif current:
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    return segments


def _legend_rows(labels: Sequence[str], width: float) -> list[list[tuple[int, float]]]:
    """Lay legend entries out left to right, wrapping: rows of (series index, x offset)."""
    rows: list[list[tuple[int, float]]] = [[]]
    x = 0.0
    for i, label in enumerate(labels):
        item = 18 + len(label) * _CHAR_WIDTH + 14
        if rows[-1] and x + item > width:
            rows.append([])
            x = 0.0
        rows[-1].append((i, x))
        x += item
    return rows


def line_chart(
    series: Sequence[Series],
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    width: int = 640,
    height: int = 280,
    x_format: Callable[[float], str] | None = None,
    max_points: int = 2000,
    legend: bool | None = None,
    values: bool = False,
) -> str:
    """An SVG line chart of ``series`` over a shared x axis.

    ``x_format`` renders x tick labels (e.g. timestamps as dates). Series
    longer than ``max_points`` are reduced with :func:`downsample`. The
    legend is shown when there is more than one series unless ``legend``
    says otherwise. ``values`` embeds the drawn points as ``data-values``
    (``"x,y x,y ..."``) on each series so a page script can show exact
    read-outs on hover; it grows the SVG by about 20 bytes per point.

    >>> svg = line_chart([Series(label="acc", points=[(1, 0.5), (2, float("nan")), (3, 0.7)])])
    >>> 'data-points="2"' in svg and 'data-segments="2"' in svg
    True
    """
    if width < 200 or height < 120:
        raise InvalidArgument(f"A chart needs at least 200x120 pixels, got {width}x{height}")
    for s in series:
        if s.color is not None and not _COLOR_RE.match(s.color):
            raise InvalidArgument(f"Invalid colour {s.color!r} for series {s.label!r}")
    drawn = [
        downsample(s.points, max_points) if len(s.points) > max_points else list(s.points)
        for s in series
    ]
    segments = [_segments(points) for points in drawn]
    finite = [p for segs in segments for seg in segs for p in seg]
    show_legend = len(series) > 1 if legend is None else legend
    labels = [_shorten(s.label) for s in series]

    top = 28.0 if title else 12.0
    right = 16.0
    legend_rows = _legend_rows(labels, width - 24.0) if show_legend and series else []
    legend_h = 18.0 * len(legend_rows) + (6.0 if legend_rows else 0.0)
    bottom = 24.0 + (16.0 if x_label else 0.0) + legend_h
    height = max(height, int(top + bottom + 80))

    if finite:
        xs = [p[0] for p in finite]
        ys = [p[1] for p in finite]
        integer_x = all(float(x).is_integer() for x in xs)
        y_ticks = nice_ticks(min(ys), max(ys), target=5)
    else:
        integer_x = True
        y_ticks = nice_ticks(0.0, 1.0, target=5)
    y_label_w = max((len(label) for label in y_ticks.labels), default=1) * _CHAR_WIDTH
    left = 10.0 + y_label_w + 6.0 + (16.0 if y_label else 0.0)
    plot_w = width - left - right
    plot_h = height - top - bottom
    x_target = max(2, min(8, int(plot_w // 90)))
    if finite:
        x_ticks = nice_ticks(min(xs), max(xs), target=x_target, integer=integer_x)
    else:
        x_ticks = nice_ticks(0.0, 1.0, target=x_target)
    x_labels = tuple(x_format(v) for v in x_ticks.values) if x_format else x_ticks.labels

    def sx(x: float) -> float:
        return left + (x - x_ticks.lo) / (x_ticks.hi - x_ticks.lo) * plot_w

    def sy(y: float) -> float:
        return top + plot_h - (y - y_ticks.lo) / (y_ticks.hi - y_ticks.lo) * plot_h

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="moorline-chart" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{_text(title or "line chart")}" '
        f'font-family="{_FONT}" font-size="11" '
        f'data-plot="{_coord(left)} {_coord(top)} {_coord(plot_w)} {_coord(plot_h)}" '
        f'data-x-min="{x_ticks.lo!r}" data-x-max="{x_ticks.hi!r}" '
        f'data-y-min="{y_ticks.lo!r}" data-y-max="{y_ticks.hi!r}">',
        f"<title>{_text(title or 'line chart')}</title>",
        f'<rect class="plot-bg" x="{_coord(left)}" y="{_coord(top)}" width="{_coord(plot_w)}" '
        f'height="{_coord(plot_h)}" fill="#ffffff" stroke="#d4d8de"/>',
    ]
    if title:
        out.append(
            f'<text class="chart-title" x="{_coord(left)}" y="18" font-size="13" font-weight="600" '
            f'fill="#1f2937">{_text(_shorten(title, 80))}</text>'
        )
    # Grid and tick labels.
    out.append('<g class="y-axis" fill="#4b5563" text-anchor="end">')
    for value, label in zip(y_ticks.values, y_ticks.labels, strict=True):
        ty = _coord(sy(value))
        out.append(
            f'<line x1="{_coord(left)}" x2="{_coord(left + plot_w)}" y1="{ty}" y2="{ty}" '
            'stroke="#eceff3"/>'
            f'<text x="{_coord(left - 6)}" y="{ty}" dy="0.32em">{_text(label)}</text>'
        )
    out.append("</g>")
    out.append('<g class="x-axis" fill="#4b5563" text-anchor="middle">')
    base = top + plot_h
    for value, label in zip(x_ticks.values, x_labels, strict=True):
        tx = _coord(sx(value))
        out.append(
            f'<line x1="{tx}" x2="{tx}" y1="{_coord(base)}" y2="{_coord(base + 4)}" '
            'stroke="#9ca3af"/>'
            f'<text x="{tx}" y="{_coord(base + 16)}">{_text(label)}</text>'
        )
    out.append("</g>")
    if x_label:
        out.append(
            f'<text class="x-label" x="{_coord(left + plot_w / 2)}" y="{_coord(base + 34)}" '
            f'text-anchor="middle" fill="#374151">{_text(_shorten(x_label, 80))}</text>'
        )
    if y_label:
        cy = _coord(top + plot_h / 2)
        out.append(
            f'<text class="y-label" x="12" y="{cy}" transform="rotate(-90 12 {cy})" '
            f'text-anchor="middle" fill="#374151">{_text(_shorten(y_label, 60))}</text>'
        )
    if not finite:
        out.append(
            f'<text class="no-data" x="{_coord(left + plot_w / 2)}" y="{_coord(top + plot_h / 2)}" '
            f'text-anchor="middle" fill="#6b7280">no finite values to draw</text>'
        )
    # Series.
    for i, (s, segs) in enumerate(zip(series, segments, strict=True)):
        color = s.color or PALETTE[i % len(PALETTE)]
        count = sum(len(seg) for seg in segs)
        embedded = ""
        if values:
            pairs = " ".join(f"{_exact(x)},{_exact(y)}" for seg in segs for x, y in seg)
            embedded = f' data-values="{pairs}"'
        out.append(
            f'<g class="series" data-index="{i}" data-label="{_text(s.label)}" '
            f'data-points="{count}" '
            f'data-segments="{len(segs)}"{embedded} stroke="{color}" fill="{color}">'
            f"<title>{_text(s.label)}</title>"
        )
        path = "".join(
            "M" + "L".join(f"{_coord(sx(x))} {_coord(sy(y))}" for x, y in seg)
            for seg in segs
            if len(seg) > 1
        )
        if path:
            out.append(
                f'<path d="{path}" fill="none" stroke-width="1.6" stroke-linejoin="round" '
                f'stroke-linecap="round"/>'
            )
        dots = (
            [p for seg in segs for p in seg]
            if count <= _MARKER_LIMIT
            else [seg[0] for seg in segs if len(seg) == 1]
        )
        for x, y in dots:
            out.append(
                f'<circle class="marker" cx="{_coord(sx(x))}" cy="{_coord(sy(y))}" r="2.4" '
                'stroke="none"/>'
            )
        out.append("</g>")
    # Legend.
    if legend_rows:
        y0 = height - legend_h + 4
        out.append('<g class="legend" fill="#1f2937">')
        for r, row in enumerate(legend_rows):
            y = y0 + r * 18
            for i, offset in row:
                color = series[i].color or PALETTE[i % len(PALETTE)]
                x = 12 + offset
                out.append(
                    f'<g class="legend-item" data-index="{i}">'
                    f"<title>{_text(series[i].label)}</title>"
                    f'<rect x="{_coord(x)}" y="{_coord(y + 3)}" width="12" height="4" rx="1" '
                    f'fill="{color}"/>'
                    f'<text x="{_coord(x + 17)}" y="{_coord(y + 5)}" dy="0.32em">'
                    f"{_text(labels[i])}</text></g>"
                )
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)
