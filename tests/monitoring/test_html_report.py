"""The HTML drift report: one self-contained page (nothing fetched, no script), every column
with its verdict, hostile text escaped, failed columns shown, distributions drawn right."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from moorline.monitoring.base import ColumnKind
from moorline.monitoring.html import (
    BINS,
    CONTENT_SECURITY_POLICY,
    categorical_distribution,
    numeric_distribution,
    render_html,
)
from moorline.monitoring.profile import ReferenceProfile
from moorline.monitoring.report import ColumnDrift, DriftReport

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("col")</script>'
HOSTILE_CATEGORY = "<img src=x onerror=alert(1)>"
WHEN = dt.datetime(2025, 3, 1, 12, 30, tzinfo=dt.UTC)
#: Attributes through which a page can make the browser fetch something.
FETCHING = {
    "src",
    "href",
    "xlink:href",
    "srcset",
    "action",
    "formaction",
    "poster",
    "data",
    "background",
    "manifest",
    "ping",
    "longdesc",
    "cite",
}


class Page(HTMLParser):
    """Every element with its attributes, the text, and the CSS of an HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.css: list[str] = []
        self._in_style = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.css if self._in_style else self.text).append(data)

    def tags(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.elements if t == tag]


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    n = 3000
    reference = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "plan": rng.choice(["basic", "pro", "team", HOSTILE_CATEGORY], n),
            HOSTILE: rng.uniform(0, 1, n),
            "empty": np.full(n, np.nan),
        }
    )
    current = pd.DataFrame(
        {
            "age": rng.normal(48, 10, n),
            "plan": rng.choice(["basic", "pro", "new"], n),
            HOSTILE: rng.uniform(0, 1, n),
            "empty": np.full(n, np.nan),
        }
    )
    return reference, current


def column(
    name: str,
    kind: ColumnKind | None,
    *,
    score: float = 0.5,
    drift: bool = False,
    error: str | None = None,
) -> ColumnDrift:
    return ColumnDrift(
        column=name,
        type=kind,
        stattest=None if error else "ks",
        stattest_display_name=None if error else "K-S p_value",
        score=math.nan if error else score,
        threshold=None if error else 0.05,
        drift_detected=drift,
        error=error,
    )


@pytest.fixture(scope="module")
def report() -> DriftReport:
    return DriftReport(
        preset="default",
        reference_rows=3000,
        current_rows=3000,
        columns=(
            column("age", ColumnKind.NUMERICAL, score=1e-30, drift=True),
            column(HOSTILE, ColumnKind.NUMERICAL, score=0.61),
            column("plan", ColumnKind.CATEGORICAL, score=0.0, drift=True),
            column(
                "empty",
                ColumnKind.NUMERICAL,
                error="Column 'empty' has no values left after cleaning <b>(all null)</b>",
            ),
        ),
        drift_share=0.5,
    )


@pytest.fixture(scope="module")
def page_text(report: DriftReport, frames: tuple[pd.DataFrame, pd.DataFrame]) -> str:
    return render_html(report, *frames, generated_at=WHEN)


