"""The drift engine's default paths without ``scipy.stats``.

- :func:`kolmogorov_sf` (K-S asymptotic p-value) against ``scipy.stats.kstwo.sf``
  in every region of Simard & L'Ecuyer's plan, on both sides of every cut-off,
  to 1e-12 relative;
- the chi-square / G-test helpers against ``scipy.stats.chisquare``,
  ``power_divergence``, ``chi2_contingency`` and ``chi2.sf``, bit for bit;
- a fresh interpreter running a drift check whose columns take the K-S
  asymptotic and chi-square paths, with both presets, never imports ``scipy.stats``.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from moorline.monitoring.stattests import kolmogorov as ks_module
from moorline.monitoring.stattests.chisquare import chi2_contingency, chi2_sf, power_divergence
from moorline.monitoring.stattests.kolmogorov import kolmogorov_sf

RTOL = 1e-12
ATOL = 1e-300


def assert_matches_scipy(d: float, n: int) -> None:
    want = float(stats.kstwo.sf(d, n))
    got = kolmogorov_sf(d, n)
    if math.isnan(want):
        assert math.isnan(got), (d, n, got)
        return
    assert abs(got - want) <= max(RTOL * abs(want), ATOL), (d, n, want, got)


def region(d: float, n: int) -> str:
    """SciPy's method at (d, n), decided as SciPy decides it."""
    if d <= 0.5 / n:
        return "one"
    if d >= 1:
        return "zero"
    t = n * d
    if t <= 1:
        return "exact-low"
    if t >= n - 1:
        return "exact-high"
    if d >= 0.5:
        return "smirnov"
    s = t * d
    if n <= 140:
        return "durbin" if s <= 0.754693 else "pomeranz" if s <= 4 else "smirnov"
    if s >= 370:
        return "zero"
    if s >= 2.2:
        return "smirnov"
    if n <= 100_000 and n * float(np.power(np.asarray(d), 1.5)) <= 1.4:
        return "durbin"
    return "pelz-good"


def cutoffs(n: int) -> list[float]:
    """Every boundary of the plan for this n, in d."""
    return [
        0.5 / n,
        1.0 / n,
        1.0 - 1.0 / n,
        0.5,
        math.sqrt(0.754693 / n),
        math.sqrt(4.0 / n),
        math.sqrt(2.2 / n),
        math.sqrt(370.0 / n),
        (1.4 / n) ** (2 / 3),
        1.0,
    ]


def grid(n: int, *, inner: int) -> list[float]:
    """Both neighbours of every cut-off, the cut-off itself, and ``inner``
    points per region (evenly spaced in d * sqrt(n) below 3, then in d)."""
    points = {0.0, -0.1, 1.0, 1.5}
    for c in cutoffs(n):
        points.update({c, float(np.nextafter(c, 2.0)), float(np.nextafter(c, -1.0))})
    points.update((np.linspace(0.05, 3.0, inner) / math.sqrt(n)).tolist())
    points.update(np.linspace(0.0, 1.0, inner).tolist())
    return sorted(points)


SMALL_N = [1, 2, 3, 4, 5, 7, 10, 16, 33, 62, 63, 64, 100, 139, 140]
LARGE_N = [141, 142, 300, 1000, 9_999, 123_457]


@pytest.mark.parametrize("n", SMALL_N + LARGE_N)
def test_kolmogorov_sf_equals_scipy_around_every_cutoff(n: int) -> None:
    seen: set[str] = set()
    smirnov_points = 0
    for d in grid(n, inner=12 if n <= 1000 else 4):
        where = region(d, n)
        if where == "smirnov" and n > 10_000:
            # smirnov(n, d) costs O(n) (in SciPy too): the two points on the
            # boundary with Pelz-Good suffice
            smirnov_points += 1
            if smirnov_points > 2:
                continue
        assert_matches_scipy(d, n)
        seen.add(where)
    if 4 <= n <= 140:  # below 4 the Pomeranz region is empty (it needs d < 1/2)
        assert {"durbin", "pomeranz"} <= seen
    if 141 <= n <= 100_000:
        assert {"durbin", "pelz-good", "smirnov"} <= seen
    if n > 100_000:
        assert {"pelz-good", "smirnov", "zero"} <= seen


