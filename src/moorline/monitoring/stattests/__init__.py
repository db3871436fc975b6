"""Every drift test of the spec (§4), by registry name, in two presets.

``get_stattest(name, preset="evidently")`` returns the test exactly as
Evidently 0.7 computes it, quirks included; ``preset="default"`` returns
moorline's corrected variant where Evidently's is wrong, and the same test
otherwise. The differences (each explained in its module):

- ``chisquare``: goodness of fit against the reference shares, which fires
  on 25-100% of undrifted columns -> two-sample chi-square on the 2 x K
  table (sparse categories pooled, no Yates correction), which holds 5%;
- ``g_test``: goodness of fit that needs n == m -> two-sample G-test on the
  2 x K table (same pooling, Williams' correction);
- ``fisher_exact``: needs n == m and builds its table from set order -> the
  true 2 x 2 table, any sample sizes;
- ``mannw``: one-sided, flags only upward shifts -> two-sided;
- ``z``: ``2 * (1 - Phi(|z|))``, which rounds p < 1e-16 to 0 ->
  ``2 * Phi(-|z|)`` (same verdicts);
- ``empirical_mmd``: unseeded permutations, not reproducible -> ``seed=0``;
- ``ks``: SciPy's exact p-value assumes no ties and is far too large on
  discrete data (1.5% false positives at 5% on Poisson counts) -> the exact
  permutation p-value given the ties (identical without ties).

Both presets give ``cramer_von_mises`` SciPy's exact p-value for samples of
at most 20 values, where Evidently's own copy loses precision (see
:mod:`moorline.monitoring.stattests.rank`).

>>> test = get_stattest("chisquare", preset="default")
>>> test.name, test.rule, test.default_threshold
('chisquare', 'p<t', 0.05)
>>> "wasserstein" in available_stattests()
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from moorline.errors import InvalidArgument
from moorline.monitoring.base import StatTest
from moorline.monitoring.stattests.binning import Binned, binned_proportions, smooth_zeros
from moorline.monitoring.stattests.categorical import (
    FisherExact,
    FisherExactEvidently,
    GTestContingency,
    GTestGoodnessOfFit,
    TotalVariation,
)
from moorline.monitoring.stattests.chisquare import ChiSquareContingency, ChiSquareGoodnessOfFit
from moorline.monitoring.stattests.distances import (
    PSI,
    EnergyDistance,
    Hellinger,
    JensenShannon,
    KLDivergence,
    Wasserstein,
)
from moorline.monitoring.stattests.ks import KolmogorovSmirnov
from moorline.monitoring.stattests.mmd import EmpiricalMMD
from moorline.monitoring.stattests.rank import (
    AndersonDarling,
    CramerVonMises,
    EppsSingleton,
    MannWhitneyU,
    StudentT,
)
from moorline.monitoring.stattests.text import (
    AbsoluteTextContentDrift,
    PercentileTextContentDrift,
)
from moorline.monitoring.stattests.ztest import ZTest

Preset = Literal["evidently", "default"]
PRESETS: tuple[Preset, ...] = ("evidently", "default")

Factory = Callable[..., StatTest]

# name -> (evidently factory, default factory, default options of the default preset)
_REGISTRY: dict[str, tuple[Factory, Factory, dict[str, Any], dict[str, Any]]] = {
    "ks": (
        KolmogorovSmirnov,
        KolmogorovSmirnov,
        {"exact_ties": False},
        {"exact_ties": True, "scipy_overflow": False},
    ),
    "chisquare": (ChiSquareGoodnessOfFit, ChiSquareContingency, {}, {}),
    "z": (ZTest, ZTest, {"survival": False}, {"survival": True}),
    "wasserstein": (Wasserstein, Wasserstein, {}, {}),
    "jensenshannon": (JensenShannon, JensenShannon, {}, {}),
    "psi": (PSI, PSI, {}, {}),
    "kl_div": (KLDivergence, KLDivergence, {}, {}),
    "hellinger": (Hellinger, Hellinger, {}, {}),
    "anderson": (AndersonDarling, AndersonDarling, {}, {}),
    "cramer_von_mises": (CramerVonMises, CramerVonMises, {}, {}),
    "mannw": (MannWhitneyU, MannWhitneyU, {"alternative": "less"}, {"alternative": "two-sided"}),
    "ed": (EnergyDistance, EnergyDistance, {}, {}),
    "es": (EppsSingleton, EppsSingleton, {}, {}),
    "t_test": (StudentT, StudentT, {}, {}),
    "empirical_mmd": (EmpiricalMMD, EmpiricalMMD, {"seed": None}, {"seed": 0}),
    "g_test": (GTestGoodnessOfFit, GTestContingency, {}, {}),
    "fisher_exact": (FisherExactEvidently, FisherExact, {}, {}),
    "TVD": (TotalVariation, TotalVariation, {}, {}),
    "perc_text_content_drift": (PercentileTextContentDrift, PercentileTextContentDrift, {}, {}),
    "abs_text_content_drift": (AbsoluteTextContentDrift, AbsoluteTextContentDrift, {}, {}),
}


def available_stattests() -> tuple[str, ...]:
    """Registry names of every test, in the order of spec §4."""
    return tuple(_REGISTRY)


def get_stattest(name: str, *, preset: Preset = "evidently", **options: Any) -> StatTest:
    """A new instance of the test registered as ``name`` for ``preset``.

    ``options`` go to the test's constructor and override the preset's own
    (e.g. ``get_stattest("empirical_mmd", seed=7)``,
    ``get_stattest("mannw", alternative="two-sided")``).

    >>> get_stattest("mannw", preset="default").alternative
    'two-sided'
    >>> get_stattest("nope")
    Traceback (most recent call last):
    ...
    moorline.errors.InvalidArgument: unknown stat test 'nope'; available: ks, chisquare, ...
    """
    entry = _REGISTRY.get(name)
    if entry is None:
        raise InvalidArgument(f"unknown stat test {name!r}; available: {', '.join(_REGISTRY)}")
    if preset not in PRESETS:
        raise InvalidArgument(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    evidently_factory, default_factory, evidently_options, default_options = entry
    if preset == "evidently":
        factory, preset_options = evidently_factory, evidently_options
    else:
        factory, preset_options = default_factory, default_options
    try:
        return factory(**{**preset_options, **options})
    except TypeError as exc:
        raise InvalidArgument(f"invalid options for stat test {name!r}: {exc}") from exc


__all__ = [
    "PRESETS",
    "PSI",
    "AbsoluteTextContentDrift",
    "AndersonDarling",
    "Binned",
    "ChiSquareContingency",
    "ChiSquareGoodnessOfFit",
    "CramerVonMises",
    "EmpiricalMMD",
    "EnergyDistance",
    "EppsSingleton",
    "FisherExact",
    "FisherExactEvidently",
    "GTestContingency",
    "GTestGoodnessOfFit",
    "Hellinger",
    "JensenShannon",
    "KLDivergence",
    "KolmogorovSmirnov",
    "MannWhitneyU",
    "PercentileTextContentDrift",
    "Preset",
    "StudentT",
    "TotalVariation",
    "Wasserstein",
    "ZTest",
    "available_stattests",
    "binned_proportions",
    "get_stattest",
    "smooth_zeros",
]