def test_the_page_fetches_nothing_and_runs_no_script(page_text: str) -> None:
    page = Page(page_text)
    for tag, attrs in page.elements:
        assert tag not in {
            "script",
            "link",
            "img",
            "iframe",
            "object",
            "embed",
            "base",
            "frame",
            "audio",
            "video",
            "source",
            "use",
            "image",
            "foreignobject",
        }
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)  # no event handlers
            if name in FETCHING:
                # Only in-page anchors: the table links to each column's section.
                assert value is not None and re.fullmatch(r"#col-\d+", value), (tag, name, value)
    css = "".join(page.css)
    assert "url(" not in css and "@import" not in css and "@font-face" not in css
    # The only absolute URL anywhere is the SVG namespace name (never fetched).
    assert set(re.findall(r"(?:https?:)?//[\w.-]+[^\s\"'<>]*", page_text)) == {
        "http://www.w3.org/2000/svg"
    }
    # A second guard for browsers: the page's own policy forbids every fetch.
    (csp,) = [a for a in page.tags("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp["content"] == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY


def test_summary_says_dataset_drift_with_share_preset_rows_and_time(page_text: str) -> None:
    text = " ".join(" ".join(Page(page_text).text).split())
    assert "Dataset drift detected" in text
    assert "2 of 3 columns drifted (66.7%; dataset drift at 50% or more)" in text
    assert "Preset default" in text
    assert "Reference rows 3,000" in text and "Current rows 3,000" in text
    assert "1 could not be tested" in text
    assert "2025-03-01 12:30:00 UTC" in text


def test_every_column_is_listed_with_its_test_score_threshold_and_verdict(
    page_text: str,
) -> None:
    page = Page(page_text)
    rows = {a["data-column"]: a["data-verdict"] for a in page.tags("tr") if "data-column" in a}
    assert rows == {"age": "drift", HOSTILE: "ok", "plan": "drift", "empty": "error"}
    sections = {
        a["data-column"]: a["data-verdict"] for a in page.tags("section") if "data-column" in a
    }
    assert sections == rows
    # Drifted columns first, then errors, then the rest.
    order = [a["data-verdict"] for a in page.tags("tr") if "data-column" in a]
    assert order == ["drift", "drift", "error", "ok"]
    text = " ".join(page.text)
    assert "K-S p_value" in text and "1e-30" in text and "0.61" in text and "0.05" in text


def test_hostile_column_names_categories_and_errors_are_escaped(page_text: str) -> None:
    assert "<script" not in page_text.lower()
    assert "<img" not in page_text.lower()
    assert "<b>(all null)" not in page_text
    page = Page(page_text)
    text = "".join(page.text)
    # ...and still readable as text.
    assert HOSTILE in text
    assert HOSTILE_CATEGORY in text
    assert "has no values left after cleaning <b>(all null)</b>" in text


def test_a_failed_column_shows_its_error_and_no_chart(page_text: str) -> None:
    section = re.search(r'<section[^>]*data-column="empty".*?</section>', page_text, re.S)
    assert section is not None
    assert "error-box" in section.group(0)
    assert "no values left after cleaning" in section.group(0)
    assert "<svg" not in section.group(0)
    assert "nothing to draw" in section.group(0)


def svgs(page_text: str) -> dict[str, ET.Element]:
    """Column name -> the chart drawn in its section, parsed as XML."""
    out = {}
    for chunk in page_text.split("<section")[1:]:
        (attrs,) = Page(f"<section{chunk.split('>', 1)[0]}>").tags("section")
        svg = re.search(r"<svg.*?</svg>", chunk.split("</section>", 1)[0], re.S)
        if svg is not None:
            out[str(attrs["data-column"])] = ET.fromstring(svg.group(0))
    return out


def series_counts(svg: ET.Element) -> dict[str, tuple[list[int], int, int]]:
    out = {}
    for g in svg.iter(f"{SVG}g"):
        if g.get("class") == "series":
            counts = [int(c.replace(",", "")) for c in g.get("data-counts", "").split()]
            out[str(g.get("data-label"))] = (
                counts,
                int(g.get("data-underflow", "0").replace(",", "")),
                int(g.get("data-overflow", "0").replace(",", "")),
            )
    return out


def test_numerical_columns_get_histograms_on_shared_edges_that_count_every_value(
    page_text: str, frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    reference, current = frames
    chart = svgs(page_text)["age"]
    assert chart.get("data-bins") == str(BINS)
    edges = [float(e) for e in chart.get("data-edges", "").split()]
    pooled = np.concatenate([reference["age"], current["age"]])
    assert edges[0] == pytest.approx(np.percentile(pooled, 1))
    assert edges[-1] == pytest.approx(np.percentile(pooled, 99))
    counts = series_counts(chart)
    for label, frame in (("reference", reference), ("current", current)):
        bins, under, over = counts[label]
        values = frame["age"].to_numpy()
        assert sum(bins) + under + over == len(values)
        assert under == int((values < edges[0]).sum())
        assert over == int((values > edges[-1]).sum())
        expected, _ = np.histogram(values, bins=np.array(edges))
        assert bins == expected.tolist()


def test_categorical_columns_get_bar_pairs_with_new_and_vanished_categories(
    page_text: str,
) -> None:
    chart = svgs(page_text)["plan"]
    rows = [g.get("data-category") for g in chart.iter(f"{SVG}g") if g.get("class") == "row"]
    assert set(rows) == {"basic", "pro", "team", "new", HOSTILE_CATEGORY}
    counts = series_counts(chart)
    ref = dict(zip(rows, counts["reference"][0], strict=True))
    cur = dict(zip(rows, counts["current"][0], strict=True))
    assert ref["new"] == 0 and cur["new"] > 0
    assert cur["team"] == 0 and ref["team"] > 0
    assert sum(ref.values()) == sum(cur.values()) == 3000


def test_many_categories_fold_into_other_and_new_ones_compete_on_equal_terms() -> None:
    profile = ReferenceProfile.from_frame(pd.DataFrame({"c": [f"k{i:02d}" for i in range(40)] * 5}))
    current = np.array(["fresh"] * 100 + [f"k{i:02d}" for i in range(40)], dtype=object)
    dist = categorical_distribution(
        profile.reference_column("c", ColumnKind.CATEGORICAL), current, top_k=5
    )
    assert dist.categories[0] == "fresh"  # the biggest share on either side comes first
    assert dist.categories[-1] == "other (36 categories)"
    assert len(dist.categories) == 6
    assert sum(dist.reference.counts) == 200 and sum(dist.current.counts) == 140
    assert dist.axis_max is None  # "fresh" is the longest bar: nothing to cut


def test_a_dominant_other_is_cut_short_so_named_categories_stay_readable() -> None:
    keys = [f"c{i:02d}" for i in range(25)]
    profile = ReferenceProfile.from_frame(pd.DataFrame({"c": keys * 40}))
    dist = categorical_distribution(
        profile.reference_column("c", ColumnKind.CATEGORICAL), np.array(keys * 40, dtype=object)
    )
    assert dist.categories[-1] == "other (15 categories)"
    assert dist.axis_max == pytest.approx(0.04 * 1.25)
    svg = ET.fromstring(dist.svg())
    clipped = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "clipped"]
    assert len(clipped) == 2  # the reference and current "other" bars
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert labels.count("60%") == 2  # the true share is still printed


def test_numerical_edge_cases_are_drawn_without_failing() -> None:
    def ref(values: list[float]) -> ReferenceProfile:
        return ReferenceProfile.from_frame(pd.DataFrame({"x": values}))

    # A 0/1 flag: one bar per value instead of a 30-bin histogram.
    flag = numeric_distribution(
        ref([0.0, 1.0] * 50).reference_column("x", ColumnKind.NUMERICAL),
        np.array([1.0] * 30 + [0.0] * 10),
    )
    assert flag.categories == ("0", "1") and list(flag.current.counts) == [10, 30]
    # A constant column plus outliers: 1st..99th percentile is one point, use min..max.
    spike = numeric_distribution(
        ref([5.5] * 1000 + [9.5]).reference_column("x", ColumnKind.NUMERICAL),
        np.array([5.5] * 900 + [v + 0.5 for v in range(1, 14)]),
    )
    assert spike.edges[0] == 1.5 and spike.edges[-1] == 13.5 and len(spike.edges) == BINS + 1
    assert sum(spike.current.counts) == 913
    # Whole numbers over a short range: one bin per integer, centred on it.
    rng = np.random.default_rng(3)
    counts = numeric_distribution(
        ref(list(rng.poisson(6, 2000).astype(float))).reference_column("x", ColumnKind.NUMERICAL),
        rng.poisson(9, 2000),
    )
    centres = [(a + b) / 2 for a, b in itertools.pairwise(counts.edges)]
    assert all(c == int(c) for c in centres) and np.diff(centres).tolist() == [1.0] * (
        len(centres) - 1
    )
    # ±inf and NaN in the current window are counted as missing, like the tests clean them.
    dirty = numeric_distribution(
        ref(list(np.linspace(0, 1, 100))).reference_column("x", ColumnKind.NUMERICAL),
        np.array([0.5, np.inf, -np.inf, np.nan, *np.linspace(0, 1, 50)]),
    )
    assert dirty.current_stats is not None and dirty.current_stats.nulls == 3
    assert sum(dirty.current.counts) + dirty.current.underflow + dirty.current.overflow == 51


def test_the_json_form_a_stored_profile_and_arrow_tables_give_the_same_page(
    report: DriftReport, frames: tuple[pd.DataFrame, pd.DataFrame], page_text: str
) -> None:
    reference, current = frames
    stored = ReferenceProfile.from_bytes(ReferenceProfile.from_frame(reference).to_bytes())
    assert render_html(report.to_dict(), *frames, generated_at=WHEN) == page_text
    assert render_html(report, stored, current, generated_at=WHEN) == page_text
    arrow = (pa.Table.from_pandas(reference), pa.Table.from_pandas(current))
    assert render_html(report, *arrow, generated_at=WHEN) == page_text


def test_without_data_the_page_has_the_verdicts_and_says_why_there_are_no_charts(
    report: DriftReport,
) -> None:
    page_text = render_html(report, generated_at=WHEN)
    assert "<svg" not in page_text
    assert "No data was given to the report" in page_text
    assert 'data-verdict="drift"' in page_text


def test_prediction_and_target_are_shown_apart_and_not_counted(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    report = DriftReport(
        preset="evidently",
        reference_rows=3000,
        current_rows=3000,
        columns=(column("plan", ColumnKind.CATEGORICAL, score=0.9),),
        drift_share=0.5,
        prediction_drift=column("age", ColumnKind.NUMERICAL, score=0.0, drift=True),
    )
    page_text = render_html(report, *frames, generated_at=WHEN)
    text = " ".join(" ".join(Page(page_text).text).split())
    assert "No dataset drift" in text
    assert "0 of 1 columns drifted" in text
    assert "Prediction drift Drift age" in text
    assert "prediction (not counted in dataset drift)" in text
    assert "age" in svgs(page_text)


def test_a_column_missing_from_the_data_is_explained_not_fatal(
    report: DriftReport, frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    reference, current = frames
    page_text = render_html(report, reference, current.drop(columns=["plan"]), generated_at=WHEN)
    assert "The current data given to the report has no column of this name." in page_text
    assert set(svgs(page_text)) == {"age", HOSTILE}


# -- distributions kept with a monitor result ------------------------------------------


def _series_totals(svg: str) -> list[int]:
    """Each series' total (bars plus the values outside the drawn range)."""
    found = re.findall(r'<g class="series"[^>]*data-total="([\d,]+)"', svg)
    return [int(t.replace(",", "")) for t in found]


def test_stored_distributions_are_bounded_and_draw_like_fresh_ones() -> None:
    from moorline.monitoring.html import (
        STORED_BINS,
        Distribution,
        column_distribution,
        stored_distributions,
    )

    rng = np.random.default_rng(8)
    reference = pd.DataFrame(
        {
            "amount": rng.lognormal(3.0, 1.0, 3000),
            "rating": rng.integers(0, 59, 3000),  # one bar per integer: 59 of them
            "city": rng.choice([f"city-{i}" for i in range(25)], 3000),
            "long": rng.choice(["x" * 500, "y" * 500], 3000),
        }
    )
    current = reference.sample(1200, random_state=2).assign(amount=lambda f: f["amount"] * 1.5)
    profile = ReferenceProfile.from_frame(reference)
    report = {
        "columns": [
            {"column": "rating", "type": "num", "drift_detected": False},
            {"column": "amount", "type": "num", "drift_detected": True},
            {"column": "city", "type": "cat", "drift_detected": False},
            {"column": "long", "type": "cat", "drift_detected": False},
            {"column": "notes", "type": "text", "drift_detected": False},
            {"column": "gone", "type": "num", "drift_detected": False},
        ]
    }
    kept = stored_distributions(report, profile, current)
    # Drifted first; text columns and columns missing from the data are left out.
    assert list(kept) == ["amount", "rating", "city", "long"]
    fresh = column_distribution(
        profile.reference_column("rating", ColumnKind.NUMERICAL), current["rating"]
    )
    assert fresh is not None and len(fresh.edges) - 1 == 59
    rating = Distribution.from_dict(kept["rating"])
    assert len(rating.edges) - 1 <= STORED_BINS
    # Merging bins loses no value: totals are those of the fresh histogram.
    assert sum(rating.reference.counts) == sum(fresh.reference.counts) == 3000
    assert sum(rating.current.counts) == sum(fresh.current.counts) == 1200
    assert rating.edges[0] == fresh.edges[0] and rating.edges[-1] == fresh.edges[-1]
    for name in kept:
        again = Distribution.from_dict(kept[name])
        assert again.to_dict() == kept[name]
        assert _series_totals(again.svg()) == [3000, 1200]
    assert all(len(c) <= 120 for c in kept["long"]["categories"])
    # The stored report draws them: one chart per kept column, stats beside it.
    page = render_html({**report, "distributions": kept})
    assert page.count("<svg") == 4
    assert "No data was given" not in page
    assert "The stored result keeps no distribution of this column." in page  # "gone"
    # Columns beyond the bound are left out, drifted ones kept first.
    wide = pd.DataFrame({f"c{i}": rng.normal(size=50) for i in range(12)})
    columns = [{"column": f"c{i}", "type": "num", "drift_detected": i >= 9} for i in range(12)]
    bounded = stored_distributions({"columns": columns}, wide, wide, max_columns=5)
    assert list(bounded) == ["c9", "c10", "c11", "c0", "c1"]


def test_a_malformed_stored_distribution_is_a_note_not_a_crash() -> None:
    from moorline.errors import InvalidArgument
    from moorline.monitoring.html import Distribution

    report = {
        "columns": [
            {"column": "a", "type": "num", "drift_detected": False},
            {"column": "b", "type": "cat", "drift_detected": False},
        ],
        "distributions": {
            "a": {
                "edges": [0.0, 1.0, 2.0],
                "reference": {"counts": [1]},
                "current": {"counts": [1]},
            },
            "b": {
                "categories": ["x"],
                "reference": {"counts": ["many"]},
                "current": {"counts": [1]},
            },
        },
    }
    page = render_html(report)
    assert page.count("The stored distribution cannot be drawn") == 2
    assert "<svg" not in page
    with pytest.raises(InvalidArgument, match="Malformed stored distribution"):
        Distribution.from_dict(report["distributions"]["a"])  # type: ignore[index]
