"""The SVG line chart: valid XML, exactly the points given, NaN gaps, sane axes, escaped text."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moorline.charts import PALETTE, Series, downsample, line_chart, nice_ticks
from moorline.errors import InvalidArgument

SVG = "{http://www.w3.org/2000/svg}"
NAN = float("nan")
INF = float("inf")


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def series_groups(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "series"]


def path_points(group: ET.Element) -> list[list[tuple[float, float]]]:
    """The pixel coordinates of each drawn segment of a series' path."""
    path = group.find(f"{SVG}path")
    if path is None:
        return []
    segments = []
    for part in path.get("d", "").split("M")[1:]:
        coords = [tuple(map(float, xy.split())) for xy in part.split("L")]
        segments.append([(x, y) for x, y in coords])
    return segments


def plot_box(root: ET.Element) -> tuple[float, float, float, float]:
    left, top, width, height = map(float, root.get("data-plot", "").split())
    return left, top, width, height


def test_a_series_is_valid_svg_with_one_vertex_per_point() -> None:
    points = [(float(i), math.sin(i / 5)) for i in range(50)]
    root = parse(line_chart([Series(label="sin", points=points)], title="wave", x_label="step"))
    (group,) = series_groups(root)
    assert group.get("data-points") == "50"
    segments = path_points(group)
    assert [len(s) for s in segments] == [50]
    # Vertices go left to right as the steps do, inside the plot box.
    left, top, width, height = plot_box(root)
    xs = [x for x, _ in segments[0]]
    assert xs == sorted(xs)
    assert all(left - 0.05 <= x <= left + width + 0.05 for x, _ in segments[0])
    assert all(top - 0.05 <= y <= top + height + 0.05 for _, y in segments[0])
    assert root.find(f"{SVG}title") is not None


def test_higher_values_are_drawn_higher() -> None:
    root = parse(line_chart([Series(label="up", points=[(0, 1.0), (1, 2.0), (2, 3.0)])]))
    ((p0, p1, p2),) = path_points(series_groups(root)[0])
    assert p0[1] > p1[1] > p2[1]  # SVG y grows downwards


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_non_finite_values_break_the_line(bad: float) -> None:
    points = [(0, 1.0), (1, 2.0), (2, bad), (3, 4.0), (4, 5.0), (5, 6.0)]
    root = parse(line_chart([Series(label="gappy", points=points)]))
    (group,) = series_groups(root)
    assert group.get("data-points") == "5"
    assert group.get("data-segments") == "2"
    assert [len(s) for s in path_points(group)] == [2, 3]
    # The y axis is computed from finite values only.
    assert float(root.get("data-y-max", "nan")) < 10


def test_an_isolated_point_between_gaps_is_drawn_as_a_dot() -> None:
    points = [(i, float(i)) for i in range(40)]
    points[10] = (10, NAN)
    points[12] = (12, NAN)
    root = parse(line_chart([Series(label="s", points=points)]))
    (group,) = series_groups(root)
    assert [len(s) for s in path_points(group)] == [10, 27]
    dots = group.findall(f"{SVG}circle")
    assert len(dots) == 1  # the lone point at step 11 (40 points: no per-point markers)
    assert group.get("data-segments") == "3"


def test_short_series_get_a_marker_on_every_point() -> None:
    root = parse(line_chart([Series(label="s", points=[(0, 1.0), (1, 3.0), (2, 2.0)])]))
    assert len(series_groups(root)[0].findall(f"{SVG}circle")) == 3


def test_axis_ranges_contain_the_data_and_end_on_ticks() -> None:
    a = Series(label="a", points=[(3, -0.37), (10, 0.2), (17, 1.93)])
    b = Series(label="b", points=[(5, 0.5), (250, 0.8)])
    root = parse(line_chart([a, b]))
    x_min, x_max = float(root.get("data-x-min", "")), float(root.get("data-x-max", ""))
    y_min, y_max = float(root.get("data-y-min", "")), float(root.get("data-y-max", ""))
    assert x_min <= 3 and x_max >= 250
    assert y_min <= -0.37 and y_max >= 1.93
    # Not absurdly wider than the data either.
    assert (y_max - y_min) <= 2 * (1.93 + 0.37)
    y_labels = [float(t.text or "nan") for t in _axis_texts(root, "y-axis")]
    assert y_labels[0] == y_min and y_labels[-1] == y_max


