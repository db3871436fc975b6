"""The SVG bar charts: valid XML, bar heights proportional to shares, out-of-range bars,
escaped text, refusals of inputs that cannot be drawn."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moorline.charts import Bars, category_chart, histogram_chart, percent, short_number
from moorline.errors import InvalidArgument

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def series_groups(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "series"]


def bars(group: ET.Element, *, outside: bool = False) -> list[ET.Element]:
    return [r for r in group.iter(f"{SVG}rect") if (r.get("class") == "outside") == outside]


def height(rect: ET.Element) -> float:
    return float(rect.get("height", "nan"))


def test_bar_heights_are_proportional_to_each_series_share() -> None:
    # Reference 100 values, current 400: equal shares must give equal heights.
    ref = Bars(label="reference", counts=[50, 30, 20])
    cur = Bars(label="current", counts=[200, 120, 80])
    root = parse(histogram_chart([0, 1, 2, 3], [ref, cur]))
    g_ref, g_cur = series_groups(root)
    assert [height(r) for r in bars(g_ref)] == pytest.approx([height(r) for r in bars(g_cur)])
    h = [height(r) for r in bars(g_ref)]
    assert h[0] / h[1] == pytest.approx(50 / 30, rel=1e-2)
    assert g_ref.get("data-counts") == "50 30 20"
    assert g_cur.get("data-total") == "400"
    assert root.get("data-bins") == "3"


def test_bars_sit_inside_their_bin_and_series_side_by_side() -> None:
    root = parse(
        histogram_chart(
            [0, 10, 20], [Bars(label="a", counts=[1, 1]), Bars(label="b", counts=[1, 1])]
        )
    )
    left, top, width, plot_h = map(float, root.get("data-plot", "").split())
    g_a, g_b = series_groups(root)
    xa = [float(r.get("x", "0")) for r in bars(g_a)]
    xb = [float(r.get("x", "0")) for r in bars(g_b)]
    # Same bin: b right of a; second bin right of the first; all inside the plot.
    assert xa[0] < xb[0] < xa[1] < xb[1]
    assert all(left <= x <= left + width for x in xa + xb)
    # Every bar stands on the x axis.
    for r in bars(g_a) + bars(g_b):
        assert float(r.get("y", "0")) + height(r) == pytest.approx(top + plot_h, abs=0.11)


def test_values_outside_the_edges_get_their_own_labelled_bars() -> None:
    cur = Bars(label="current", counts=[5, 5], underflow=3, overflow=7)
    ref = Bars(label="reference", counts=[5, 5])
    svg = histogram_chart([-1.5, 0.0, 2.5], [ref, cur])
    root = parse(svg)
    g_ref, g_cur = series_groups(root)
    assert bars(g_ref, outside=True) == []  # nothing outside: no bar, but the region shows
    low, high = bars(g_cur, outside=True)
    assert height(high) / height(low) == pytest.approx(7 / 3, rel=1e-2)
    assert float(low.get("x", "0")) < min(float(r.get("x", "0")) for r in bars(g_cur))
    assert float(high.get("x", "0")) > max(float(r.get("x", "0")) for r in bars(g_cur))
    assert g_cur.get("data-underflow") == "3" and g_cur.get("data-overflow") == "7"
    labels = [
        t.text
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "outside-range"
        for t in g.iter(f"{SVG}text")
    ]
    assert labels == ["< -1.5", "> 2.5"]
    assert "below -1.5" in svg and "above 2.5" in svg  # hover titles


def test_no_outside_region_when_everything_is_inside() -> None:
    svg = histogram_chart([0, 1], [Bars(label="a", counts=[4])])
    assert "outside-range" not in svg


def test_empty_series_say_there_is_nothing_to_draw() -> None:
    root = parse(histogram_chart([0, 1], [Bars(label="a", counts=[0])]))
    assert any(t.get("class") == "no-data" for t in root.iter(f"{SVG}text"))
    assert bars(series_groups(root)[0]) == []


def test_category_rows_in_order_with_shares_as_lengths() -> None:
    cats = ["a", "b", "other (3 categories)"]
    svg = category_chart(
        cats, [Bars(label="ref", counts=[6, 3, 1]), Bars(label="cur", counts=[1, 1, 8])]
    )
    root = parse(svg)
    assert root.get("data-categories") == "3"
    rows = [g.get("data-category") for g in root.iter(f"{SVG}g") if g.get("class") == "row"]
    assert rows == cats
    g_ref, g_cur = series_groups(root)
    w_ref = [float(r.get("width", "0")) for r in g_ref.iter(f"{SVG}rect")]
    w_cur = [float(r.get("width", "0")) for r in g_cur.iter(f"{SVG}rect")]
    assert w_ref[0] == pytest.approx(w_cur[2] * 6 / 8, rel=1e-2)
    assert "60%" in svg and "80%" in svg
    # Rows stack downwards, the chart grows with them.
    ys = [float(r.get("y", "0")) for r in g_ref.iter(f"{SVG}rect")]
    assert ys == sorted(ys)
    taller = parse(category_chart([str(i) for i in range(30)], [Bars(label="r", counts=[1] * 30)]))
    assert float(taller.get("height", "0")) > float(root.get("height", "0"))


def test_axis_max_cuts_long_bars_at_the_axis_end_and_keeps_their_true_share() -> None:
    svg = category_chart(["a", "b", "other"], [Bars(label="r", counts=[5, 3, 92])], axis_max=0.06)
    root = parse(svg)
    _, _, width, _ = map(float, root.get("data-plot", "").split())
    (group,) = series_groups(root)
    rects = list(group.iter(f"{SVG}rect"))
    assert [r.get("class") for r in rects] == [None, None, "clipped"]
    assert float(rects[2].get("width", "0")) == pytest.approx(width, abs=0.1)
    assert float(rects[0].get("width", "0")) / float(rects[1].get("width", "0")) == (
        pytest.approx(5 / 3, rel=1e-2)
    )
    assert "92%" in [t.text for t in root.iter(f"{SVG}text")]
    with pytest.raises(InvalidArgument, match="axis_max"):
        category_chart(["a"], [Bars(label="r", counts=[1])], axis_max=0.0)


def test_user_text_is_escaped_everywhere() -> None:
    hostile = '<script>alert("x")</script>&'
    for svg in (
        histogram_chart([0, 1], [Bars(label=hostile, counts=[1])], title=hostile),
        category_chart([hostile], [Bars(label=hostile, counts=[1])], title=hostile),
    ):
        assert "<script>" not in svg
        root = parse(svg)  # still well-formed XML
        # The text survives intact for the reader (the legend and the hover titles).
        assert hostile in "".join(root.itertext())


@pytest.mark.parametrize(
    ("edges", "counts"),
    [
        ([0], []),
        ([0, 0], [1]),
        ([1, 0], [1]),
        ([0, math.inf], [1]),
        ([0, 1, 2], [1]),
        ([0, 1], [-1]),
        ([0, 1], [math.nan]),
    ],
)
def test_histograms_that_cannot_be_drawn_are_refused(
    edges: list[float], counts: list[float]
) -> None:
    with pytest.raises(InvalidArgument):
        histogram_chart(edges, [Bars(label="a", counts=counts)])


def test_bad_colours_and_mismatched_categories_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="colour"):
        histogram_chart([0, 1], [Bars(label="a", counts=[1], color="red;x")])
    with pytest.raises(InvalidArgument, match="2 counts for 1 categories"):
        category_chart(["a"], [Bars(label="a", counts=[1, 2])])


@settings(max_examples=60, deadline=None)
@given(
    lo=st.floats(-1e12, 1e12),
    span=st.floats(1e-6, 1e12),
    counts=st.lists(st.integers(0, 10**9), min_size=1, max_size=40),
    under=st.integers(0, 10**6),
)
def test_any_finite_histogram_gives_finite_coordinates(
    lo: float, span: float, counts: list[int], under: int
) -> None:
    n = len(counts)
    edges = [lo + span * i / n for i in range(n + 1)]
    if any(b <= a for a, b in itertools.pairwise(edges)):
        return
    root = parse(histogram_chart(edges, [Bars(label="a", counts=counts, underflow=under)]))
    for r in root.iter(f"{SVG}rect"):
        for attr in ("x", "y", "width", "height"):
            assert math.isfinite(float(r.get(attr, "0")))
        assert float(r.get("height", "0")) >= 0


def test_short_numbers_and_percentages() -> None:
    assert [short_number(v) for v in (2049.7, 212_345.0, 1.5e9, -0.01234, 3e-7)] == [
        "2050",
        "212k",
        "1.5G",
        "-0.0123",
        "3e-07",
    ]
    assert [percent(v) for v in (0.5, 0.123, 0.004, 0.0)] == ["50%", "12.3%", "0.40%", "0%"]
