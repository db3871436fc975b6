"""The ``default`` preset's corrected tests: what they compute, and that they
hold their nominal false-positive rate where Evidently's do not."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from scipy import stats

from moorline.monitoring.base import ColumnKind, ReferenceColumn
from moorline.monitoring.stattests import get_stattest
from moorline.monitoring.stattests.chisquare import pool_sparse
from tests.monitoring import stattest_support as spec

ALPHA = 0.05
FPR_TOLERANCE = 0.015  # within 1.5 points of nominal


def _counts_reference(counts: np.ndarray[Any, Any]) -> ReferenceColumn:
    keys = tuple(range(counts.size))
    return ReferenceColumn(
        name="c", kind=ColumnKind.CATEGORICAL, n=int(counts.sum()), keys=keys, counts=counts
    )


def false_positive_rate(
    name: str,
    *,
    preset: str,
    probabilities: np.ndarray[Any, Any],
    n: int,
    m: int,
    runs: int,
    seed: int,
) -> float:
    """Share of no-drift runs (both samples from ``probabilities``) flagged at 5%."""
    rng = np.random.default_rng(seed)
    test = get_stattest(name, preset=preset)  # type: ignore[arg-type]
    keys = np.arange(probabilities.size)
    flagged = 0
    for _ in range(runs):
        ref_counts = rng.multinomial(n, probabilities).astype(np.int64)
        present = ref_counts > 0
        reference = ReferenceColumn(
            name="c",
            kind=ColumnKind.CATEGORICAL,
            n=n,
            keys=tuple(keys[present].tolist()),
            counts=ref_counts[present],
        )
        current = np.repeat(keys, rng.multinomial(m, probabilities))
        flagged += test.compute(reference, current, ALPHA).drift_detected
    return flagged / runs


def zipf(k: int, exponent: float = 1.0) -> np.ndarray[Any, Any]:
    p = 1 / np.arange(1, k + 1) ** exponent
    return p / p.sum()


# ---------------------------------------------------------------------------
# chisquare: two-sample on the 2 x K table


def test_corrected_chisquare_is_chi2_contingency_without_yates() -> None:
    rng = np.random.default_rng(1)
    letters = np.array(list("abcd"), dtype=object)
    r = rng.choice(letters, 400)
    c = rng.choice(letters, 900, p=[0.3, 0.3, 0.2, 0.2])
    got = get_stattest("chisquare", preset="default").compute(
        spec.categorical_reference(r), c, ALPHA
    )
    assert got.score == pytest.approx(spec.spec_chisquare_two_sample(r, c), rel=1e-12)
    assert got.details["pooled_categories"] == 0
    assert got.details["dof"] == 3


def test_two_categories_equal_the_z_test() -> None:
    """Without Yates, the 2 x 2 chi-square is the pooled two-proportion z-test squared."""
    rng = np.random.default_rng(2)
    r, c = rng.random(500) < 0.3, rng.random(700) < 0.36
    reference = spec.categorical_reference(r)
    chi = get_stattest("chisquare", preset="default").compute(reference, c, ALPHA).score
    z = get_stattest("z", preset="default").compute(reference, c, ALPHA).score
    assert chi == pytest.approx(z, rel=1e-9)


def test_sparse_categories_are_pooled_into_one_cell() -> None:
    ref = np.array([200, 150, 100, 2, 1, 3, 0])
    cur = np.array([190, 160, 95, 1, 3, 0, 2])
    pooled_ref, pooled_cur, pooled = pool_sparse(ref, cur, 5.0)
    assert pooled == 4
    assert pooled_ref.tolist() == [200, 150, 100, 6]
    assert pooled_cur.tolist() == [190, 160, 95, 6]
    reference = _counts_reference(ref[:6])  # the last key is new in current
    current = np.repeat(np.arange(7), cur)
    got = get_stattest("chisquare", preset="default").compute(reference, current, ALPHA)
    want = stats.chi2_contingency(np.array([pooled_cur, pooled_ref]), correction=False)
    assert got.score == pytest.approx(want.pvalue, rel=1e-12)
    assert got.details["dof"] == 3


def test_a_still_sparse_pooled_cell_joins_the_smallest_category() -> None:
    ref, cur = np.array([300, 200, 40, 1]), np.array([290, 210, 45, 2])
    pooled_ref, pooled_cur, pooled = pool_sparse(ref, cur, 5.0)
    assert (pooled_ref.tolist(), pooled_cur.tolist(), pooled) == ([300, 200, 41], [290, 210, 47], 1)


def test_pooling_never_hides_a_shift_in_tiny_samples() -> None:
    """8 'a' vs 8 'b': every expected count is 4 < 5, but pooling everything
    would leave nothing to compare, so the raw table is tested."""
    reference = spec.categorical_reference(np.array(["a"] * 8, dtype=object))
    got = get_stattest("chisquare", preset="default").compute(
        reference, np.array(["b"] * 8, dtype=object), ALPHA
    )
    assert got.details["pooled_categories"] == 0
    assert got.drift_detected


def test_a_single_category_gives_p_one() -> None:
    reference = spec.categorical_reference(np.array(["a"] * 8, dtype=object))
    got = get_stattest("chisquare", preset="default").compute(
        reference, np.array(["a"] * 3, dtype=object), ALPHA
    )
    assert got.score == 1.0
    assert not got.drift_detected


def test_a_frequent_new_category_is_still_detected() -> None:
    rng = np.random.default_rng(4)
    letters = np.array(list("abc"), dtype=object)
    reference = spec.categorical_reference(rng.choice(letters, 500))
    current = np.concatenate([rng.choice(letters, 470), np.array(["new"] * 30, dtype=object)])
    got = get_stattest("chisquare", preset="default").compute(reference, current, ALPHA)
    assert got.drift_detected
    assert got.score < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize(
    ("label", "probabilities", "n", "m"),
    [
        ("40 Zipf categories, 500/500", zipf(40), 500, 500),
        ("40 Zipf categories, 500/2000", zipf(40), 500, 2000),
        ("40 Zipf categories, 2000/500", zipf(40), 2000, 500),
        ("40 steep Zipf categories, 500/500", zipf(40, 1.5), 500, 500),
        ("4 equal categories, 500/500", np.full(4, 0.25), 500, 500),
    ],
)
def test_corrected_chisquare_holds_five_percent_where_evidentlys_does_not(
    label: str, probabilities: np.ndarray[Any, Any], n: int, m: int
) -> None:
    runs = 2000
    corrected = false_positive_rate(
        "chisquare", preset="default", probabilities=probabilities, n=n, m=m, runs=runs, seed=n + m
    )
    assert abs(corrected - ALPHA) <= FPR_TOLERANCE, f"{label}: default FPR {corrected:.3f}"
    evidently = false_positive_rate(
        "chisquare", preset="evidently", probabilities=probabilities, n=n, m=m, runs=500, seed=7
    )
    assert evidently > 0.15, f"{label}: evidently FPR {evidently:.3f}"
    if probabilities.size == 40 and m >= n:
        assert evidently > 0.9


@pytest.mark.slow
def test_corrected_g_test_holds_five_percent() -> None:
    rate = false_positive_rate(
        "g_test", preset="default", probabilities=zipf(40), n=500, m=700, runs=2000, seed=99
    )
    assert abs(rate - ALPHA) <= FPR_TOLERANCE


# ---------------------------------------------------------------------------
# ks: exact permutation p-value given ties


def _enumerated_ks_p_value(r: np.ndarray[Any, Any], c: np.ndarray[Any, Any]) -> float:
    """P(D >= observed) over every split of the pooled sample, by brute force."""
    pooled = np.concatenate([r, c])
    observed = stats.ks_2samp(r, c).statistic
    hits = total = 0
    for chosen in itertools.combinations(range(pooled.size), r.size):
        mask = np.zeros(pooled.size, dtype=bool)
        mask[list(chosen)] = True
        hits += stats.ks_2samp(pooled[mask], pooled[~mask]).statistic >= observed - 1e-12
        total += 1
    return hits / total


@pytest.mark.parametrize("seed", range(6))
def test_ks_with_ties_is_the_exact_permutation_p_value(seed: int) -> None:
    rng = np.random.default_rng(seed)
    r = rng.integers(0, 4, int(rng.integers(3, 7))).astype(float)
    c = rng.integers(0, 5, int(rng.integers(3, 8))).astype(float)
    got = get_stattest("ks", preset="default").compute(spec.numerical_reference(r), c, ALPHA)
    assert got.details["method"] == "exact_given_ties"
    assert got.details["statistic"] == pytest.approx(stats.ks_2samp(r, c).statistic, rel=1e-12)
    assert got.score == pytest.approx(_enumerated_ks_p_value(r, c), rel=1e-9, abs=1e-12)


def test_ks_given_ties_is_scipys_exact_p_value_without_ties() -> None:
    from moorline.monitoring.stattests.ks import exact_pvalue_at_runs

    rng = np.random.default_rng(9)
    r, c = rng.normal(size=300), rng.normal(0.1, size=420)
    order = np.argsort(np.concatenate([r, c]), kind="stable")
    result = exact_pvalue_at_runs(
        300, 420, np.arange(1, 721, dtype=np.int64), np.cumsum(order < 300, dtype=np.int64)
    )
    assert result is not None
    assert result[1] == pytest.approx(stats.ks_2samp(r, c).pvalue, rel=1e-10)
    # continuous data never takes that path: both presets give SciPy's value
    reference = spec.numerical_reference(r)
    default = get_stattest("ks", preset="default").compute(reference, c, ALPHA)
    assert default.score == get_stattest("ks").compute(reference, c, ALPHA).score


def test_ks_with_ties_is_less_conservative_than_scipy() -> None:
    rng = np.random.default_rng(10)
    r, c = rng.poisson(3, 500).astype(float), rng.poisson(3, 500).astype(float)
    reference = spec.numerical_reference(r)
    exact = get_stattest("ks", preset="default").compute(reference, c, ALPHA).score
    scipy_p = get_stattest("ks").compute(reference, c, ALPHA).score
    assert scipy_p == stats.ks_2samp(r, c).pvalue
    assert exact < scipy_p


@pytest.mark.slow
@pytest.mark.parametrize(
    ("label", "low", "high"),
    [("Poisson(3) counts", None, None), ("ages 18-80", 18, 81), ("integers 0-14", 0, 15)],
)
def test_ks_given_ties_holds_five_percent_on_discrete_columns(
    label: str, low: int | None, high: int | None
) -> None:
    rng = np.random.default_rng(31)

    def sample(k: int) -> np.ndarray[Any, Any]:
        if low is None:
            return rng.poisson(3, k).astype(float)
        return rng.integers(low, high, k).astype(float)

    runs = 2000
    default, evidently = get_stattest("ks", preset="default"), get_stattest("ks")
    flagged_default = flagged_evidently = 0
    for _ in range(runs):
        reference, current = spec.numerical_reference(sample(500)), sample(500)
        flagged_default += default.compute(reference, current, ALPHA).drift_detected
        flagged_evidently += evidently.compute(reference, current, ALPHA).drift_detected
    assert abs(flagged_default / runs - ALPHA) <= FPR_TOLERANCE, label
    assert flagged_evidently < flagged_default


# ---------------------------------------------------------------------------
# mannw: two-sided


@pytest.mark.parametrize("shift", [-0.4, 0.4])
def test_mann_whitney_two_sided_flags_both_directions_one_sided_only_upward(shift: float) -> None:
    rng = np.random.default_rng(10)
    r, c = rng.normal(size=400), rng.normal(shift, size=350)
    reference = spec.numerical_reference(r)
    one_sided = get_stattest("mannw").compute(reference, c, ALPHA)
    two_sided = get_stattest("mannw", preset="default").compute(reference, c, ALPHA)
    assert one_sided.score == pytest.approx(spec.spec_mannw(r, c, "less"), rel=1e-12)
    assert two_sided.score == pytest.approx(spec.spec_mannw(r, c, "two-sided"), rel=1e-12)
    assert two_sided.drift_detected
    assert one_sided.drift_detected is (shift > 0)


@pytest.mark.slow
def test_two_sided_mann_whitney_holds_five_percent() -> None:
    rng = np.random.default_rng(21)
    test = get_stattest("mannw", preset="default")
    runs = 2000
    flagged = sum(
        test.compute(
            spec.numerical_reference(rng.normal(size=500)), rng.normal(size=500), ALPHA
        ).drift_detected
        for _ in range(runs)
    )
    assert abs(flagged / runs - ALPHA) <= FPR_TOLERANCE


# ---------------------------------------------------------------------------
# g_test, fisher_exact, z, empirical_mmd


def test_corrected_g_test_is_the_williams_corrected_log_likelihood_test() -> None:
    rng = np.random.default_rng(5)
    letters = np.array(list("abc"), dtype=object)
    r, c = rng.choice(letters, 300), rng.choice(letters, 450, p=[0.4, 0.3, 0.3])
    got = get_stattest("g_test", preset="default").compute(spec.categorical_reference(r), c, 0.1)
    keys = ["a", "b", "c"]
    table = np.array([[list(c).count(k) for k in keys], [list(r).count(k) for k in keys]])
    g = stats.chi2_contingency(table, correction=False, lambda_="log-likelihood").statistic
    # Williams (1976): q = 1 + (N sum 1/rows - 1)(N sum 1/cols - 1) / (6 N (r-1)(c-1))
    big_n = table.sum()
    q = 1 + (big_n * (1 / table.sum(1)).sum() - 1) * (big_n * (1 / table.sum(0)).sum() - 1) / (
        6 * big_n * 1 * 2
    )
    assert got.details["williams_q"] == pytest.approx(q, rel=1e-12)
    assert got.score == pytest.approx(stats.chi2.sf(g / q, 2), rel=1e-12)


def test_corrected_fisher_exact_uses_the_true_table_for_any_sizes() -> None:
    r = np.array(["yes"] * 30 + ["no"] * 70, dtype=object)
    c = np.array(["yes"] * 15 + ["no"] * 10, dtype=object)
    got = get_stattest("fisher_exact", preset="default").compute(
        spec.categorical_reference(r), c, 0.1
    )
    assert got.score == pytest.approx(stats.fisher_exact([[10, 15], [70, 30]]).pvalue, rel=1e-12)
    assert got.drift_detected
    single = get_stattest("fisher_exact", preset="default").compute(
        spec.categorical_reference(np.array(["no"] * 5, dtype=object)),
        np.array(["no"] * 9, dtype=object),
        0.1,
    )
    assert single.score == 1.0


def test_default_z_test_keeps_tiny_p_values() -> None:
    r = np.array([False] * 900 + [True] * 100)
    c = np.array([False] * 100 + [True] * 900)
    got = get_stattest("z", preset="default").compute(spec.categorical_reference(r), c, ALPHA)
    assert got.score == pytest.approx(spec.spec_z(r, c, survival=True), rel=1e-9)
    assert 0.0 < got.score < 1e-100


def test_default_empirical_mmd_is_reproducible() -> None:
    rng = np.random.default_rng(6)
    reference = spec.numerical_reference(rng.normal(size=200))
    current = rng.normal(0.15, size=180)
    test = get_stattest("empirical_mmd", preset="default")
    first = test.compute(reference, current, 0.1)
    assert first.details["seed"] == 0
    assert test.compute(reference, current, 0.1).score == first.score