@pytest.mark.parametrize("n", [1_000_000, 10**9])
def test_kolmogorov_sf_equals_scipy_for_huge_n(n: int) -> None:
    # 2 smirnov(n, d) costs O(n) in SciPy and here alike: only the Pelz-Good
    # side of d^2 n = 2.2 and the zero region are sampled
    points = [*np.linspace(0.01, 1.48, 8).tolist(), math.sqrt(2.2) * (1 - 1e-15), 19.3, 40.0]
    for z in points:
        d = z / math.sqrt(n)
        assert region(d, n) in {"pelz-good", "zero"}
        assert_matches_scipy(d, n)


def test_kolmogorov_sf_on_the_durbin_region_at_its_largest_n() -> None:
    # few points: SciPy's own evaluation loops over n in Python. At this n the
    # Durbin region is d sqrt(n) <= 0.18, where P(D_n >= d) is 1 - 1e-20 or so.
    for n in (99_999, 100_000):
        for z in (0.16, 0.18):
            d = z / math.sqrt(n)
            assert region(d, n) == "durbin"
            assert_matches_scipy(d, n)
    d = 0.18 / math.sqrt(100_000)
    assert region(d, 100_001) == "pelz-good"
    assert_matches_scipy(d, 100_001)


@pytest.mark.parametrize(
    ("d", "n"),
    [
        # n d^1.5 computed by NumPy's power is 1.4 exactly here (the C pow gives
        # 1.4000000000000001): SciPy takes Durbin, Pelz-Good would differ by 3e-6
        (0.043370812512879386, 155),
        # Pomeranz where SciPy finishes n! in extended precision, and t = n d integer
        (0.1796053020267749, 124),
        (0.2, 100),
        (0.1, 50),
        (0.18, 140),
        # the tail of the Pomeranz region, 1 - P ~ 7e-4
        (math.sqrt(4.0 / 140), 140),
        (math.sqrt(4.0 / 37), 37),
    ],
)
def test_kolmogorov_sf_at_sensitive_points(d: float, n: int) -> None:
    assert_matches_scipy(d, n)


def test_pomeranz_region_random_points_are_scipys() -> None:
    rng = np.random.default_rng(20240611)
    for _ in range(150):
        n = int(rng.integers(4, 141))
        lo, hi = math.sqrt(0.754693 / n), min(math.sqrt(4.0 / n), 0.5)
        d = float(rng.uniform(lo, hi))
        assert_matches_scipy(d, n)


def test_kolmogorov_sf_edge_cases() -> None:
    assert kolmogorov_sf(0.0, 10) == 1.0
    assert kolmogorov_sf(-1.0, 10) == 1.0
    assert kolmogorov_sf(0.05, 10) == 1.0  # d = 1/(2n) exactly
    assert kolmogorov_sf(1.0, 10) == 0.0
    assert kolmogorov_sf(math.inf, 10) == 0.0
    assert kolmogorov_sf(-math.inf, 10) == 1.0
    assert math.isnan(kolmogorov_sf(math.nan, 10))
    for bad_n in (0, -3, 2.5):
        assert math.isnan(kolmogorov_sf(0.3, bad_n))  # type: ignore[arg-type]
        with np.errstate(divide="ignore"):
            assert math.isnan(float(stats.kstwo.sf(0.3, bad_n)))
    assert kolmogorov_sf(0.3, 10.0) == kolmogorov_sf(0.3, 10)  # type: ignore[arg-type]
    # n = 1: D_1 = max(U, 1 - U), uniform on [1/2, 1]
    for d in (0.5, 0.500001, 0.6, 0.75, 0.99, 0.999999999):
        assert kolmogorov_sf(d, 1) == pytest.approx(2 - 2 * d, rel=1e-12)
        assert_matches_scipy(d, 1)
    for n in (10**9, 2**40):
        for z in (0.01, 0.5, 1.0, 1.4, 20.0):
            assert_matches_scipy(z / math.sqrt(n), n)


