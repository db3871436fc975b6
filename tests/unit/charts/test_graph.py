"""The SVG lineage graph: valid XML, columns left to right, arrows that join the right boxes,
escaped text, safe links, and refusals of graphs that cannot be drawn."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moorline.charts import GraphEdge, GraphNode, lineage_graph
from moorline.charts.graph import COLUMN_GAP, NODE_HEIGHT, NODE_WIDTH
from moorline.errors import InvalidArgument

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def boxes(root: ET.Element) -> dict[str, tuple[float, float]]:
    """Node id -> the (x, y) of its box's top-left corner."""
    out = {}
    for g in root.iter(f"{SVG}g"):
        node_id = g.get("data-node-id")
        if node_id is None:
            continue
        match = re.fullmatch(r"translate\(([-\d.]+) ([-\d.]+)\)", g.get("transform", ""))
        assert match, g.get("transform")
        out[node_id] = (float(match.group(1)), float(match.group(2)))
    return out


def edge_ends(root: ET.Element, source: str, target: str) -> tuple[float, float, float, float]:
    """The start and end points of the drawn curve of one edge."""
    (edge,) = [
        g
        for g in root.iter(f"{SVG}g")
        if g.get("data-source") == source and g.get("data-target") == target
    ]
    path = edge.find(f"{SVG}path")
    assert path is not None
    numbers = [float(n) for n in re.findall(r"[-\d.]+", path.get("d", ""))]
    return numbers[0], numbers[1], numbers[-2], numbers[-1]


def lineage_example() -> tuple[list[GraphNode], list[GraphEdge]]:
    nodes = [
        GraphNode(node_id="d1", label="churn-train", kind="dataset", column=0, detail="5f2a9c0d"),
        GraphNode(node_id="d2", label="churn-eval", kind="dataset", column=0),
        GraphNode(node_id="run", label="train-42", kind="run", column=1, href="/ui/runs/abc"),
        GraphNode(node_id="v3", label="churn v3", kind="model_version", column=2, current=True),
        GraphNode(node_id="champion", label="@champion", kind="alias", column=3),
        GraphNode(node_id="canary", label="@canary", kind="alias", column=3),
        GraphNode(node_id="prod", label="prod-eu", kind="deployment", column=3),
    ]
    edges = [
        GraphEdge(source="d1", target="run", label="train"),
        GraphEdge(source="d2", target="run", label="eval"),
        GraphEdge(source="run", target="v3", label="produced"),
        GraphEdge(source="v3", target="champion"),
        GraphEdge(source="v3", target="canary"),
        GraphEdge(source="v3", target="prod", label="serves"),
    ]
    return nodes, edges


def test_columns_run_left_to_right_and_stacks_are_centred() -> None:
    nodes, edges = lineage_example()
    root = parse(lineage_graph(nodes, edges, title="churn v3"))
    at = boxes(root)
    assert set(at) == {n.node_id for n in nodes}
    xs = sorted({x for x, _ in at.values()})
    assert len(xs) == 4
    assert [b - a for a, b in itertools.pairwise(xs)] == [NODE_WIDTH + COLUMN_GAP] * 3
    # Stacked in the order given, without overlap.
    ys = [at[n][1] for n in ("champion", "canary", "prod")]
    assert ys == sorted(ys) and all(b - a >= NODE_HEIGHT for a, b in itertools.pairwise(ys))
    # A single node is centred against the tallest column (three aliases).
    middle = (ys[0] + ys[-1] + NODE_HEIGHT) / 2
    assert at["v3"][1] + NODE_HEIGHT / 2 == pytest.approx(middle)
    assert at["run"][1] + NODE_HEIGHT / 2 == pytest.approx(middle)
    # The drawing is exactly as large as its boxes plus padding.
    width, height = float(root.get("width", 0)), float(root.get("height", 0))
    assert max(x for x, _ in at.values()) + NODE_WIDTH < width
    assert max(y for _, y in at.values()) + NODE_HEIGHT < height
    assert root.get("data-nodes") == "7" and root.get("data-edges") == "6"


def test_every_edge_joins_the_right_side_of_its_source_to_the_left_side_of_its_target() -> None:
    nodes, edges = lineage_example()
    root = parse(lineage_graph(nodes, edges))
    at = boxes(root)
    for edge in edges:
        x1, y1, x2, y2 = edge_ends(root, edge.source, edge.target)
        sx, sy = at[edge.source]
        tx, ty = at[edge.target]
        assert x1 == pytest.approx(sx + NODE_WIDTH) and y1 == pytest.approx(sy + NODE_HEIGHT / 2)
        assert tx - 3 <= x2 <= tx and y2 == pytest.approx(ty + NODE_HEIGHT / 2)
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "edge-label"]
    assert labels == ["train", "eval", "produced", "serves"]


