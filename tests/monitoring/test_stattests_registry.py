"""The registry, each test's declared metadata (spec §3-§4 tables), the verdict
rules at the boundary, and the errors raised where a test cannot run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from moorline.errors import InvalidArgument
from moorline.monitoring.base import ColumnKind, ScoreKind
from moorline.monitoring.stattests import (
    ChiSquareContingency,
    ChiSquareGoodnessOfFit,
    FisherExact,
    FisherExactEvidently,
    GTestContingency,
    GTestGoodnessOfFit,
    available_stattests,
    get_stattest,
)
from tests.monitoring import stattest_support as spec

NUM = {ColumnKind.NUMERICAL}
CAT = {ColumnKind.CATEGORICAL}
BOTH = NUM | CAT
TEXT = {ColumnKind.TEXT}

# name: (display name, kinds, default threshold, score kind, rule) — spec §3/§4
SPEC_TABLE = {
    "ks": ("K-S p_value", NUM, 0.05, ScoreKind.P_VALUE, "p<=t"),
    "chisquare": ("chi-square p_value", CAT, 0.05, ScoreKind.P_VALUE, "p<t"),
    "z": ("Z-test p_value", CAT, 0.05, ScoreKind.P_VALUE, "p<t"),
    "wasserstein": ("Wasserstein distance (normed)", NUM, 0.1, ScoreKind.DISTANCE, "d>=t"),
    "jensenshannon": ("Jensen-Shannon distance", BOTH, 0.1, ScoreKind.DISTANCE, "d>=t"),
    "psi": ("PSI", BOTH, 0.1, ScoreKind.DISTANCE, "d>=t"),
    "kl_div": ("Kullback-Leibler divergence", BOTH, 0.1, ScoreKind.DISTANCE, "d>=t"),
    "hellinger": ("Hellinger distance", BOTH, 0.1, ScoreKind.DISTANCE, "d>=t"),
    "anderson": ("Anderson-Darling", NUM, 0.1, ScoreKind.P_VALUE, "p<t"),
    "cramer_von_mises": ("Cramer-von Mises", NUM, 0.1, ScoreKind.P_VALUE, "p<=t"),
    "mannw": ("Mann-Whitney U-rank test", NUM, 0.05, ScoreKind.P_VALUE, "p<t"),
    "ed": ("Energy-distance", NUM, 0.1, ScoreKind.DISTANCE, "d>t"),
    "es": ("Epps-Singleton", NUM, 0.05, ScoreKind.P_VALUE, "p<t"),
    "t_test": ("t_test", NUM, 0.05, ScoreKind.P_VALUE, "p<t"),
    "empirical_mmd": ("empirical_mmd", NUM, 0.1, ScoreKind.P_VALUE, "p<t"),
    "g_test": ("g_test", CAT, 0.1, ScoreKind.P_VALUE, "p<t"),
    "fisher_exact": ("Fisher's Exact test", CAT, 0.1, ScoreKind.P_VALUE, "p<t"),
    "TVD": ("Total-Variation-Distance", CAT, 0.1, ScoreKind.P_VALUE, "p<t"),
    "perc_text_content_drift": ("Percentile text content drift", TEXT, 0.95, None, "auc>pctl"),
    "abs_text_content_drift": ("Absolute text content drift", TEXT, 0.55, None, "auc>t"),
}


def test_every_test_of_the_spec_is_registered() -> None:
    assert set(available_stattests()) == set(SPEC_TABLE)


@pytest.mark.parametrize("name", list(SPEC_TABLE))
def test_evidently_metadata_matches_the_spec(name: str) -> None:
    display, kinds, threshold, score_kind, rule = SPEC_TABLE[name]
    test = get_stattest(name)
    assert test.name == name
    assert test.display_name == display
    assert set(test.kinds) == kinds
    assert test.default_threshold == threshold
    assert test.rule == rule
    if score_kind is not None:
        assert test.score_kind == score_kind


@pytest.mark.parametrize("name", list(SPEC_TABLE))
def test_default_preset_keeps_name_kinds_threshold_and_rule(name: str) -> None:
    ev, de = get_stattest(name), get_stattest(name, preset="default")
    assert (de.name, set(de.kinds), de.default_threshold, de.rule) == (
        ev.name,
        set(ev.kinds),
        ev.default_threshold,
        ev.rule,
    )


def test_presets_differ_exactly_where_documented() -> None:
    assert isinstance(get_stattest("chisquare"), ChiSquareGoodnessOfFit)
    assert isinstance(get_stattest("chisquare", preset="default"), ChiSquareContingency)
    assert isinstance(get_stattest("g_test"), GTestGoodnessOfFit)
    assert isinstance(get_stattest("g_test", preset="default"), GTestContingency)
    assert isinstance(get_stattest("fisher_exact"), FisherExactEvidently)
    assert isinstance(get_stattest("fisher_exact", preset="default"), FisherExact)
    assert get_stattest("mannw").alternative == "less"  # type: ignore[attr-defined]
    assert get_stattest("mannw", preset="default").alternative == "two-sided"  # type: ignore[attr-defined]
    assert get_stattest("z").survival is False  # type: ignore[attr-defined]
    assert get_stattest("z", preset="default").survival is True  # type: ignore[attr-defined]
    assert get_stattest("empirical_mmd").seed is None  # type: ignore[attr-defined]
    assert get_stattest("empirical_mmd", preset="default").seed == 0  # type: ignore[attr-defined]
    assert get_stattest("ks").exact_ties is False  # type: ignore[attr-defined]
    assert get_stattest("ks", preset="default").exact_ties is True  # type: ignore[attr-defined]
    corrected = {"chisquare", "g_test", "fisher_exact", "mannw", "z", "empirical_mmd", "ks"}
    for name in set(SPEC_TABLE) - corrected:
        assert type(get_stattest(name)) is type(get_stattest(name, preset="default"))
        assert vars(get_stattest(name)) == vars(get_stattest(name, preset="default"))


def test_options_override_the_preset_and_instances_are_new() -> None:
    assert get_stattest("mannw", alternative="two-sided").alternative == "two-sided"  # type: ignore[attr-defined]
    assert get_stattest("empirical_mmd", preset="default", seed=9).seed == 9  # type: ignore[attr-defined]
    assert get_stattest("ks") is not get_stattest("ks")


def test_unknown_names_presets_and_options_are_invalid_arguments() -> None:
    with pytest.raises(InvalidArgument, match=r"unknown stat test 'kss'.*ks, chisquare"):
        get_stattest("kss")
    with pytest.raises(InvalidArgument, match="unknown preset 'scipy'"):
        get_stattest("ks", preset="scipy")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="invalid options for stat test 'ks'"):
        get_stattest("ks", bins=3)
    with pytest.raises(InvalidArgument, match="alternative must be"):
        get_stattest("mannw", alternative="up")


# ---------------------------------------------------------------------------
# Verdict rules at the boundary: score == threshold


def _score(name: str, reference: object, current: object) -> float:
    test = get_stattest(name)
    return test.compute(reference, current, test.default_threshold).score  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "drift_at_equality"),
    [
        ("ks", True),  # p <= t
        ("cramer_von_mises", True),  # p <= t
        ("t_test", False),  # p < t
        ("mannw", False),
        ("anderson", False),
        ("wasserstein", True),  # d >= t
        ("psi", True),
        ("kl_div", True),
        ("jensenshannon", True),
        ("hellinger", True),
        ("ed", False),  # d > t
    ],
)
def test_numerical_rules_at_the_threshold(name: str, drift_at_equality: bool) -> None:
    rng = np.random.default_rng(8)
    reference = spec.numerical_reference(rng.normal(size=300))
    current = rng.normal(0.2, size=280)
    score = _score(name, reference, current)
    test = get_stattest(name)
    assert test.compute(reference, current, score).drift_detected is drift_at_equality
    above = math.nextafter(score, math.inf)
    below = math.nextafter(score, -math.inf)
    p_value = test.score_kind == ScoreKind.P_VALUE
    assert test.compute(reference, current, above if p_value else below).drift_detected
    assert not test.compute(reference, current, below if p_value else above).drift_detected


@pytest.mark.parametrize("name", ["chisquare", "z", "g_test", "TVD", "fisher_exact"])
def test_categorical_p_value_rules_are_strict(name: str) -> None:
    r = np.array(["a"] * 150 + ["b"] * 150, dtype=object)
    c = np.array(["a"] * 130 + ["b"] * 170, dtype=object)
    reference = spec.categorical_reference(r)
    score = _score(name, reference, c)
    test = get_stattest(name)
    assert not test.compute(reference, c, score).drift_detected
    assert test.compute(reference, c, math.nextafter(score, math.inf)).drift_detected


def test_nan_scores_never_count_as_drift() -> None:
    # chi-square goodness of fit on one key: df = 0, p = NaN (spec §4)
    reference = spec.categorical_reference(np.array(["a"] * 10, dtype=object))
    result = get_stattest("chisquare").compute(reference, np.array(["a"] * 5, dtype=object), 0.05)
    assert math.isnan(result.score)
    assert not result.drift_detected
    # t-test on two constant samples
    reference = spec.numerical_reference(np.full(20, 3.0))
    result = get_stattest("t_test").compute(reference, np.full(20, 3.0), 0.05)
    assert math.isnan(result.score)
    assert not result.drift_detected


# ---------------------------------------------------------------------------
# Where a test cannot run


def test_new_category_makes_the_evidently_chi_square_p_zero() -> None:
    reference = spec.categorical_reference(np.array(["a", "b"] * 50, dtype=object))
    current = np.array(["a"] * 49 + ["b"] * 50 + ["new"], dtype=object)
    result = get_stattest("chisquare").compute(reference, current, 0.05)
    assert result.score == 0.0
    assert result.drift_detected
    assert (
        not get_stattest("chisquare", preset="default")
        .compute(reference, current, 0.05)
        .drift_detected
    )


def test_g_test_evidently_needs_equal_sizes() -> None:
    reference = spec.categorical_reference(np.array(["a", "b"] * 50, dtype=object))
    with pytest.raises(InvalidArgument, match=r"same size.*100 reference and 99 current"):
        get_stattest("g_test").compute(
            reference, np.array(["a", "b"] * 49 + ["a"], dtype=object), 0.1
        )
    result = get_stattest("g_test", preset="default").compute(
        reference, np.array(["a", "b"] * 49 + ["a"], dtype=object), 0.1
    )
    assert 0.0 < result.score <= 1.0


def test_fisher_exact_evidently_constraints() -> None:
    reference = spec.categorical_reference(np.array(["a", "b"] * 50, dtype=object))
    with pytest.raises(InvalidArgument, match="binary data on both sides"):
        get_stattest("fisher_exact").compute(
            reference, np.array(list("abc") * 33 + ["a"], dtype=object), 0.1
        )
    with pytest.raises(InvalidArgument, match=r"equal length.*100 reference and 60 current"):
        get_stattest("fisher_exact").compute(
            reference, np.array(["a", "b"] * 30, dtype=object), 0.1
        )
    with pytest.raises(InvalidArgument, match=r"binary column.*3 distinct values"):
        get_stattest("fisher_exact", preset="default").compute(
            reference, np.array(["a", "c"] * 30, dtype=object), 0.1
        )


def test_epps_singleton_refuses_a_zero_iqr() -> None:
    reference = spec.numerical_reference(np.array([1.0] * 90 + [2.0, 3.0]))
    with pytest.raises(InvalidArgument, match="interquartile range of the pooled sample is 0"):
        get_stattest("es").compute(reference, np.array([1.0] * 50), 0.05)


def test_anderson_refuses_a_single_distinct_value() -> None:
    reference = spec.numerical_reference(np.full(30, 4.0))
    with pytest.raises(InvalidArgument, match="anderson"):
        get_stattest("anderson").compute(reference, np.full(30, 4.0), 0.1)


@pytest.mark.parametrize("name", ["ks", "wasserstein", "anderson", "mannw", "t_test", "ed", "es"])
def test_numerical_tests_refuse_a_categorical_reference(name: str) -> None:
    reference = spec.categorical_reference(np.array(["a", "b"], dtype=object))
    with pytest.raises(InvalidArgument, match=f"{name!r} needs a numerical column"):
        get_stattest(name).compute(reference, np.array(["a"], dtype=object), 0.1)


@pytest.mark.parametrize(
    "name", sorted(set(SPEC_TABLE) - {"perc_text_content_drift", "abs_text_content_drift"})
)
def test_empty_current_is_refused(name: str) -> None:
    if SPEC_TABLE[name][1] == CAT:
        reference = spec.categorical_reference(np.array(["a", "b"], dtype=object))
        current = np.array([], dtype=object)
    else:
        reference = spec.numerical_reference(np.arange(10.0))
        current = np.array([], dtype=float)
    with pytest.raises(InvalidArgument, match="no non-null current values"):
        get_stattest(name).compute(reference, current, 0.1)


def test_text_tests_refuse_other_columns_and_untrainable_texts() -> None:
    with pytest.raises(InvalidArgument, match="needs a text column"):
        get_stattest("abs_text_content_drift").compute(
            spec.numerical_reference(np.arange(5.0)), np.array(["x"], dtype=object), 0.55
        )
    only_stop_words = spec.text_reference(["the and of"] * 20)
    with pytest.raises(InvalidArgument, match="cannot train its classifier"):
        get_stattest("abs_text_content_drift").compute(
            only_stop_words, np.array(["and the of"] * 20, dtype=object), 0.55
        )


def test_cramer_von_mises_small_samples_use_scipys_exact_counts() -> None:
    """Sizes 9 and 7 crash Evidently's own exact branch under NumPy 2 (see
    stattests.rank); both presets give SciPy's exact p-value."""
    rng = np.random.default_rng(12)
    r, c = rng.normal(size=9), rng.normal(size=7)
    for preset in ("evidently", "default"):
        test = get_stattest("cramer_von_mises", preset=preset)
        got = test.compute(spec.numerical_reference(r), c, 0.1).score
        assert got == spec.spec_cramer_von_mises(r, c)
    with pytest.raises(InvalidArgument, match="at least two values"):
        get_stattest("cramer_von_mises").compute(spec.numerical_reference(r), c[:1], 0.1)