def test_durbin_never_defers_to_scipy_for_the_sizes_the_chooser_produces() -> None:
    # SciPy's Durbin evaluation only overflows from n ~ 16,000 on (then
    # kolmogorov_sf asks SciPy); the automatic choice gives n <= 1,000.
    for n in (141, 500, 1000, 5000, 10_000):
        top = min((1.4 / n) ** (2 / 3), math.sqrt(2.2 / n))
        for d in np.linspace(1.0 / n, top, 25)[1:]:
            assert ks_module._durbin_cdf(n, float(d)) is not None


def test_scipy_durbin_overflow_is_scipys_for_evidently_and_true_otherwise() -> None:
    # SciPy's matrices overflow here and it returns 0 where the true value is 1:
    # kolmogorov_sf detects it and returns SciPy's own result (what Evidently
    # reports), or with scipy_overflow=False the true value
    d, n = 0.00035968410352646803, 63945
    assert ks_module._durbin_cdf(n, d) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_matches_scipy(d, n)
        assert float(stats.kstwo.sf(d, n)) == 0.0
    # P(D_n < d) is below 1e-28 here (d sqrt(n) = 0.09): the survival function is 1
    assert kolmogorov_sf(d, n, scipy_overflow=False) == 1.0
    true_cdf = ks_module._durbin_cdf(n, d, track_scipy=False)
    assert true_cdf is not None and 0.0 <= true_cdf < 1e-28


def test_nearly_identical_large_samples_do_not_drift_in_the_default_preset() -> None:
    """Two 127,890-value columns that differ in 46 values: preset ``evidently``
    reports SciPy's overflowed p-value of 0 (drift, as Evidently would), the
    corrected preset the true p-value of 1."""
    from moorline.monitoring.drift import compute_drift

    rng = np.random.default_rng(5)
    reference = np.sort(rng.normal(size=127_890))
    current = reference.copy()
    current[:46] = reference[-1] + 1.0 + np.arange(46)  # the 46 smallest moved past the max
    # D = 46 / 127,890 and n = 63,945: d sqrt(n) = 0.09, where SciPy overflows
    frames = pd.DataFrame({"a": reference}), pd.DataFrame({"a": current})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        evidently = compute_drift(*frames, preset="evidently", per_column_method={"a": "ks"})
    default = compute_drift(*frames, preset="default", per_column_method={"a": "ks"})
    assert evidently.column("a").score == 0.0 and evidently.column("a").drift_detected
    assert default.column("a").score == 1.0 and not default.column("a").drift_detected


# ---------------------------------------------------------------------------
# chi-square


def same(got: float, want: float) -> bool:
    """Equal to 1e-12 relative (written from the definitions, not SciPy's steps)."""
    if math.isnan(got) or math.isnan(want):
        return math.isnan(got) and math.isnan(want)
    return got == want or abs(got - want) <= 1e-12 * abs(want)


def random_counts(rng: np.random.Generator, size: int) -> np.ndarray:
    counts = rng.integers(0, 50, size)
    counts[rng.random(size) < 0.2] = 0
    return counts


def test_goodness_of_fit_is_scipy_chisquare() -> None:
    rng = np.random.default_rng(7)
    cases = [(np.array([5]), np.array([7])), (np.array([0, 4]), np.array([3, 0]))]
    for _ in range(300):
        k = int(rng.integers(1, 40))
        ref, cur = random_counts(rng, k), random_counts(rng, k)
        if ref.sum() == 0 or cur.sum() == 0:
            continue
        cases.append((ref, cur))
    for ref, cur in cases:
        expected = ref * (cur.sum() / ref.sum())  # as ChiSquareGoodnessOfFit builds it
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = stats.chisquare(cur, expected)
            got = power_divergence(cur, expected)
        assert same(got[0], float(want.statistic)), (ref, cur)
        assert same(got[1], float(want.pvalue)), (ref, cur)


