"""Survival function of the two-sided one-sample Kolmogorov-Smirnov statistic.

:func:`kolmogorov_sf` gives ``P(D_n >= d)``, where ``D_n = sup |F_n - F|`` for
``n`` independent draws from a continuous ``F``, without importing
``scipy.stats`` (which costs some 48 MiB of resident memory); it only uses
NumPy and ``scipy.special``. It reproduces ``scipy.stats.kstwo.sf(d, n)``
(SciPy 1.17), which the two-sample K-S test of SciPy and Evidently uses for
its asymptotic p-value: no computation of this distribution is accurate
everywhere, so SciPy follows the plan of Simard & L'Ecuyer (2011), a different
method per region of ``(n, d)``, and the same method with the same cut-offs
is used here in each region. With ``t = n d`` and ``s = n d^2``:

==========================================  =====================================
region                                      ``P(D_n >= d)``
==========================================  =====================================
``d <= 1/(2n)``                             1
``d >= 1``                                  0
``1/(2n) < d <= 1/n`` (``t <= 1``)          ``1 - n!/n^n (2t - 1)^n`` (exact,
                                            Ruben & Gambino)
``d >= 1 - 1/n`` (``t >= n - 1``)           ``2 (1 - d)^n`` (exact, same)
``d >= 1/2``                                ``2 smirnov(n, d)``: the two one-sided
                                            events are disjoint, so this is exact
``n <= 140``, ``s <= 0.754693``             Durbin's matrix (1968) with the
                                            scaling of Marsaglia, Tsang & Wang
                                            (2003); exact
``n <= 140``, ``0.754693 < s <= 4``         Pomeranz's recursion (1974); exact:
                                            taken from ``scipy.stats`` (**)
``n <= 140``, ``s > 4``                     ``2 smirnov(n, d)`` (Miller's
                                            approximation: ignores both
                                            one-sided statistics reaching d)
``n > 140``, ``s >= 370``                   0
``n > 140``, ``2.2 <= s < 370``             ``2 smirnov(n, d)``
``n > 140``, ``s < 2.2``, ``n <= 100000``   ``1 -`` Durbin's matrix (*)
and ``n d^{3/2} <= 1.4``
``n > 140``, ``s < 2.2``, otherwise         ``1 -`` the Pelz & Good (1976)
                                            asymptotic series
==========================================  =====================================

``smirnov(n, d)`` is the one-sided survival function ``P(D_n^+ >= d)`` of
``scipy.special``.

(*) One exception: SciPy's evaluation of Durbin's matrix overflows for ``n``
above ~16,000 and ``d sqrt(n)`` below ~0.14, where ``P(D_n < d)`` is below
1e-28, and returns 0 where the value is 1 (two large, nearly identical samples
get a p-value of 0). :func:`_durbin_cdf` follows SciPy's magnitudes to detect
this; with ``scipy_overflow=True`` (preset ``evidently``, which must report
what Evidently reports) the result is then taken from ``scipy.stats.kstwo``
itself (imported then), with ``scipy_overflow=False`` (preset ``default``) it
is the true value. The
automatic test choice of the drift engine (``ks`` for at most 1,000 reference
values) never gets there: ``n`` is then at most 1,000.

(**) Also taken from ``scipy.stats.kstwo`` (imported then): here the result
is ``1 - P(D_n < d)`` with ``P(D_n < d)`` close to 1, so rounding errors of the
distribution function are amplified up to ~1,500 times, and SciPy's own value
differs from the exact one (computed with 60-digit arithmetic) by up to 6e-12
relative: only the same floating-point operations in the same order would
give its value to 1e-12, and that would be SciPy's code again. The drift
engine reaches this region only when a K-S reference has at most ~140 values
against a current window of more than 10,000.

The regions are tested in the order of the table, on the same floating-point
``t = n*d``, ``s = t*d`` and ``n*d**1.5`` (the last by NumPy's ``power``, as
SciPy computes it), so a point on a boundary falls on the same side as in SciPy.
Elsewhere the amplification of rounding errors is at most ~40 (Pelz-Good) or
~2 (Durbin), and an independent evaluation of the same formula agrees with
SciPy to 2e-14 relative (tested).

References: Simard R, L'Ecuyer P (2011), "Computing the Two-Sided
Kolmogorov-Smirnov Distribution", Journal of Statistical Software 39(11);
Durbin J (1968), Annals of Mathematical Statistics 39, 398-411; Marsaglia G,
Tsang WW, Wang J (2003), "Evaluating Kolmogorov's Distribution", Journal of
Statistical Software 8(18); Pomeranz J (1974), "Exact Cumulative Distribution
of the Kolmogorov-Smirnov Statistic for Small Samples (Algorithm 487)",
Communications of the ACM 17(12); Pelz W, Good IJ (1976), "Approximating the
Lower Tail-areas of the Kolmogorov-Smirnov One-sample Statistic", Journal of
the Royal Statistical Society B 38(2), 152-156; Ruben H, Gambino J (1982), as
cited by Simard & L'Ecuyer.

>>> round(kolmogorov_sf(0.1, 100), 6)
0.252693
>>> kolmogorov_sf(0.004, 100), kolmogorov_sf(1.0, 100)
(1.0, 0.0)
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

#: ``n`` up to which the exact methods (Durbin, Pomeranz) cover ``s <= 4``
SMALL_N = 140
#: ``s = n d^2`` up to which Durbin's matrix is used when ``n <= SMALL_N``
DURBIN_MAX_S = 0.754693
#: ``s`` up to which Pomeranz's recursion (SciPy's) is used when ``n <= SMALL_N``
POMERANZ_MAX_S = 4.0
#: for ``n > SMALL_N``: ``s`` from which the survival function is 0
ZERO_FROM_S = 370.0
#: for ``n > SMALL_N``: ``s`` from which ``2 smirnov(n, d)`` is used
SMIRNOV_FROM_S = 2.2
#: for ``n > SMALL_N`` and ``s`` below :data:`SMIRNOV_FROM_S`: Durbin's matrix
#: while ``n <= DURBIN_MAX_N`` and ``n d^{3/2} <= DURBIN_MAX_ND32``, else Pelz-Good
DURBIN_MAX_N = 100_000
DURBIN_MAX_ND32 = 1.4

FloatVector = npt.NDArray[np.float64]

#: SciPy rescales Durbin's matrix powers by 2**-128 when their centre cell
#: exceeds 2**128; the magnitudes that result decide where its evaluation
#: overflows (see :func:`_durbin_cdf`).
_SCALE_BITS = 128


def kolmogorov_sf(d: float, n: int, *, scipy_overflow: bool = True) -> float:
    """``P(D_n >= d)`` for the two-sided one-sample K-S statistic ``D_n``;
    equals ``scipy.stats.kstwo.sf(d, n)``. NaN for NaN ``d`` and for ``n``
    below 1 or not a whole number.

    ``scipy_overflow``: where SciPy's evaluation of Durbin's matrix overflows
    (see the module docstring), give SciPy's value (0: what Evidently reports)
    rather than the true one (1 to double precision).

    >>> kolmogorov_sf(0.5, 1)
    1.0
    >>> kolmogorov_sf(0.75, 1)
    0.5
    """
    size = float(n)
    d = float(d)
    if not size >= 1 or not size.is_integer() or math.isnan(d):
        return math.nan
    n = int(size)
    if d <= 0.5 / n:
        return 1.0
    if d >= 1.0:
        return 0.0
    t = n * d
    if t <= 0.5:  # d just above 1/(2n), n d rounded down to 1/2
        return 1.0
    if t <= 1.0:
        return _clip(1.0 - _lower_tail_exact(n, t))
    if t >= n - 1:
        return _clip(2.0 * (1.0 - d) ** n)
    if d >= 0.5:
        return _twice_smirnov(n, d)
    s = t * d
    if n <= SMALL_N:
        if s <= DURBIN_MAX_S:
            return _durbin_sf(n, d, scipy_overflow)
        if s <= POMERANZ_MAX_S:
            return _from_scipy(n, d)
        return _twice_smirnov(n, d)
    if s >= ZERO_FROM_S:
        return 0.0
    if s >= SMIRNOV_FROM_S:
        return _twice_smirnov(n, d)
    # d**1.5 as NumPy's power ufunc computes it (SciPy's test; it can differ
    # from the C library's ``pow`` in the last bit, which moves the boundary)
    if n <= DURBIN_MAX_N and n * float(np.power(np.asarray(d), 1.5)) <= DURBIN_MAX_ND32:
        return _durbin_sf(n, d, scipy_overflow)
    return _clip(1.0 - _pelz_good_cdf(n, d))


def _clip(p: float) -> float:
    return min(max(p, 0.0), 1.0)


def _twice_smirnov(n: int, d: float) -> float:
    from scipy.special import smirnov  # imported when needed: keeps this module light

    return _clip(2.0 * float(smirnov(n, d)))


def _durbin_sf(n: int, d: float, scipy_overflow: bool) -> float:
    cdf = _durbin_cdf(n, d, track_scipy=scipy_overflow)
    if cdf is None:
        # SciPy's own evaluation overflows here (see _durbin_cdf); its result
        # is an artefact of that, so only SciPy can reproduce it
        return _from_scipy(n, d)
    return _clip(1.0 - cdf)


def _from_scipy(n: int, d: float) -> float:
    """``scipy.stats.kstwo.sf(d, n)`` itself, for the regions listed in the module
    docstring (importing ``scipy.stats`` then)."""
    from scipy.stats import kstwo

    return float(kstwo.sf(d, n))


def _factorial_over_power(n: int) -> tuple[float, int]:
    """``n! / n^n`` as ``(mantissa, exponent)`` (value ``mantissa * 2**exponent``):
    the product of ``i / n``, each factor split by ``frexp`` so that no partial
    product under- or overflows."""
    mantissas, exponents = np.frexp(np.arange(1, n + 1, dtype=np.float64) / n)
    mantissa, exponent = 1.0, int(exponents.sum())
    for start in range(0, n, 256):  # a product of 256 factors in [1/2, 1) stays normal
        mantissa *= float(np.prod(mantissas[start : start + 256]))
        mantissa, extra = math.frexp(mantissa)
        exponent += extra
    return mantissa, exponent


def _lower_tail_exact(n: int, t: float) -> float:
    """``P(D_n < d) = n!/n^n (2t - 1)^n`` for ``1/2 < t = n d <= 1``."""
    base = 2.0 * t - 1.0
    if n == 1:
        return base
    if n > SMALL_N:
        # below 141!/141^141 < 1e-59: 1 - P is 1 in double precision however P
        # is rounded, so logarithms suffice
        return math.exp(math.lgamma(n + 1) - n * math.log(n) + n * math.log(base))
    mantissa, exponent = _factorial_over_power(n)
    return math.ldexp(mantissa * base**n, exponent)


# -- Durbin's matrix -------------------------------------------------------------------


def _durbin_cdf(n: int, d: float, *, track_scipy: bool = True) -> float | None:
    """``P(D_n < d)`` by Durbin's matrix, or None where SciPy's evaluation of
    it overflows (see below).

    With ``n d = k - h`` (``k`` integer, ``0 <= h < 1``) and the
    ``(2k-1) x (2k-1)`` matrix ``H`` of Durbin (1968), ``P = n!/n^n (H^n)[k, k]``.
    ``H^n`` is formed by repeated squaring, each product renormalised by a
    power of two (exact) so that nothing overflows, the device of Marsaglia,
    Tsang & Wang.

    SciPy 1.17 renormalises ``H^(2^i)`` only by ``2**-128`` and only when its
    centre cell exceeds ``2**128``, and never the running product. When the
    centre cell is many orders below the largest cell (``P`` below 1e-28,
    ``d sqrt(n)`` below ~0.14, ``n`` above ~16,000 in our scans) its matrices
    then overflow and it returns 0 where the value is 1. Those magnitudes are
    followed here alongside (``held``: base-2 exponent of the factor SciPy has
    divided out); where SciPy would come within a factor 2 of overflow, or so
    close to its rescaling threshold that its choice cannot be told, None is
    returned and the caller asks SciPy itself.
    """
    nd = n * d
    k = math.ceil(nd)
    h = k - nd
    m = 2 * k - 1
    # 1/j!, correctly rounded (171! exceeds the largest double: 1/j! is then negligible)
    inverse_factorials = np.array(
        [1.0 / math.factorial(j) if j <= 170 else 0.0 for j in range(m + 1)]
    )
    offsets = np.arange(m)[:, None] - np.arange(m)[None, :] + 1
    matrix = np.where(offsets >= 0, inverse_factorials[np.clip(offsets, 0, m)], 0.0)
    # first column and last row: (1 - h^j) / j!, and the corner
    steps = np.arange(1, m + 1)
    edge = (1.0 - h ** steps.astype(np.float64)) * inverse_factorials[steps]
    matrix[:, 0] = edge
    matrix[m - 1, :] = edge[::-1]
    corner = 1.0 - 2.0 * h**m + (max(2.0 * h - 1.0, 0.0) ** m)
    matrix[m - 1, 0] = corner * inverse_factorials[m]

    centre = k - 1
    # square = H^(2^i) / 2**square_exp; SciPy holds H^(2^i) / 2**square_held
    square, square_exp = _normalised(matrix)
    square_held = 0
    product: FloatVector | None = None  # H^(bits so far) / 2**product_exp
    product_exp = 0
    product_held = 0
    bits = n
    while True:
        if bits & 1:
            if product is None:
                product, product_exp = square, square_exp
            else:
                product, extra = _normalised(product @ square)
                product_exp += square_exp + extra
            product_held += square_held
            if track_scipy and (
                _log2_largest(product) + product_exp - product_held >= _OVERFLOW_LOG2
            ):
                return None
        bits >>= 1
        if not bits:
            break
        square, extra = _normalised(square @ square)
        square_exp = 2 * square_exp + extra
        square_held *= 2
        if track_scipy and (_log2_largest(square) + square_exp - square_held >= _OVERFLOW_LOG2):
            return None
        centre_log2 = _log2(float(square[centre, centre])) + square_exp - square_held
        if track_scipy and abs(centre_log2 - _SCALE_BITS) < 1e-6:
            return None  # too close to SciPy's rescaling threshold to tell its choice
        if centre_log2 > _SCALE_BITS:
            square_held += _SCALE_BITS
    assert product is not None
    mantissa, factor_exponent = _factorial_over_power(n)
    value = float(product[centre, centre]) * mantissa
    return math.ldexp(value, product_exp + factor_exponent)


#: base-2 logarithm of the largest double, less one for rounding margin
_OVERFLOW_LOG2 = 1023.0


def _log2(x: float) -> float:
    return math.log2(x) if x > 0.0 else -math.inf


def _log2_largest(matrix: FloatVector) -> float:
    return _log2(float(matrix.max()))


def _normalised(matrix: FloatVector) -> tuple[FloatVector, int]:
    """``matrix / 2**e`` and ``e``, with ``e`` bringing the largest entry
    into [1/2, 1) (the entries are non-negative; a power of two scales exactly)."""
    largest = float(matrix.max())
    if largest <= 0.0 or not math.isfinite(largest):
        return matrix, 0
    _, e = math.frexp(largest)
    return matrix * math.ldexp(1.0, -e), e


# -- Pelz-Good ----------------------------------------------------------------------


def _pelz_good_cdf(n: int, d: float) -> float:
    """``P(D_n <= d) ~ K0(z) + K1(z)/n^{1/2} + K2(z)/n + K3(z)/n^{3/2}``, ``z = d sqrt(n)``
    (Pelz & Good 1976, in the form given by Simard & L'Ecuyer 2011).

    With ``u = (k + 1/2)^2`` over ``k >= 0`` and ``e_u = exp(-pi^2 u / (2 z^2))``,
    ``v = k^2`` over ``k >= 1`` and ``e_v = exp(-pi^2 v / (2 z^2))``:

    - ``K0 = sqrt(2 pi)/z sum e_u``
    - ``K1 = sqrt(pi/2)/(3 z^4) sum (pi^2 u - z^2) e_u``
    - ``K2 = sqrt(pi/2)/(36 z^7) sum (6 z^6 + 2 z^4 + pi^2 (2 z^4 - 5 z^2) u
      + pi^4 (1 - 2 z^2) u^2) e_u - sqrt(pi/2) pi^2/(18 z^3) sum v e_v``
    - ``K3 = sqrt(pi/2)/(3240 z^10) sum (pi^6 (5 - 30 z^2) u^3 + pi^4 (212 z^4
      - 60 z^2) u^2 + pi^2 (135 z^4 - 96 z^6) u - 30 z^6 - 90 z^8) e_u
      + sqrt(pi/2) pi^2/(108 z^6) sum (3 z^2 - pi^2 v) v e_v``
    """
    z = math.sqrt(n) * d
    z2 = z * z
    lead = math.pi**2 / (8.0 * z2)  # -log of the largest e_u
    if lead > 708.0:  # e_u underflows: the distribution function is 0 to double precision
        return 0.0
    pi2 = math.pi**2
    # terms until e_u / e_{1/4} < e^{-60}: (2k+1)^2 - 1 > 60 / lead
    count = math.ceil((math.sqrt(1.0 + 60.0 / lead) + 1.0) / 2.0) + 1
    k = np.arange(count, dtype=np.float64)
    u = (k + 0.5) ** 2
    e_u = np.exp(-pi2 * u / (2.0 * z2))
    v = (k + 1.0) ** 2
    e_v = np.exp(-pi2 * v / (2.0 * z2))
    z4, z6, z8 = z2 * z2, z2 * z2 * z2, z2 * z2 * z2 * z2
    root = math.sqrt(math.pi / 2.0)
    k0 = 2.0 * root / z * float(e_u.sum())
    k1 = root / (3.0 * z4) * float(((pi2 * u - z2) * e_u).sum())
    poly2 = 6 * z6 + 2 * z4 + pi2 * (2 * z4 - 5 * z2) * u + pi2**2 * (1 - 2 * z2) * u**2
    k2 = root / (36.0 * z**7) * float((poly2 * e_u).sum())
    k2 -= root * pi2 / (18.0 * z2 * z) * float((v * e_v).sum())
    poly3 = (
        pi2**3 * (5 - 30 * z2) * u**3
        + pi2**2 * (212 * z4 - 60 * z2) * u**2
        + pi2 * (135 * z4 - 96 * z6) * u
        - 30 * z6
        - 90 * z8
    )
    k3 = root / (3240.0 * z**10) * float((poly3 * e_u).sum())
    k3 += root * pi2 / (108.0 * z6) * float(((3 * z2 - pi2 * v) * v * e_v).sum())
    rn = math.sqrt(n)
    return k0 + k1 / rn + k2 / n + k3 / (n * rn)
