"""Lineage graphs as standalone SVG text: boxes in columns, left to right, joined by arrows.

A lineage reads left to right (dataset versions -> training run -> model
version -> aliases and deployments), so the layout is a fixed grid rather
than a force simulation: each node names its column, nodes of one column are
stacked in the order given and centred against the tallest column, and every
edge runs from the right side of its source to the left side of its target
as a smooth curve with an arrowhead. The same input always gives the same
picture, which keeps pages and reports stable and tests exact.

Every piece of user text (labels, details, kinds, titles) is escaped and
shortened to fit its box, with the full text in a ``<title>`` tooltip; node
links are restricted to same-site paths, fragments and http(s) URLs, so a
graph can be inlined into an HTML page as is. Nodes and edges carry
``data-*`` attributes (id, kind, source, target) so tests and page scripts
can check what was drawn without reading geometry.

>>> svg = lineage_graph(
...     [GraphNode(node_id="r", label="train", kind="run", column=0),
...      GraphNode(node_id="v", label="churn v3", kind="model_version", column=1)],
...     [GraphEdge(source="r", target="v", label="produced")],
... )
>>> svg.startswith("<svg") and 'data-source="r" data-target="v"' in svg
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from moorline.charts.line import _FONT, _coord, _shorten, _text
from moorline.errors import InvalidArgument

NODE_WIDTH = 216
NODE_HEIGHT = 56
COLUMN_GAP = 76
ROW_GAP = 16
PADDING = 14
#: Average glyph widths (px) of the label (13px, semibold) and detail (11px mono) fonts.
_LABEL_CHAR = 7.6
_DETAIL_CHAR = 6.7
_TEXT_LEFT = 12
MAX_NODES = 500

_MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
_SAFE_HREF = re.compile(r"^(?:/(?!/)|#|https?://)[^\s\"'<>\\\x00-\x1f\x7f]*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStyle:
    """How a kind of node looks: its caption, fill and outline colours."""

    caption: str
    fill: str
    stroke: str


#: Styles of the kinds lineage draws; any other kind is drawn in grey, captioned by its name.
STYLES: dict[str, NodeStyle] = {
    "dataset": NodeStyle(caption="DATASET", fill="#ecfeff", stroke="#0891b2"),
    "run": NodeStyle(caption="RUN", fill="#eff6ff", stroke="#2563eb"),
    "model_version": NodeStyle(caption="MODEL VERSION", fill="#f5f3ff", stroke="#7c3aed"),
    "alias": NodeStyle(caption="ALIAS", fill="#fffbeb", stroke="#d97706"),
    "deployment": NodeStyle(caption="DEPLOYMENT", fill="#f0fdf4", stroke="#16a34a"),
}
_OTHER = NodeStyle(caption="", fill="#f8fafc", stroke="#64748b")


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphNode:
    """One box. ``column`` orders columns left to right (gaps are closed up);
    ``detail`` is a second, smaller line; ``current`` draws the box emphasised
    (the record the page is about); ``href`` makes the box a link."""

    node_id: str
    label: str
    kind: str
    column: int
    detail: str = ""
    href: str | None = None
    current: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphEdge:
    """An arrow from ``source`` to ``target`` (node ids); the target's column must be
    to the right of the source's."""

    source: str
    target: str
    label: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Box:
    node: GraphNode
    x: float
    y: float


def _check(nodes: Sequence[GraphNode], edges: Sequence[GraphEdge]) -> dict[str, GraphNode]:
    if len(nodes) > MAX_NODES:
        raise InvalidArgument(f"A graph holds at most {MAX_NODES} nodes, got {len(nodes)}")
    by_id: dict[str, GraphNode] = {}
    for node in nodes:
        if node.node_id in by_id:
            raise InvalidArgument(f"Two graph nodes share the id {node.node_id!r}")
        if node.column < 0:
            raise InvalidArgument(f"Node {node.node_id!r} has a negative column ({node.column})")
        if node.href is not None and not _SAFE_HREF.match(node.href):
            raise InvalidArgument(
                f"Node {node.node_id!r} links to {node.href!r}: links must be site paths "
                "('/...'), fragments ('#...') or http(s) URLs"
            )
        by_id[node.node_id] = node
    for edge in edges:
        for end in (edge.source, edge.target):
            if end not in by_id:
                raise InvalidArgument(
                    f"Edge {edge.source!r} -> {edge.target!r} names an unknown node {end!r}"
                )
        if by_id[edge.source].column >= by_id[edge.target].column:
            raise InvalidArgument(
                f"Edge {edge.source!r} -> {edge.target!r} does not run left to right "
                f"(column {by_id[edge.source].column} to {by_id[edge.target].column})"
            )
    return by_id


def _layout(nodes: Sequence[GraphNode]) -> tuple[dict[str, _Box], float, float]:
    """Box positions, and the drawing's width and height."""
    columns = sorted({n.column for n in nodes})
    position = {column: i for i, column in enumerate(columns)}
    stacks: dict[int, list[GraphNode]] = {}
    for node in nodes:
        stacks.setdefault(position[node.column], []).append(node)

    def stack_height(count: int) -> float:
        return count * NODE_HEIGHT + max(0, count - 1) * ROW_GAP

    tallest = max((stack_height(len(s)) for s in stacks.values()), default=0.0)
    boxes: dict[str, _Box] = {}
    for index, stack in stacks.items():
        x = PADDING + index * (NODE_WIDTH + COLUMN_GAP)
        top = PADDING + (tallest - stack_height(len(stack))) / 2
        for row, node in enumerate(stack):
            boxes[node.node_id] = _Box(node=node, x=x, y=top + row * (NODE_HEIGHT + ROW_GAP))
    width = 2 * PADDING + len(columns) * NODE_WIDTH + max(0, len(columns) - 1) * COLUMN_GAP
    return boxes, width, 2 * PADDING + tallest