def test_g_test_goodness_of_fit_is_scipy_power_divergence() -> None:
    rng = np.random.default_rng(8)
    for _ in range(200):
        k = int(rng.integers(1, 30))
        cur = random_counts(rng, k)
        if cur.sum() == 0:
            continue
        ref = rng.multinomial(int(cur.sum()), np.full(k, 1 / k))  # equal totals
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = stats.power_divergence(cur, ref, lambda_="log-likelihood")
            got = power_divergence(cur, ref, lambda_="log-likelihood")
        assert same(got[0], float(want.statistic)), (ref, cur)
        assert same(got[1], float(want.pvalue)), (ref, cur)


@pytest.mark.parametrize("lambda_", ["pearson", "log-likelihood"])
def test_contingency_is_scipy_chi2_contingency(lambda_: str) -> None:
    rng = np.random.default_rng(9)
    tables = [np.array([[3, 0], [5, 0]]), np.array([[4], [9]]), np.array([[1, 2], [0, 0]])]
    for _ in range(300):
        k = int(rng.integers(2, 40))
        tables.append(np.vstack((random_counts(rng, k), random_counts(rng, k))))
    for table in tables:
        try:
            want = stats.chi2_contingency(table, correction=False, lambda_=lambda_)
        except ValueError:
            with pytest.raises(ValueError, match="contingency table"):  # refused alike
                chi2_contingency(table, lambda_=lambda_)  # type: ignore[arg-type]
            continue
        statistic, p_value, dof = chi2_contingency(table, lambda_=lambda_)  # type: ignore[arg-type]
        assert same(statistic, float(want.statistic)), table
        assert same(p_value, float(want.pvalue)), table
        assert dof == want.dof


def test_chi2_sf_is_scipy_chi2_sf() -> None:
    rng = np.random.default_rng(10)
    values = [0.0, -1e-15, -3.0, math.nan, math.inf, 1e-300, 1e5]
    values += rng.exponential(10.0, 100).tolist()
    for dof in (1, 2, 5, 39):
        for x in values:
            assert same(chi2_sf(x, dof), float(stats.chi2.sf(x, dof))), (x, dof)


# ---------------------------------------------------------------------------
# no scipy.stats on the default paths

DRIFT_WITHOUT_SCIPY_STATS = """
import sys
import numpy as np, pandas as pd
from moorline.monitoring.drift import compute_drift

rng = np.random.default_rng(0)
rows = 20_000

def frame(shift):
    sparse = np.full(rows, np.nan)
    sparse[:500] = rng.normal(shift, 1.0, 500)
    sparse_cat = np.full(rows, None, dtype=object)
    sparse_cat[:800] = rng.choice(["a", "b", "c", "d"], 800)
    return pd.DataFrame({
        "sparse_num": sparse,
        "num": rng.normal(shift, 1.0, rows),
        "sparse_cat": sparse_cat,
        "cat": rng.choice(["x", "y", "z"], rows),
    })

reference, current = frame(0.0), frame(0.1)
current["sparse_num"] = rng.normal(0.1, 1.0, rows)  # 500 reference values, 20,000 current
for preset in ("default", "evidently"):
    report = compute_drift(reference, current, preset=preset)
    for column in report.columns:
        print(preset, column.column, column.stattest, column.error)
print("scipy.stats" in sys.modules)
"""


def test_default_paths_never_import_scipy_stats() -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DRIFT_WITHOUT_SCIPY_STATS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    lines = done.stdout.split("\n")
    chosen = [line for line in lines if line.startswith(("default", "evidently"))]
    expected = {
        "sparse_num": "ks",  # 500 reference values: K-S; 20,000 current: asymptotic p-value
        "num": "wasserstein",
        "sparse_cat": "chisquare",  # 800 reference values, 4 categories
        "cat": "jensenshannon",
    }
    for preset in ("default", "evidently"):
        assert [line for line in chosen if line.startswith(preset)] == [
            f"{preset} {column} {test} None" for column, test in expected.items()
        ]
    assert lines[-2] == "False", done.stdout
