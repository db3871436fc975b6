"""The default test chooser (spec §3): the table itself, and the engine feeding it the
right inputs: n_ref counted after cleaning (so nulls can send a large frame to the
small-sample branch), n_values over the union of both cleaned sides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from moorline.monitoring.base import ColumnKind
from moorline.monitoring.drift import choose_stattest, compute_drift

NUM, CAT, TEXT = ColumnKind.NUMERICAL, ColumnKind.CATEGORICAL, ColumnKind.TEXT


@pytest.mark.parametrize(
    ("kind", "n_ref", "n_values", "expected"),
    [
        (NUM, 1000, 1, "z"),
        (NUM, 1000, 2, "z"),
        (NUM, 1000, 3, "chisquare"),
        (NUM, 1000, 5, "chisquare"),
        (NUM, 1000, 6, "ks"),
        (NUM, 1001, 2, "jensenshannon"),
        (NUM, 1001, 5, "jensenshannon"),
        (NUM, 1001, 6, "wasserstein"),
        (CAT, 1, 1, "z"),
        (CAT, 1000, 2, "z"),
        (CAT, 1000, 3, "chisquare"),
        (CAT, 1000, 40, "chisquare"),
        (CAT, 1001, 2, "jensenshannon"),
        (CAT, 1001, 40, "jensenshannon"),
        (TEXT, 1000, 900, "perc_text_content_drift"),
        (TEXT, 1001, 900, "abs_text_content_drift"),
    ],
)
def test_chooser_table(kind: ColumnKind, n_ref: int, n_values: int, expected: str) -> None:
    assert choose_stattest(kind, n_ref=n_ref, n_values=n_values) == expected


def _chosen(
    reference: pd.DataFrame, current: pd.DataFrame, preset: str = "evidently"
) -> dict[str, str | None]:
    report = compute_drift(reference, current, preset=preset)  # type: ignore[arg-type]
    return {c.column: c.stattest for c in report.columns}


def test_the_1000_boundary_is_on_reference_values() -> None:
    rng = np.random.default_rng(0)
    small = pd.DataFrame({"x": rng.normal(size=1000)})
    large = pd.DataFrame({"x": rng.normal(size=1001)})
    current = pd.DataFrame({"x": rng.normal(size=50_000)})  # the current size does not matter
    assert _chosen(small, current) == {"x": "ks"}
    assert _chosen(large, current) == {"x": "wasserstein"}
    assert _chosen(large, pd.DataFrame({"x": rng.normal(size=10)})) == {"x": "wasserstein"}


def test_nulls_and_infinities_push_a_large_frame_to_the_small_sample_branch() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=20_000)
    values[806:] = np.nan  # 806 non-null reference values in a 20,000-row frame
    values[800:806] = np.inf  # and 6 of them infinite: 800 left
    reference = pd.DataFrame({"x": values, "c": rng.choice(["a", "b", "c"], 20_000)})
    reference.loc[reference.index[900:], "c"] = None
    current = pd.DataFrame({"x": rng.normal(size=20_000), "c": rng.choice(["a", "b", "c"], 20_000)})
    assert _chosen(reference, current) == {"x": "ks", "c": "chisquare"}
    # and the whole frame, cleaned, would be the large-sample branch
    assert _chosen(reference.fillna({"x": 0.0, "c": "a"}), current) == {
        "x": "wasserstein",
        "c": "jensenshannon",
    }


def test_low_cardinality_floats_go_to_categorical_tests() -> None:
    rng = np.random.default_rng(2)

    def frame(rows: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "flag": rng.integers(0, 2, rows).astype(float),  # numerical by type
                "four": rng.integers(0, 4, rows) * 0.5,
                "six": rng.integers(0, 6, rows) * 1.0,
            }
        )

    assert _chosen(frame(500), frame(500)) == {"flag": "z", "four": "chisquare", "six": "ks"}
    assert _chosen(frame(5000), frame(500)) == {
        "flag": "jensenshannon",
        "four": "jensenshannon",
        "six": "wasserstein",
    }


def test_n_values_counts_the_union_of_both_sides() -> None:
    reference = pd.DataFrame({"f": [0.0, 1.0] * 100, "c": ["a", "b"] * 100})
    same = pd.DataFrame({"f": [1.0, 0.0] * 50, "c": ["b", "a"] * 50})
    assert _chosen(reference, same) == {"f": "z", "c": "z"}
    # a value only the current has makes three: chi-square, not z
    new = pd.DataFrame({"f": [0.0, 1.0, 2.0] * 50, "c": ["a", "b", "new"] * 50})
    assert _chosen(reference, new) == {"f": "chisquare", "c": "chisquare"}
    # a value only the reference has counts too
    fewer = pd.DataFrame({"f": [0.0] * 80, "c": ["a"] * 80})
    assert _chosen(reference.assign(f=[0.0, 1.0, 2.0, 3.0] * 50), fewer.assign(c="a")) == {
        "f": "chisquare",
        "c": "z",
    }
    # up to five values in the union is still chi-square; six is K-S
    five = pd.DataFrame({"f": np.arange(200) % 5 * 1.0})
    six = pd.DataFrame({"f": np.arange(200) % 6 * 1.0})
    assert _chosen(five, five) == {"f": "chisquare"}
    assert _chosen(five, six) == {"f": "ks"}


def test_int_and_bool_columns_follow_the_current_type() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"n": np.arange(600) % 11, "b": rng.random(600) < 0.5})
    current = pd.DataFrame({"n": np.arange(600) % 10, "b": rng.random(600) < 0.5})
    # 10 distinct in the current: categorical; 11 keys in the union: chi-square
    assert _chosen(reference, current) == {"n": "chisquare", "b": "z"}
    report = compute_drift(reference, current, preset="evidently")
    assert report.column("n").type == CAT


def test_text_columns_pick_the_text_tests() -> None:
    rng = np.random.default_rng(4)
    words = np.array(
        [
            "the",
            "quick",
            "brown",
            "fox",
            "jumps",
            "over",
            "a",
            "lazy",
            "dog",
            "while",
            "cats",
            "sleep",
        ]
    )

    def texts(rows: int) -> pd.DataFrame:
        return pd.DataFrame({"t": [" ".join(rng.choice(words, 6)) + f" {i}" for i in range(rows)]})

    assert _chosen(texts(200), texts(200)) == {"t": "perc_text_content_drift"}
    assert _chosen(texts(1001), texts(200)) == {"t": "abs_text_content_drift"}


@pytest.mark.parametrize("preset", ["evidently", "default"])
def test_presets_choose_the_same_tests_and_name_their_own_variant(preset: str) -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"c": rng.choice(list("abcd"), 500), "x": rng.normal(size=500)})
    report = compute_drift(frame, frame.sample(frac=1.0, random_state=1), preset=preset)  # type: ignore[arg-type]
    chi = report.column("c")
    assert chi.stattest == "chisquare"
    expected = "chi-square p_value" + (" (two-sample)" if preset == "default" else "")
    assert chi.stattest_display_name == expected
    assert report.column("x").stattest == "ks"
    assert chi.score == pytest.approx(1.0) and not report.dataset_drift
