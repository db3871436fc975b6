"""Spec §5 binning and zero smoothing, against NumPy's own histogram functions
and the spec's rules written out."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from moorline.monitoring.stattests.binning import (
    MAX_DISTINCT_FOR_VALUE_BINS,
    binned_proportions,
    histogram_counts,
    histogram_counts_sorted,
    smooth_zeros,
    sturges_edges,
)
from tests.monitoring import stattest_support as spec

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(
    a=hnp.arrays(np.float64, st.integers(1, 60), elements=finite),
    b=hnp.arrays(np.float64, st.integers(1, 60), elements=finite),
)
def test_sturges_edges_and_counts_equal_numpy(a: np.ndarray, b: np.ndarray) -> None:
    pooled = np.concatenate([a, b])
    edges = sturges_edges(min(a.min(), b.min()), max(a.max(), b.max()), pooled.size)
    want = np.histogram_bin_edges(pooled, bins="sturges")
    assert edges.dtype == np.float64
    assert np.array_equal(edges, want)
    assert np.array_equal(histogram_counts_sorted(np.sort(a), edges), np.histogram(a, want)[0])
    assert np.array_equal(histogram_counts(b, edges), np.histogram(b, want)[0])


def test_bin_count_follows_sturges_on_the_pooled_size() -> None:
    """ceil(log2(n + m) + 1): 11 bins for 1,000 pooled values, 17 for 40,000."""
    rng = np.random.default_rng(1)
    for n, bins in ((500, 11), (20_000, 17)):
        reference = spec.numerical_reference(rng.normal(size=n))
        binned = binned_proportions(reference, rng.normal(size=n))
        assert binned.edges is not None
        assert binned.edges.size - 1 == bins
        assert binned.keys == ()


def test_values_outside_the_reference_range_widen_the_pooled_edges() -> None:
    rng = np.random.default_rng(2)
    r = rng.normal(size=400)
    c = np.concatenate([rng.normal(size=390), [50.0] * 10])
    binned = binned_proportions(spec.numerical_reference(r), c)
    assert binned.edges is not None
    assert binned.edges[-1] == 50.0
    assert binned.current[-1] == 10 / 400
    assert binned.reference[-1] == 0.0
    assert binned.reference.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("distinct", [MAX_DISTINCT_FOR_VALUE_BINS, MAX_DISTINCT_FOR_VALUE_BINS + 1])
def test_the_branch_depends_on_distinct_reference_values_not_the_union(distinct: int) -> None:
    rng = np.random.default_rng(distinct)
    r = np.repeat(np.arange(float(distinct)), 25)
    c = rng.integers(0, distinct + 15, 500).astype(float)  # the union has more values
    binned = binned_proportions(spec.numerical_reference(r), c)
    want_r, want_c = spec.spec_binned(r, c, numerical=True, smoothing=False)
    if distinct <= MAX_DISTINCT_FOR_VALUE_BINS:
        assert binned.edges is None
        assert len(binned.keys) == len(set(r) | set(c))
        # per-value bins: compare as key -> share (the spec's key order is a set's)
        got = dict(zip(binned.keys, binned.current, strict=True))
        want = dict(zip(spec.keys_of(r, c), want_c, strict=True))
        assert got == want
    else:
        assert binned.edges is not None
        assert np.array_equal(binned.reference, want_r)
        assert np.array_equal(binned.current, want_c)


def test_categorical_bins_give_new_and_vanished_keys_a_zero_share() -> None:
    r = np.array(["a"] * 6 + ["b"] * 3 + ["gone"], dtype=object)
    c = np.array(["a"] * 4 + ["new"] * 4, dtype=object)
    binned = binned_proportions(spec.categorical_reference(r), c)
    shares = {
        k: (float(x), float(y))
        for k, x, y in zip(binned.keys, binned.reference, binned.current, strict=True)
    }
    assert shares == {
        "a": (0.6, 0.5),
        "b": (0.3, 0.0),
        "gone": (0.1, 0.0),
        "new": (0.0, 0.5),
    }
    assert binned.keys[:3] == ("a", "b", "gone")  # reference keys first


def test_smoothing_replaces_zeros_by_a_millionth_of_the_smallest_share_when_it_is_tiny() -> None:
    p = np.array([0.0, 0.00005, 0.99995])
    assert smooth_zeros(p).tolist() == [0.00005 / 1e6, 0.00005, 0.99995]


def test_smoothing_replaces_zeros_by_1e_4_otherwise_and_does_not_renormalise() -> None:
    p = np.array([0.0, 0.5, 0.0, 0.5])
    out = smooth_zeros(p)
    assert out.tolist() == [0.0001, 0.5, 0.0001, 0.5]
    assert out.sum() > 1.0
    assert p.tolist() == [0.0, 0.5, 0.0, 0.5]  # input untouched


def test_smoothing_is_applied_to_each_side_independently() -> None:
    rng = np.random.default_rng(4)
    letters = np.array(list("abcdef"), dtype=object)
    r = np.concatenate([rng.choice(letters[:4], 30_000), ["f"]])  # tiny share of "f", no "e"
    c = np.concatenate([rng.choice(letters[:3], 600), ["e"] * 10])
    binned = binned_proportions(spec.categorical_reference(r), c, smoothing=True)
    want_r, want_c = spec.spec_binned(r, c, numerical=False, smoothing=True)
    got = {k: (x, y) for k, x, y in zip(binned.keys, binned.reference, binned.current, strict=True)}
    want = {k: (x, y) for k, x, y in zip(spec.keys_of(r, c), want_r, want_c, strict=True)}
    assert got == want
    assert got["e"][0] == (1 / 30_001) / 1e6  # reference: smallest share <= 1e-4
    assert got["d"][1] == 0.0001  # current: smallest share 10/610 > 1e-4
