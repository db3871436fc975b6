"""The ``evidently`` preset of every stat test against independent computations
written from the spec (``stattest_support``), on seeded data covering the
edge cases of spec §7: same score to 1e-9 relative, same verdict."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from moorline.monitoring.base import ReferenceColumn, StatTest
from moorline.monitoring.stattests import get_stattest
from tests.monitoring import stattest_support as spec
from tests.monitoring.stattest_support import Case

RTOL = 1e-9
ATOL = 1e-15


def assert_close(got: float, want: float) -> None:
    if math.isnan(want):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(want, rel=RTOL, abs=ATOL)


def spec_verdict(test: StatTest, score: float, threshold: float) -> bool:
    """The verdict rules of spec §3/§4, written out (NaN never drifts)."""
    if math.isnan(score):
        return False
    return {
        "p<=t": score <= threshold,
        "p<t": score < threshold,
        "d>=t": score >= threshold,
        "d>t": score > threshold,
        "auc>t": score > threshold,
    }[test.rule]


def check(name: str, reference: ReferenceColumn, current: Any, want: float) -> None:
    test = get_stattest(name, preset="evidently")
    result = test.compute(reference, current, test.default_threshold)
    assert result.stattest == name
    assert result.threshold == test.default_threshold
    assert_close(result.score, want)
    assert result.drift_detected == spec_verdict(test, want, test.default_threshold)


NUMERICAL_CASES = spec.numerical_cases()
CATEGORICAL_CASES = spec.categorical_cases()

# numerical tests whose spec reference runs on the raw arrays
NUMERICAL_SPECS: dict[str, Callable[[Any, Any], float]] = {
    "ks": spec.spec_ks,
    "wasserstein": spec.spec_wasserstein,
    "jensenshannon": lambda r, c: spec.spec_jensenshannon(r, c, numerical=True),
    "psi": lambda r, c: spec.spec_psi(r, c, numerical=True),
    "kl_div": lambda r, c: spec.spec_kl_div(r, c, numerical=True),
    "hellinger": lambda r, c: spec.spec_hellinger(r, c, numerical=True),
    "anderson": spec.spec_anderson,
    "cramer_von_mises": spec.spec_cramer_von_mises,
    "mannw": spec.spec_mannw,
    "ed": spec.spec_ed,
    "es": spec.spec_es,
    "t_test": spec.spec_t_test,
}

CATEGORICAL_SPECS: dict[str, Callable[[Any, Any], float]] = {
    "chisquare": spec.spec_chisquare,
    "jensenshannon": lambda r, c: spec.spec_jensenshannon(r, c, numerical=False),
    "psi": lambda r, c: spec.spec_psi(r, c, numerical=False),
    "kl_div": lambda r, c: spec.spec_kl_div(r, c, numerical=False),
    "hellinger": lambda r, c: spec.spec_hellinger(r, c, numerical=False),
}


def _applies(name: str, case: Case) -> bool:
    """Which (test, case) pairs are compared; the exclusions are deliberate."""
    if name == "es" and ("lowcard" in case.tags or case.name == "constant-std"):
        # 2-4 distinct values: the Epps-Singleton covariance is singular and
        # SciPy's p-value is rounding noise that depends on the row order
        # (constant reference: zero IQR, refused; see test_stattests_registry)
        return False
    if name == "t_test" and case.name == "offset-1e6":
        # means of ~1e6 with unit spread: the difference of means, and so the
        # p-value, carries ~1e-9 relative rounding that depends on row order
        return False
    # the O(n log n)-per-call tests are covered at the smaller sizes
    return not (
        "large" in case.tags and name in ("anderson", "cramer_von_mises", "es", "hellinger")
    )


@pytest.mark.parametrize(
    ("name", "case"),
    [
        pytest.param(name, case, id=f"{name}-{case.name}")
        for case in NUMERICAL_CASES
        for name in NUMERICAL_SPECS
        if _applies(name, case)
    ],
)
def test_numerical_tests_match_the_spec(name: str, case: Case) -> None:
    reference = spec.numerical_reference(case.ref)
    check(name, reference, case.cur, NUMERICAL_SPECS[name](case.ref, case.cur))


@pytest.mark.parametrize("case", CATEGORICAL_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("name", list(CATEGORICAL_SPECS))
def test_categorical_tests_match_the_spec(name: str, case: Case) -> None:
    reference = spec.categorical_reference(case.ref)
    check(name, reference, case.cur, CATEGORICAL_SPECS[name](case.ref, case.cur))


@pytest.mark.parametrize(
    "case", [c for c in CATEGORICAL_CASES if "binary" in c.tags], ids=lambda c: c.name
)
def test_z_test_matches_the_spec_on_binary_categoricals(case: Case) -> None:
    check("z", spec.categorical_reference(case.ref), case.cur, spec.spec_z(case.ref, case.cur))


LOW_CARDINALITY_SPECS: dict[str, Callable[[Any, Any], float]] = {
    "z": spec.spec_z,
    "chisquare": spec.spec_chisquare,
    "jensenshannon": lambda r, c: spec.spec_jensenshannon(r, c, numerical=True),
    "psi": lambda r, c: spec.spec_psi(r, c, numerical=True),
    "kl_div": lambda r, c: spec.spec_kl_div(r, c, numerical=True),
}


@pytest.mark.parametrize(
    ("name", "case"),
    [
        pytest.param(name, case, id=f"{name}-{case.name}")
        for case in NUMERICAL_CASES
        if "lowcard" in case.tags
        for name in LOW_CARDINALITY_SPECS
        if name != "z" or "binary" in case.tags
    ],
)
def test_chooser_sends_low_cardinality_floats_to_categorical_tests(name: str, case: Case) -> None:
    """The chooser applies z / chisquare / JS to numerical columns with <= 5
    values (spec §3); the tests must accept a numerical reference then."""
    reference = spec.numerical_reference(case.ref)
    want = LOW_CARDINALITY_SPECS[name](case.ref.tolist(), case.cur.tolist())
    check(name, reference, case.cur, want)


def test_z_test_with_more_than_two_keys_compares_the_first_sorted_key() -> None:
    rng = np.random.default_rng(3)
    keys = np.array(["b", "c", "a"], dtype=object)
    r, c = rng.choice(keys, 300), rng.choice(keys, 280, p=[0.2, 0.3, 0.5])
    check("z", spec.categorical_reference(r), c, spec.spec_z(r, c))


def test_z_test_is_one_when_both_samples_hold_the_same_single_value() -> None:
    reference = spec.categorical_reference(np.array(["a"] * 30, dtype=object))
    result = get_stattest("z").compute(reference, np.array(["a"] * 12, dtype=object), 0.05)
    assert result.score == 1.0
    assert not result.drift_detected


def test_z_test_p_value_is_exactly_zero_below_double_precision() -> None:
    """Evidently computes ``2 * (1 - Phi(|z|))``: a huge shift gives exactly 0."""
    reference = spec.categorical_reference(np.array([False] * 900 + [True] * 100))
    current = np.array([False] * 100 + [True] * 900)
    assert get_stattest("z").compute(reference, current, 0.05).score == 0.0
    assert get_stattest("z", preset="default").compute(reference, current, 0.05).score > 0.0


@pytest.mark.parametrize(
    "case", [c for c in CATEGORICAL_CASES if "equal" in c.tags], ids=lambda c: c.name
)
def test_g_test_matches_the_spec_on_equal_sizes(case: Case) -> None:
    check(
        "g_test",
        spec.categorical_reference(case.ref),
        case.cur,
        spec.spec_g_test(case.ref, case.cur),
    )


@pytest.mark.parametrize(
    "case",
    [c for c in CATEGORICAL_CASES if {"equal", "binary"} <= c.tags]
    + [
        Case(
            "two-values-each-three-overall",
            "cat",
            np.array(["a", "b"] * 100, dtype=object),
            np.array(["b", "c"] * 100, dtype=object),
        )
    ],
    ids=lambda c: c.name,
)
def test_fisher_exact_matches_the_spec(case: Case) -> None:
    check(
        "fisher_exact",
        spec.categorical_reference(case.ref),
        case.cur,
        spec.spec_fisher_exact(case.ref, case.cur),
    )


SMALL_CATEGORICAL = [c for c in CATEGORICAL_CASES if len(c.ref) + len(c.cur) <= 1400]


@pytest.mark.parametrize("case", SMALL_CATEGORICAL, ids=lambda c: c.name)
def test_tvd_reproduces_the_seeded_permutation_loop(case: Case) -> None:
    """Same 1,000 draws as ``np.random.seed(0)`` + Evidently's loop.

    Each statistic is summed in the iteration order of a Python set of the
    keys, which depends on the process's hash seed (Evidently's own TVD moves
    with PYTHONHASHSEED for string keys). With many keys, two orders can round
    a permuted statistic on either side of the observed one, so the p-value
    may differ by a few permutations out of 1,000; the draws themselves agree.
    """
    reference = spec.categorical_reference(case.ref, keep_order=True)
    want = spec.spec_tvd(case.ref, case.cur)
    test = get_stattest("TVD", preset="evidently")
    got = test.compute(reference, case.cur, test.default_threshold)
    assert abs(got.score - want) <= 0.005


def test_tvd_without_row_order_permutes_the_reference_in_key_order() -> None:
    rng = np.random.default_rng(11)
    keys = np.array(list("pqrs"), dtype=object)
    r, c = rng.choice(keys, 400), rng.choice(keys, 300, p=[0.1, 0.2, 0.3, 0.4])
    reference = spec.categorical_reference(r, keep_order=False)
    in_key_order = np.repeat(np.array(reference.keys, dtype=object), reference.counts)
    check("TVD", reference, c, spec.spec_tvd(in_key_order, c))


@pytest.mark.slow
def test_tvd_on_a_large_sample_is_still_exact() -> None:
    case = next(c for c in CATEGORICAL_CASES if c.name == "cat4-drift-20000")
    r, c = case.ref[:4000], case.cur[:3000]
    check("TVD", spec.categorical_reference(r), c, spec.spec_tvd(r, c))


@pytest.mark.parametrize(("n", "m", "shift"), [(300, 250, 0.0), (200, 260, 0.4), (40, 35, 0.0)])
def test_empirical_mmd_with_a_seed_matches_the_seeded_spec(n: int, m: int, shift: float) -> None:
    rng = np.random.default_rng(n + m)
    r = np.sort(rng.normal(size=n))  # the stored reference is sorted; permute the same rows
    c = rng.normal(shift, size=m)
    want_p, want_mmd = spec.spec_empirical_mmd(r, c, seed=7)
    test = get_stattest("empirical_mmd", seed=7)
    result = test.compute(spec.numerical_reference(r), c, test.default_threshold)
    assert result.score == want_p
    assert result.details["mmd"] == pytest.approx(want_mmd, rel=1e-9)
    assert result.drift_detected == (want_p < 0.1)


def test_empirical_mmd_unseeded_is_a_valid_p_value_and_leaves_global_rng_alone() -> None:
    rng = np.random.default_rng(5)
    reference = spec.numerical_reference(rng.normal(size=150))
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    result = get_stattest("empirical_mmd").compute(reference, rng.normal(3.0, size=150), 0.1)
    assert (np.random.get_state()[1] == before).all()
    assert result.score == 0.0
    assert result.drift_detected


def test_empirical_mmd_bandwidth_beyond_the_dense_limit_uses_exact_differences() -> None:
    from moorline.monitoring.stattests.mmd import (
        _median_sq_distance_dense,
        _median_sq_distance_sorted,
    )

    x = np.sort(np.random.default_rng(2).normal(size=1500))
    assert _median_sq_distance_sorted(x) == pytest.approx(_median_sq_distance_dense(x), rel=1e-9)
    ties = np.sort(np.random.default_rng(3).integers(0, 4, 1001).astype(float))
    assert _median_sq_distance_sorted(ties) == pytest.approx(_median_sq_distance_dense(ties))


def _texts(rng: np.random.Generator, k: int, drift: float) -> np.ndarray[Any, Any]:
    fruit = [
        "apple",
        "banana",
        "cherry",
        "grape",
        "melon",
        "lemon",
        "orange",
        "peach",
        "pear",
        "plum",
        "berry",
        "mango",
    ]
    tools = [
        "engine",
        "wheel",
        "brake",
        "motor",
        "gear",
        "piston",
        "clutch",
        "axle",
        "valve",
        "pump",
        "filter",
    ]
    out = []
    for _ in range(k):
        words = list(rng.choice(fruit, rng.integers(3, 9)))
        if rng.random() < drift:
            words += list(rng.choice(tools, 3))
        out.append(" ".join(words))
    return np.array(out, dtype=object)


@pytest.mark.parametrize(("n", "m", "drift"), [(200, 200, 0.0), (300, 150, 0.4)])
def test_text_content_drift_matches_the_spec(n: int, m: int, drift: float) -> None:
    rng = np.random.default_rng(n * 7 + m)
    r, c = _texts(rng, n, 0.0), _texts(rng, m, drift)
    auc, y_test = spec.spec_text_auc(r, c)
    reference = spec.text_reference(r)

    absolute = get_stattest("abs_text_content_drift")
    got = absolute.compute(reference, c, absolute.default_threshold)
    assert_close(got.score, auc)
    assert got.drift_detected == (auc > 0.55)

    percentile = get_stattest("perc_text_content_drift")
    got = percentile.compute(reference, c, percentile.default_threshold)
    want_pctl = spec.spec_random_auc_percentile(y_test, 0.95)
    assert_close(got.score, auc)
    assert_close(got.details["random_auc_percentile"], want_pctl)
    assert got.drift_detected == (auc > want_pctl)
    assert got.drift_detected == (drift > 0)


@pytest.mark.parametrize("closeness", [None, 1e-2, 1e-6, 1e-10, 0.0])
def test_jensenshannon_is_scipys_to_the_last_bit(closeness: float | None) -> None:
    """The engine's own Jensen-Shannon (no ``scipy.spatial`` import) against SciPy's
    function: identical floats, near-identical shares included (where a last-bit
    difference of one logarithm would change the score), NaN where SciPy's is NaN."""
    from scipy.spatial.distance import jensenshannon as scipy_js
    from scipy.special import rel_entr

    from moorline.monitoring.stattests.distances import jensenshannon, relative_entropy

    rng = np.random.default_rng(20261129)
    compared = 0
    for size in (1, 2, 5, 40, 1000):
        for _ in range(60):
            p = rng.integers(0, 10_000, size).astype(np.float64)
            if closeness is None:
                q = rng.integers(0, 3, size).astype(np.float64)
            else:
                q = p * (1 + closeness * rng.standard_normal(size))
            if p.sum() <= 0 or q.sum() <= 0:
                continue
            with np.errstate(invalid="ignore"):
                want = float(scipy_js(p, q))
            got = jensenshannon(p, q)
            assert got == want or (math.isnan(got) and math.isnan(want)), (p, q)
            compared += 1
    assert compared > 200
    x = np.array([0.0, 0.0, 1e-320, 1e300, 0.3, -1.0, np.nan, 2.0])
    y = np.array([0.0, 1.0, 1e300, 1e-300, 0.31, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(relative_entropy(x, y), rel_entr(x, y))
