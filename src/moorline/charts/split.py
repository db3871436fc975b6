"""A split bar: how a whole (100% of a deployment's traffic) divides into parts.

One horizontal bar, one segment per part with a width proportional to its
weight, labelled inside when there is room (and always in the segment's
hover title and in ``data-*`` attributes). Parts that receive copies rather
than a share (shadow versions) are listed under the bar as outlined chips.
All user text is escaped, so the SVG can be inlined into a page as is.

>>> svg = split_bar([SplitPart(label="v3", weight=90), SplitPart(label="v4", weight=10)])
>>> svg.startswith("<svg") and svg.count('class="segment"') == 2
True
>>> 'data-weight="90"' in svg and 'width="900"' in svg
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from moorline.charts.bars import percent
from moorline.charts.line import _COLOR_RE, _FONT, PALETTE, _coord, _exact, _shorten, _text
from moorline.errors import InvalidArgument

WIDTH = 1000.0
BAR_HEIGHT = 32.0
_CHIP_HEIGHT = 22.0
_CHAR_WIDTH = 7.0  # average glyph width (px) of the 12px labels
MAX_PARTS = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class SplitPart:
    """One segment: ``weight`` is its share (any non-negative unit; shown as a
    percentage of the total)."""

    label: str
    weight: float
    color: str | None = None


def _check(parts: Sequence[SplitPart]) -> float:
    if not parts:
        raise InvalidArgument("A split bar needs at least one part")
    if len(parts) > MAX_PARTS:
        raise InvalidArgument(f"A split bar draws at most {MAX_PARTS} parts")
    for p in parts:
        if not math.isfinite(p.weight) or p.weight < 0:
            raise InvalidArgument(f"Weight of {p.label!r} must be a finite number >= 0")
        if p.color is not None and not _COLOR_RE.match(p.color):
            raise InvalidArgument(f"Invalid colour {p.color!r}")
    return sum(p.weight for p in parts)


def split_bar(
    parts: Sequence[SplitPart],
    *,
    copies: Sequence[str] = (),
    title: str = "",
    width: float = WIDTH,
) -> str:
    """The SVG of ``parts`` side by side in one bar of ``width`` pixels.

    ``copies``: labels of parts that receive a copy of every request (drawn
    as chips under the bar, with no share). Zero-weight parts are listed in
    ``data-*`` but take no width.
    """
    total = _check(parts)
    height = BAR_HEIGHT + (_CHIP_HEIGHT + 10 if copies else 0) + 2
    label = title or "Traffic split"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="moorline-chart moorline-split" '
        f'viewBox="0 0 {_coord(width)} {_coord(height)}" width="{_coord(width)}" '
        f'height="{_coord(height)}" role="img" aria-label="{_text(label)}" '
        f'font-family="{_FONT}" font-size="12" data-parts="{len(parts)}">',
        f"<title>{_text(label)}</title>",
        f'<rect class="track" x="0" y="1" width="{_coord(width)}" height="{_coord(BAR_HEIGHT)}" '
        'rx="4" fill="#e5e7eb"/>',
    ]
    x = 0.0
    for i, p in enumerate(parts):
        share = p.weight / total if total > 0 else 0.0
        w = share * width
        color = p.color or PALETTE[i % len(PALETTE)]
        text = f"{_shorten(p.label, 24)} {percent(share)}"
        out.append(
            f'<g class="segment" data-label="{_text(p.label)}" data-weight="{_exact(p.weight)}" '
            f'data-share="{_exact(share)}">'
            f"<title>{_text(p.label)}: {percent(share)}</title>"
            f'<rect x="{_coord(x)}" y="1" width="{_coord(w)}" height="{_coord(BAR_HEIGHT)}" '
            f'fill="{color}" stroke="#ffffff" stroke-width="1"/>'
        )
        if w >= len(text) * _CHAR_WIDTH + 12:
            out.append(
                f'<text x="{_coord(x + w / 2)}" y="{_coord(1 + BAR_HEIGHT / 2)}" dy="0.35em" '
                f'text-anchor="middle" fill="#ffffff" font-weight="600">{_text(text)}</text>'
            )
        out.append("</g>")
        x += w
    if copies:
        y = BAR_HEIGHT + 10
        out.append(
            f'<text x="0" y="{_coord(y + _CHIP_HEIGHT / 2)}" dy="0.35em" fill="#4b5563">'
            "copies to</text>"
        )
        cx = 70.0
        for c in copies:
            text = _shorten(c, 24)
            w = len(text) * _CHAR_WIDTH + 16
            out.append(
                f'<g class="copy" data-label="{_text(c)}"><title>{_text(c)} receives a copy '
                "of every request; its answers are logged, never returned</title>"
                f'<rect x="{_coord(cx)}" y="{_coord(y)}" width="{_coord(w)}" '
                f'height="{_coord(_CHIP_HEIGHT)}" rx="11" fill="#ffffff" stroke="#6b7280" '
                'stroke-dasharray="4 3"/>'
                f'<text x="{_coord(cx + w / 2)}" y="{_coord(y + _CHIP_HEIGHT / 2)}" dy="0.35em" '
                f'text-anchor="middle" fill="#374151">{_text(text)}</text></g>'
            )
            cx += w + 8
    out.append("</svg>")
    return "".join(out)