def _axis_texts(root: ET.Element, cls: str) -> list[ET.Element]:
    group = next(g for g in root.iter(f"{SVG}g") if g.get("class") == cls)
    return list(group.iter(f"{SVG}text"))


def test_integer_x_axes_have_integer_ticks() -> None:
    root = parse(line_chart([Series(label="s", points=[(0, 1.0), (1, 0.5), (2, 0.2)])]))
    labels = [t.text or "" for t in _axis_texts(root, "x-axis")]
    assert labels and all(re.fullmatch(r"-?\d+", label) for label in labels)


def test_a_flat_series_sits_inside_a_padded_range() -> None:
    root = parse(line_chart([Series(label="flat", points=[(0, 5.0), (1, 5.0), (2, 5.0)])]))
    assert float(root.get("data-y-min", "")) < 5 < float(root.get("data-y-max", ""))
    ((p0, _, _),) = path_points(series_groups(root)[0])
    _, top, _, height = plot_box(root)
    assert top < p0[1] < top + height


def test_nothing_to_draw_still_gives_a_valid_chart_that_says_so() -> None:
    for series in (
        [],
        [Series(label="empty", points=[])],
        [Series(label="nan", points=[(0, NAN)])],
    ):
        root = parse(line_chart(series))
        texts = [t.text for t in root.iter(f"{SVG}text")]
        assert "no finite values to draw" in texts


def test_extreme_magnitudes_give_finite_coordinates() -> None:
    points = [(0, -1e300), (1, 1e300), (2, 1e-300), (3, 1.0000000001), (4, 1.0000000002)]
    svg = line_chart([Series(label="wild", points=points)])
    parse(svg)
    assert "nan" not in svg.lower().replace("no finite", "")
    assert "inf" not in svg.lower()


def test_user_text_is_escaped_everywhere() -> None:
    nasty = "<script>alert(\"x\")</script> & 'quoted' \x01"
    svg = line_chart(
        [Series(label=nasty, points=[(0, 1.0), (1, 2.0)]), Series(label="b", points=[(0, 2.0)])],
        title=nasty,
        x_label=nasty,
        y_label=nasty,
    )
    root = parse(svg)
    assert "<script" not in svg
    assert not list(root.iter(f"{SVG}script"))
    shown = nasty.replace("\x01", "\ufffd")
    assert series_groups(root)[0].get("data-label") == shown
    assert root.find(f"{SVG}title") is not None
    assert root.find(f"{SVG}title").text == shown  # type: ignore[union-attr]
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert any(t.startswith("<script>") for t in texts)  # shown as text, not markup


def test_legend_appears_for_several_series_with_palette_colours() -> None:
    series = [Series(label=f"run {i}", points=[(0, float(i)), (1, i + 1.0)]) for i in range(3)]
    root = parse(line_chart(series))
    legend = [g for g in root.iter(f"{SVG}g") if g.get("class") == "legend-item"]
    assert [g.findtext(f"{SVG}text") for g in legend] == ["run 0", "run 1", "run 2"]
    assert [g.get("stroke") for g in series_groups(root)] == list(PALETTE[:3])
    single = parse(line_chart(series[:1]))
    assert not [g for g in single.iter(f"{SVG}g") if g.get("class") == "legend-item"]


def test_long_legends_wrap_and_grow_the_chart_instead_of_squashing_it() -> None:
    series = [
        Series(label=f"a fairly long run name number {i}", points=[(0, 1.0), (1, 2.0)])
        for i in range(12)
    ]
    root = parse(line_chart(series, width=480, height=240))
    _, _, _, plot_height = plot_box(root)
    assert plot_height >= 80
    assert float(root.get("height", "0")) > 240


def test_explicit_colours_are_used_and_bad_ones_refused() -> None:
    root = parse(line_chart([Series(label="s", points=[(0, 1.0), (1, 2.0)], color="#123abc")]))
    assert series_groups(root)[0].get("stroke") == "#123abc"
    with pytest.raises(InvalidArgument, match="Invalid colour"):
        line_chart([Series(label="s", points=[(0, 1.0)], color='red" onload="x')])


def test_x_format_renders_the_x_tick_labels() -> None:
    root = parse(
        line_chart(
            [Series(label="s", points=[(0, 1.0), (10, 2.0)])], x_format=lambda v: f"t+{v:g}s"
        )
    )
    labels = [t.text or "" for t in _axis_texts(root, "x-axis")]
    assert labels[0] == "t+0s" and all(label.startswith("t+") for label in labels)