def test_kinds_captions_links_and_the_current_node() -> None:
    nodes, edges = lineage_example()
    root = parse(lineage_graph(nodes, edges))
    links = list(root.iter(f"{SVG}a"))
    assert [a.get("href") for a in links] == ["/ui/runs/abc"]
    linked = links[0].find(f"{SVG}g")
    assert linked is not None and linked.get("data-node-id") == "run"
    captions = {
        g.get("data-node-id"): next(
            t.text for t in g.iter(f"{SVG}text") if t.get("class") == "node-kind"
        )
        for g in root.iter(f"{SVG}g")
        if g.get("data-node-id")
    }
    assert captions["d1"] == "DATASET" and captions["v3"] == "MODEL VERSION"
    assert captions["prod"] == "DEPLOYMENT" and captions["champion"] == "ALIAS"
    current = [
        g.get("data-node-id") for g in root.iter(f"{SVG}g") if "current" in g.get("class", "")
    ]
    assert current == ["v3"]
    # Columns with no node are closed up.
    gap = lineage_graph(
        [
            GraphNode(node_id="a", label="a", kind="run", column=0),
            GraphNode(node_id="b", label="b", kind="run", column=7),
        ],
        [GraphEdge(source="a", target="b")],
    )
    at = boxes(parse(gap))
    assert at["b"][0] - at["a"][0] == NODE_WIDTH + COLUMN_GAP


def test_user_text_is_escaped_shortened_and_kept_whole_in_the_tooltip() -> None:
    hostile = '<script>alert("x")</script> & friends ' + "y" * 80
    svg = lineage_graph(
        [
            GraphNode(
                node_id='"><img src=x>',
                label=hostile,
                kind="<b>weird</b>",
                column=0,
                detail="\x00bad\x1fchars",
            )
        ],
        [],
        title="</title><script>",
    )
    root = parse(svg)  # still well-formed XML
    assert "<script>" not in svg and "<img" not in svg and "<b>" not in svg
    label = next(t for t in root.iter(f"{SVG}text") if t.get("class") == "node-label")
    assert label.text is not None and label.text.endswith("…") and len(label.text) < 40
    tooltip = next(g for g in root.iter(f"{SVG}g") if g.get("data-node-id")).find(f"{SVG}title")
    assert tooltip is not None and tooltip.text is not None and tooltip.text.startswith(hostile)
    kind = next(t for t in root.iter(f"{SVG}text") if t.get("class") == "node-kind")
    assert kind.text == "<B>WEIRD</B>"  # an unknown kind is captioned by its (escaped) name


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "//evil.example/x",
        "/\\evil.example",
        "data:text/html,<b>",
        'https://ok.example/" onmouseover="x',
        "/ui/runs/a b",
        "/ui/\x01",
    ],
)
def test_unsafe_links_are_refused(href: str) -> None:
    node = GraphNode(node_id="n", label="n", kind="run", column=0, href=href)
    with pytest.raises(InvalidArgument, match="links to"):
        lineage_graph([node], [])


@pytest.mark.parametrize(
    "href", ["/ui/runs/abc", "/ui/models/a%20b?format=html", "#files", "https://x.example/a?b=1"]
)
def test_safe_links_are_kept(href: str) -> None:
    node = GraphNode(node_id="n", label="n", kind="run", column=0, href=href)
    (link,) = parse(lineage_graph([node], [])).iter(f"{SVG}a")
    assert link.get("href") == href


def test_graphs_that_cannot_be_drawn_are_refused() -> None:
    a = GraphNode(node_id="a", label="a", kind="run", column=1)
    b = GraphNode(node_id="b", label="b", kind="run", column=1)
    with pytest.raises(InvalidArgument, match="share the id 'a'"):
        lineage_graph([a, a], [])
    with pytest.raises(InvalidArgument, match="unknown node 'zz'"):
        lineage_graph([a], [GraphEdge(source="a", target="zz")])
    with pytest.raises(InvalidArgument, match="does not run left to right"):
        lineage_graph([a, b], [GraphEdge(source="a", target="b")])
    with pytest.raises(InvalidArgument, match="negative column"):
        lineage_graph([GraphNode(node_id="n", label="n", kind="run", column=-1)], [])


def test_an_empty_graph_says_so() -> None:
    root = parse(lineage_graph([], []))
    assert root.get("data-nodes") == "0"
    assert "nothing to draw" in "".join(root.itertext())


@settings(max_examples=60, deadline=None)
@given(
    columns=st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=25),
    labels=st.lists(st.text(max_size=60), min_size=25, max_size=25),
)
def test_any_graph_is_well_formed_and_no_two_boxes_overlap(
    columns: list[int], labels: list[str]
) -> None:
    nodes = [
        GraphNode(node_id=f"n{i}", label=labels[i], kind="dataset", column=c, detail=labels[-1 - i])
        for i, c in enumerate(columns)
    ]
    edges = [
        GraphEdge(source=a.node_id, target=b.node_id, label=labels[i % len(labels)])
        for i, (a, b) in enumerate(itertools.pairwise(nodes))
        if a.column < b.column
    ]
    at = boxes(parse(lineage_graph(nodes, edges)))
    placed = sorted(at.values())
    for i, (x1, y1) in enumerate(placed):
        for x2, y2 in placed[i + 1 :]:
            assert abs(x1 - x2) >= NODE_WIDTH or abs(y1 - y2) >= NODE_HEIGHT
