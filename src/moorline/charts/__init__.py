"""SVG charts (lines, histograms, category bars) and lineage graphs for the web UI and
the self-contained HTML reports.

Pure functions that return SVG text: no JavaScript, no external resources, no
network. Every piece of user text in a chart (titles, series labels, axis
labels) is escaped, so a chart can be inlined into an HTML page as is.

>>> from moorline.charts import Series, line_chart
>>> svg = line_chart([Series(label="loss", points=[(0, 1.0), (1, 0.5), (2, 0.25)])])
>>> svg.startswith("<svg")
True
"""

from __future__ import annotations

from moorline.charts.bars import Bars, category_chart, histogram_chart, percent, short_number
from moorline.charts.graph import GraphEdge, GraphNode, lineage_graph
from moorline.charts.line import (
    PALETTE,
    Series,
    Ticks,
    downsample,
    format_number,
    line_chart,
    nice_ticks,
)

__all__ = [
    "PALETTE",
    "Bars",
    "GraphEdge",
    "GraphNode",
    "Series",
    "Ticks",
    "category_chart",
    "downsample",
    "format_number",
    "histogram_chart",
    "line_chart",
    "lineage_graph",
    "nice_ticks",
    "percent",
    "short_number",
]