def test_long_series_are_downsampled_to_the_limit() -> None:
    points = [(float(i), math.sin(i / 100)) for i in range(20_000)]
    points[12_345] = (12_345.0, 50.0)  # a spike must survive
    root = parse(line_chart([Series(label="long", points=points)], max_points=500))
    (group,) = series_groups(root)
    assert int(group.get("data-points", "0")) <= 500
    assert float(root.get("data-y-max", "0")) >= 50


def test_the_chart_is_deterministic() -> None:
    series = [Series(label="s", points=[(i, i * 0.1) for i in range(30)])]
    assert line_chart(series) == line_chart(series)


def test_too_small_charts_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="at least 200x120"):
        line_chart([], width=100)


# -- ticks -------------------------------------------------------------------


def test_nice_ticks_examples() -> None:
    assert nice_ticks(0.013, 0.98).values == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert nice_ticks(0, 100).values == (0, 20, 40, 60, 80, 100)
    assert nice_ticks(-3, 7, target=3).values == (-5, 0, 5, 10)
    assert nice_ticks(0, 3, integer=True).values == (0, 1, 2, 3)
    assert nice_ticks(1.5e9, 1.6e9).labels[:2] == ("1.50e+09", "1.52e+09")


def test_nice_ticks_refuses_bad_bounds() -> None:
    with pytest.raises(InvalidArgument, match="finite"):
        nice_ticks(0, INF)
    with pytest.raises(InvalidArgument, match="above"):
        nice_ticks(2, 1)


@settings(max_examples=300, deadline=None)
@given(
    lo=st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
    span=st.floats(min_value=0, max_value=1e12, allow_nan=False),
    target=st.integers(min_value=2, max_value=10),
)
def test_nice_ticks_cover_the_range_with_evenly_spaced_round_ticks(
    lo: float, span: float, target: int
) -> None:
    hi = lo + span
    ticks = nice_ticks(lo, hi, target=target)
    assert ticks.lo <= lo and ticks.hi >= hi
    assert 2 <= len(ticks.values) <= 60
    steps = [b - a for a, b in zip(ticks.values, ticks.values[1:], strict=False)]
    step = (ticks.hi - ticks.lo) / (len(ticks.values) - 1)
    float_error = 1e-14 * max(abs(ticks.lo), abs(ticks.hi))
    assert all(math.isclose(s, step, rel_tol=1e-6, abs_tol=float_error) for s in steps)
    mantissa = step / 10 ** math.floor(math.log10(step))
    tolerance = max(1e-6, 2 * float_error / step)
    assert any(math.isclose(mantissa, m, rel_tol=tolerance) for m in (1, 2, 5, 10))
    assert len(set(ticks.labels)) == len(ticks.labels)


# -- downsampling ------------------------------------------------------------


def test_downsample_keeps_ends_extremes_and_gaps() -> None:
    points = [(float(i), float(i % 10)) for i in range(10_000)]
    points[5_000] = (5_000.0, -100.0)
    points[7_000] = (7_000.0, NAN)
    out = downsample(points, 400)
    assert len(out) <= 400
    assert out[0] == points[0] and out[-1] == points[-1]
    assert (5_000.0, -100.0) in out
    assert any(math.isnan(y) for _, y in out)
    xs = [x for x, _ in out]
    assert xs == sorted(xs)


def test_downsample_leaves_short_series_alone_and_refuses_tiny_limits() -> None:
    points = [(0.0, 1.0), (1.0, 2.0)]
    assert downsample(points, 10) == points
    with pytest.raises(InvalidArgument, match="at least 4"):
        downsample(points, 3)


def test_embedded_values_are_the_exact_drawn_points() -> None:
    points = [(0, 0.123456789), (1, NAN), (2, -2.5e-7), (3, 1e20)]
    root = parse(line_chart([Series(label="s", points=points)], values=True))
    embedded = series_groups(root)[0].get("data-values", "")
    pairs = [tuple(map(float, pair.split(","))) for pair in embedded.split()]
    assert pairs == [(0, 0.12345679), (2, -2.5e-7), (3, 1e20)]
    assert "data-values" not in line_chart([Series(label="s", points=points)])