def _fit(text: str, char_width: float) -> str:
    return _shorten(" ".join(text.split()), int((NODE_WIDTH - 2 * _TEXT_LEFT) // char_width))


def _node(box: _Box) -> str:
    node = box.node
    style = STYLES.get(node.kind, _OTHER)
    caption = style.caption or node.kind.replace("_", " ").upper()
    tooltip = node.label + (f" — {node.detail}" if node.detail else "")
    classes = "node" + (" current" if node.current else "")
    stroke_width = "2.6" if node.current else "1.3"
    parts = [
        f'<g class="{classes}" data-node-id="{_text(node.node_id)}" data-kind="{_text(node.kind)}" '
        f'transform="translate({_coord(box.x)} {_coord(box.y)})">',
        f"<title>{_text(tooltip)}</title>",
        f'<rect width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="8" fill="{style.fill}" '
        f'stroke="{style.stroke}" stroke-width="{stroke_width}"/>',
        f'<text class="node-kind" x="{_TEXT_LEFT}" y="16" font-size="9.5" font-weight="600" '
        f'letter-spacing="0.6" fill="{style.stroke}">{_text(_fit(caption, 6.4))}</text>',
        f'<text class="node-label" x="{_TEXT_LEFT}" y="{33 if node.detail else 38}" '
        f'font-size="13" font-weight="600" fill="#111827">'
        f"{_text(_fit(node.label, _LABEL_CHAR))}</text>",
    ]
    if node.detail:
        parts.append(
            f'<text class="node-detail" x="{_TEXT_LEFT}" y="48" font-size="11" '
            f'font-family="{_MONO}" fill="#4b5563">{_text(_fit(node.detail, _DETAIL_CHAR))}</text>'
        )
    parts.append("</g>")
    body = "".join(parts)
    if node.href is None:
        return body
    return f'<a class="node-link" href="{_text(node.href)}">{body}</a>'


def _edge(edge: GraphEdge, source: _Box, target: _Box) -> str:
    x1, y1 = source.x + NODE_WIDTH, source.y + NODE_HEIGHT / 2
    x2, y2 = target.x - 2, target.y + NODE_HEIGHT / 2
    bend = (x2 - x1) / 2
    path = (
        f"M{_coord(x1)} {_coord(y1)}C{_coord(x1 + bend)} {_coord(y1)} "
        f"{_coord(x2 - bend)} {_coord(y2)} {_coord(x2)} {_coord(y2)}"
    )
    parts = [
        f'<g class="edge" data-source="{_text(edge.source)}" data-target="{_text(edge.target)}">',
        f'<path d="{path}" fill="none" stroke="#94a3b8" stroke-width="1.4" '
        'marker-end="url(#lineage-arrow)"/>',
    ]
    if edge.label:
        parts.append(
            f'<text class="edge-label" x="{_coord((x1 + x2) / 2)}" y="{_coord((y1 + y2) / 2 - 5)}" '
            'text-anchor="middle" font-size="10" fill="#64748b" stroke="#ffffff" '
            f'stroke-width="3" paint-order="stroke">{_text(_shorten(edge.label, 14))}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def lineage_graph(
    nodes: Sequence[GraphNode], edges: Sequence[GraphEdge], *, title: str = "lineage"
) -> str:
    """An SVG drawing of ``nodes`` in their columns joined by ``edges``.

    Raises :class:`~moorline.errors.InvalidArgument` for duplicate node ids,
    edges naming unknown nodes or running right to left, and unsafe links.

    >>> svg = lineage_graph([GraphNode(node_id="a", label="<x>", kind="alias", column=0)], [])
    >>> "&lt;x&gt;" in svg and "<x>" not in svg
    True
    """
    by_id = _check(nodes, edges)
    if not nodes:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="moorline-graph" viewBox="0 0 320 60" '
            f'width="320" height="60" role="img" aria-label="{_text(title)}" '
            f'font-family="{_FONT}" data-nodes="0" data-edges="0">'
            f"<title>{_text(title)}</title>"
            '<text x="160" y="34" text-anchor="middle" font-size="12" fill="#6b7280">'
            "nothing to draw</text></svg>"
        )
    boxes, width, height = _layout(nodes)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="moorline-graph" '
        f'viewBox="0 0 {_coord(width)} {_coord(height)}" width="{_coord(width)}" '
        f'height="{_coord(height)}" role="group" aria-label="{_text(title)}" '
        f'font-family="{_FONT}" data-nodes="{len(nodes)}" data-edges="{len(edges)}">',
        f"<title>{_text(title)}</title>",
        '<defs><marker id="lineage-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0 0L10 5L0 10z" fill="#94a3b8"/></marker></defs>',
        '<g class="edges">',
        *(_edge(e, boxes[e.source], boxes[e.target]) for e in edges),
        "</g>",
        '<g class="nodes">',
        *(_node(boxes[n.node_id]) for n in by_id.values()),
        "</g>",
        "</svg>",
    ]
    return "".join(out)
