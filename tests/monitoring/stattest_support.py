"""Spec-derived reference computations for the stat tests, on raw arrays.

Every function here is written from the text of
/work/shared/specs/drift-evidently.md (§4, §5) with NumPy/SciPy on the raw
reference and current samples, in the row order Evidently sees them. None of
them calls moorline code, so comparing them with
``moorline.monitoring.stattests`` checks our implementation against the
spec, not against itself.

The seeded cases cover the edge cases of spec §7 (cleaning happens before
the tests, so "nulls at different rates" means different non-null sizes).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial import distance

from moorline.monitoring.base import ColumnKind, ReferenceColumn


@contextmanager
def quiet() -> Iterator[None]:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


# ---------------------------------------------------------------------------
# Building the reference side as a stored profile would


def numerical_reference(values: Any, name: str = "x") -> ReferenceColumn:
    v = np.asarray(values, dtype=np.float64)
    v = np.sort(v[np.isfinite(v)])
    return ReferenceColumn(name=name, kind=ColumnKind.NUMERICAL, n=v.size, sorted_values=v)


def categorical_reference(
    values: Any, name: str = "c", *, keep_order: bool = True
) -> ReferenceColumn:
    vals = list(values)
    keys = sorted(set(vals), key=str)
    index = {k: i for i, k in enumerate(keys)}
    codes = np.array([index[v] for v in vals], dtype=np.intp)
    counts = np.bincount(codes, minlength=len(keys)).astype(np.int64)
    return ReferenceColumn(
        name=name,
        kind=ColumnKind.CATEGORICAL,
        n=len(vals),
        keys=tuple(keys),
        counts=counts,
        row_codes=codes if keep_order else None,
    )


def text_reference(texts: Any, name: str = "t") -> ReferenceColumn:
    t = tuple(str(x) for x in texts)
    return ReferenceColumn(name=name, kind=ColumnKind.TEXT, n=len(t), texts=t)


# ---------------------------------------------------------------------------
# Spec §5: binning


def keys_of(r: Any, c: Any) -> list[Any]:
    """Distinct values of r and c together (order as Python's set gives it)."""
    return list(set(dict.fromkeys(list(r))) | set(dict.fromkeys(list(c))))


def spec_binned(r: Any, c: Any, *, numerical: bool, smoothing: bool) -> tuple[Any, Any]:
    r = np.asarray(r)
    c = np.asarray(c)
    n, m = len(r), len(c)
    if numerical and len(np.unique(r)) > 20:
        edges = np.histogram_bin_edges(np.concatenate([r, c]), bins="sturges")
        rp = np.histogram(r, edges)[0] / n
        cp = np.histogram(c, edges)[0] / m
    else:
        keys = keys_of(r, c)
        rc, cc = Counter(r.tolist()), Counter(c.tolist())
        rp = np.array([rc.get(k, 0) / n for k in keys])
        cp = np.array([cc.get(k, 0) / m for k in keys])
    if smoothing:
        for p in (rp, cp):
            mn = p[p != 0].min()
            p[p == 0] = mn / 1e6 if mn <= 1e-4 else 1e-4
    return rp, cp


# ---------------------------------------------------------------------------
# Spec §4: one function per test, returning the score


def spec_ks(r: Any, c: Any) -> float:
    return float(stats.ks_2samp(r, c).pvalue)


def spec_chisquare(r: Any, c: Any) -> float:
    keys = keys_of(r, c)
    rc, cc = Counter(list(r)), Counter(list(c))
    n, m = len(r), len(c)
    f_obs = np.array([cc.get(k, 0) for k in keys], dtype=float)
    f_exp = np.array([rc.get(k, 0) * (m / n) for k in keys])
    if (f_exp == 0).any():
        return 0.0  # a key new in current: infinite statistic
    with quiet():
        return float(stats.chisquare(f_obs, f_exp).pvalue)


def spec_chisquare_two_sample(r: Any, c: Any) -> float:
    """Plain 2 x K homogeneity test, no pooling, no Yates."""
    keys = keys_of(r, c)
    rc, cc = Counter(list(r)), Counter(list(c))
    table = np.array([[cc.get(k, 0) for k in keys], [rc.get(k, 0) for k in keys]])
    if len(keys) < 2:
        return 1.0
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def spec_z(r: Any, c: Any, *, survival: bool = False) -> float:
    r, c = list(r), list(c)
    if len(set(r)) == 1 and len(set(c)) == 1 and r[0] == c[0]:
        return 1.0
    zero = sorted(keys_of(r, c))[0]
    n1, n2 = len(r), len(c)
    p1 = sum(1 for x in r if x != zero) / n1
    p2 = sum(1 for x in c if x != zero) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if survival:
        return float(2 * stats.norm.sf(abs(z)))
    return float(2 * (1 - stats.norm.cdf(abs(z))))


def spec_wasserstein(r: Any, c: Any) -> float:
    return float(stats.wasserstein_distance(r, c) / max(float(np.std(r)), 0.001))


def spec_jensenshannon(r: Any, c: Any, *, numerical: bool) -> float:
    rp, cp = spec_binned(r, c, numerical=numerical, smoothing=False)
    return float(distance.jensenshannon(rp, cp))


def spec_psi(r: Any, c: Any, *, numerical: bool) -> float:
    rp, cp = spec_binned(r, c, numerical=numerical, smoothing=True)
    return float(np.sum((rp - cp) * np.log(rp / cp)))


def spec_kl_div(r: Any, c: Any, *, numerical: bool) -> float:
    rp, cp = spec_binned(r, c, numerical=numerical, smoothing=True)
    return float(stats.entropy(rp, cp))


def spec_hellinger(r: Any, c: Any, *, numerical: bool) -> float:
    if not numerical:
        keys = keys_of(r, c)
        rc, cc = Counter(list(r)), Counter(list(c))
        bc = sum(math.sqrt(rc.get(k, 0) / len(r) * cc.get(k, 0) / len(c)) for k in keys)
    else:
        edges = np.histogram_bin_edges(np.array(keys_of(r, c), dtype=float), bins="sturges")
        h1 = np.histogram(r, edges, density=True)[0]
        h2 = np.histogram(c, edges, density=True)[0]
        width = (edges.max() - edges.min()) / (len(edges) - 1)
        bc = sum(math.sqrt(a * b) * width for a, b in zip(h1, h2, strict=True))
    return math.sqrt(1 - min(max(bc, 0.0), 1.0))


def spec_anderson(r: Any, c: Any) -> float:
    with quiet():
        return float(stats.anderson_ksamp([r, c], variant="midrank").pvalue)


def spec_cramer_von_mises(r: Any, c: Any) -> float:
    return float(stats.cramervonmises_2samp(r, c).pvalue)


def spec_mannw(r: Any, c: Any, alternative: str = "less") -> float:
    return float(stats.mannwhitneyu(r, c, alternative=alternative).pvalue)


def spec_ed(r: Any, c: Any) -> float:
    return float(stats.energy_distance(r, c))


def spec_es(r: Any, c: Any) -> float:
    return float(stats.epps_singleton_2samp(r, c).pvalue)


def spec_t_test(r: Any, c: Any) -> float:
    with quiet():
        return float(stats.ttest_ind(r, c).pvalue)


def spec_g_test(r: Any, c: Any) -> float:
    keys = keys_of(r, c)
    rc, cc = Counter(list(r)), Counter(list(c))
    f_obs = [cc.get(k, 0) for k in keys]
    f_exp = [rc.get(k, 0) for k in keys]
    with quiet():
        return float(stats.power_divergence(f_obs, f_exp, lambda_="log-likelihood").pvalue)


def spec_fisher_exact(r: Any, c: Any) -> float:
    r, c = list(r), list(c)
    categories = set(list(dict.fromkeys(r)) + list(dict.fromkeys(c)))
    if len(categories) != 2:
        categories.add("placeholder")
    zero = next(iter(categories))
    zeros_r = sum(1 for x in r if x == zero)
    zeros_c = sum(1 for x in c if x == zero)
    table = [[len(c) - zeros_c, zeros_c], [len(r) - zeros_r, zeros_r]]
    return float(stats.fisher_exact(table).pvalue)


def _tvd_statistic(r: list[Any], c: list[Any]) -> float:
    keys = list(set(dict.fromkeys(r)) | set(dict.fromkeys(c)))
    rc, cc = Counter(r), Counter(c)
    ref = np.array([rc.get(k, 0) for k in keys], dtype=np.int64)
    cur = np.array([cc.get(k, 0) for k in keys], dtype=np.int64)
    return float(0.5 * np.sum(np.abs(ref / ref.sum() - cur / cur.sum())))


def spec_tvd(r: Any, c: Any) -> float:
    """Spec §4 TVD, literally: np.random.seed(0), 1000 draws without replacement
    of n values from the pooled list (reference then current) as the new
    reference, the rest as the new current; p = share >= observed."""
    r, c = list(r), list(c)
    observed = _tvd_statistic(r, c)
    pooled = r + c
    state = np.random.get_state()
    try:
        np.random.seed(0)
        stats_ = []
        for _ in range(1000):
            new_ref = np.random.choice(pooled, len(r), replace=False).tolist()
            new_cur = list((Counter(pooled) - Counter(new_ref)).elements())
            stats_.append(_tvd_statistic(new_ref, new_cur))
    finally:
        np.random.set_state(state)
    return float(np.mean(observed <= np.abs(np.array(stats_))))


def spec_empirical_mmd(r: Any, c: Any, seed: int) -> tuple[float, float]:
    """Spec §4 empirical MMD with the permutations of ``np.random.seed(seed)``.
    Returns (p-value, observed MMD^2)."""
    x = np.asarray(r, dtype=float)
    y = np.asarray(c, dtype=float)
    n, m = x.size, y.size
    dxx = (x[:, None] - x[None, :]) ** 2
    med = np.percentile(dxx.ravel(), 50, method="nearest")
    sigma = math.sqrt(0.5 * med) or math.sqrt(0.5)
    gamma = 1 / (2 * sigma**2)
    z = np.concatenate([x, y])
    kernel = np.exp(-gamma * (z[:, None] - z[None, :]) ** 2)
    np.fill_diagonal(kernel, 0.0)

    def mmd2(k: Any) -> float:
        return float(
            k[:n, :n].sum() / (n * (n - 1)) + k[n:, n:].sum() / (m * (m - 1)) - 2 * k[n:, :n].mean()
        )

    observed = mmd2(kernel)
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        perms = [np.random.permutation(n + m) for _ in range(100)]
    finally:
        np.random.set_state(state)
    permuted = np.array([mmd2(kernel[idx][:, idx]) for idx in perms])
    return float(np.mean(observed <= permuted)), observed


def spec_text_auc(r: Any, c: Any) -> tuple[float, Any]:
    """Domain classifier AUC and the held-out labels (spec §4 text tests)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline

    texts = list(r) + list(c)
    target = [0] * len(r) + [1] * len(c)
    x_train, x_test, y_train, y_test = train_test_split(
        texts, target, test_size=0.5, random_state=42, shuffle=True
    )
    pipe = Pipeline(
        [
            ("v", TfidfVectorizer(sublinear_tf=True, max_df=0.5, stop_words="english")),
            (
                "c",
                SGDClassifier(
                    alpha=0.0001,
                    max_iter=50,
                    penalty="l1",
                    loss="modified_huber",
                    random_state=42,
                ),
            ),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(x_train, y_train)
    return float(roc_auc_score(y_test, pipe.predict_proba(x_test)[:, 1])), np.array(y_test)


def spec_random_auc_percentile(y_test: Any, threshold: float) -> float:
    from sklearn.metrics import roc_auc_score

    rs = np.random.RandomState(42)
    seeds = rs.randint(0, 10000, size=1000)
    aucs = [roc_auc_score(y_test, np.random.RandomState(s).rand(len(y_test))) for s in seeds]
    return float(np.percentile(aucs, 100 * (1 - (1 - threshold))))


# ---------------------------------------------------------------------------
# Seeded cases (spec §7)


@dataclass
class Case:
    name: str
    kind: str  # "num" or "cat"
    ref: Any
    cur: Any
    tags: set[str] = field(default_factory=set)


def numerical_cases() -> list[Case]:
    rng = np.random.default_rng(20240607)
    out: list[Case] = []
    for size in (500, 20_000):
        out += [
            Case(f"normal-nodrift-{size}", "num", rng.normal(size=size), rng.normal(size=size)),
            Case(
                f"normal-drift-{size}",
                "num",
                rng.normal(size=size),
                rng.normal(0.3, 1.2, size=size),
            ),
            Case(
                f"float-2-values-{size}",
                "num",
                rng.integers(0, 2, size).astype(float),
                (rng.random(size) < 0.55).astype(float),
                {"lowcard", "binary"},
            ),
            Case(
                f"float-4-values-{size}",
                "num",
                rng.integers(0, 4, size).astype(float),
                rng.choice(4, size, p=[0.4, 0.3, 0.2, 0.1]).astype(float),
                {"lowcard"},
            ),
            Case(
                f"ints-poisson-{size}",
                "num",
                rng.poisson(3, size).astype(float),
                rng.poisson(3.2, size).astype(float),
            ),
        ]
    out += [
        # 20,000 rows with 806 non-null reference values: the small-sample branch
        Case("nulls-806-of-20000", "num", rng.normal(size=806), rng.normal(0.05, size=19_000)),
        Case("nulls-3000-vs-1200", "num", rng.exponential(size=3000), rng.exponential(size=1200)),
        Case("small-15-18", "num", rng.normal(size=15), rng.normal(0.8, size=18)),
        Case("small-9-7", "num", rng.normal(size=9), rng.normal(size=7)),
        Case("small-20-20", "num", rng.normal(size=20), rng.normal(1.0, size=20)),
        Case(
            "exactly-21-distinct",
            "num",
            np.repeat(np.arange(21.0), 30),
            rng.integers(0, 25, 600) * 1.0,
        ),
        Case(
            "exactly-20-distinct",
            "num",
            np.repeat(np.arange(20.0), 30),
            rng.integers(0, 25, 600) * 1.0,
        ),
        Case("offset-1e6", "num", 1e6 + rng.normal(size=700), 1e6 + rng.normal(size=900)),
        Case("constant-std", "num", np.full(300, 2.5), rng.normal(2.5, 0.01, 300)),
        Case(
            "asymptotic-1000-vs-60000",
            "num",
            rng.normal(size=1000),
            rng.normal(0.02, size=60_000),
            {"large"},
        ),
        Case(
            "asymptotic-20000-vs-30000",
            "num",
            rng.lognormal(size=20_000),
            rng.lognormal(0.01, size=30_000),
            {"large"},
        ),
    ]
    return out


def categorical_cases() -> list[Case]:
    rng = np.random.default_rng(7)
    letters = np.array(list("abcd"), dtype=object)
    zipf = np.array([f"k{i:02d}" for i in range(40)], dtype=object)
    pz = 1 / np.arange(1, 41)
    pz /= pz.sum()
    out: list[Case] = []
    for size in (500, 20_000):
        out += [
            Case(
                f"cat4-nodrift-{size}", "cat", rng.choice(letters, size), rng.choice(letters, size)
            ),
            Case(
                f"cat4-drift-{size}",
                "cat",
                rng.choice(letters, size),
                rng.choice(letters, size, p=[0.4, 0.3, 0.2, 0.1]),
            ),
        ]
    out += [
        Case(
            "new-category",
            "cat",
            rng.choice(letters, 500),
            np.concatenate([rng.choice(letters, 480), np.array(["zz"] * 20, dtype=object)]),
        ),
        Case("vanished-category", "cat", rng.choice(letters, 600), rng.choice(letters[:3], 450)),
        Case("zipf40-500", "cat", rng.choice(zipf, 500, p=pz), rng.choice(zipf, 500, p=pz)),
        Case(
            "zipf40-2000-vs-700", "cat", rng.choice(zipf, 2000, p=pz), rng.choice(zipf, 700, p=pz)
        ),
        Case("bool-500", "cat", rng.random(500) < 0.3, rng.random(450) < 0.36, {"binary"}),
        Case(
            "bool-equal-300",
            "cat",
            rng.random(300) < 0.5,
            rng.random(300) < 0.6,
            {"binary", "equal"},
        ),
        Case(
            "bool-single-value",
            "cat",
            np.ones(200, dtype=bool),
            np.ones(200, dtype=bool),
            {"binary", "equal"},
        ),
        Case("ints-as-categories", "cat", rng.integers(0, 7, 700), rng.integers(0, 8, 650)),
        Case(
            "binary-strings-equal",
            "cat",
            rng.choice(np.array(["yes", "no"], dtype=object), 400),
            rng.choice(np.array(["yes", "no"], dtype=object), 400, p=[0.6, 0.4]),
            {"binary", "equal"},
        ),
        Case(
            "one-vs-other-value-equal",
            "cat",
            np.array(["x"] * 50, dtype=object),
            np.array(["y"] * 50, dtype=object),
            {"binary", "equal"},
        ),
        Case(
            "cat3-equal",
            "cat",
            rng.choice(letters[:3], 500),
            rng.choice(letters[:3], 500, p=[0.3, 0.3, 0.4]),
            {"equal"},
        ),
    ]
    return out
