"""Expected entropy of a group after adding one candidate, and the ET-AL acquisition.

ET-AL scores candidate c of the target group by h(L ∪ {Y_c}), the spacing-estimator
entropy (nats, :mod:`etal.entropy`) of the group's labelled values L with the candidate's
unknown value Y_c ~ N(mu_c, sigma_c^2) (the GP posterior) added, through the mean and
standard deviation of that random variable and their expected improvement over the
group's current entropy. The paper estimates the mean and std by Monte Carlo: 1000
posterior draws per candidate, each followed by a full re-estimation of the entropy.
This module computes the same Monte Carlo estimate without re-estimating
(``estimator="mc"``, exact insertion update) or, deterministically, the exact mean and
std to ~1e-5 nats or better (``estimator="quadrature"``), far faster for large pools.

Exact insertion update (:func:`entropy_after_insertion`)
    With n' = n + 1 values the estimator, its window m' = window_length(n') and its
    coefficients are fixed. Inserting y at sorted position k changes only the windowed
    spacings whose window contains k. Of those, only the (at most two) windows with y at
    an *end* depend on y's value: a window ending at y contributes log(y - x_a) and one
    starting at y contributes log(x_b - y); the windows with y strictly inside see the old
    neighbours x[lo], x[hi - 1]. Hence

        h(y) = scale * (const[k] + log(y - x_a[k]) + log(x_b[k] - y)) + offset,

    with const[k] assembled once from prefix sums of the left, middle and right terms
    (the right ones shifted by one index, with the n'-indexed coefficients, e.g.
    Ebrahimi's c_i). Below (k = 0) and above (k = n) the data the padded estimators
    (Vasicek, Ebrahimi) have m' + 1 windows clamped at y, so there the sum has m' + 1
    logs. Van Es (one-sided, unpadded windows) has the same two-term structure. Correa's
    term is the log of a local regression slope: the <= 2m' + 1 windows containing k are
    a linear over a quadratic function of y, with coefficients tabulated per (k, window).
    Cost: one ``searchsorted`` and two logs per value (O(m') for Correa and outside the
    data range), exact to rounding (~1e-14 against a full re-estimate).

Expectation over Y ~ N(mu, sigma^2) (``estimator="quadrature"``)
    h(y) is continuous but has a kink at every labelled value, and between two labelled
    values its bumps are as large as the differences between candidates (O(1/n) nats).
    Plain Gauss-Hermite quadrature on h therefore aliases: with 64-256 nodes its error
    was 1e-4 to 1e-3 nats (n = 5..1500), as large as the signal and as the noise of
    1000-draw Monte Carlo. Instead we use that Gaussian smoothing is a semigroup. Let
    G_s(t) = E[h(t + sZ)] and V_s(t) = Var[h(t + sZ)], tabulated on a ladder of scales
    s_l = s_0 2^(l/4), each on a uniform grid of spacing s_l/8 over the data range
    +- 20 s_l:

    * base level s_0 (the largest ladder scale <= the smallest candidate sigma, and at
      least half the mean spacing of L), computed *exactly*: the line is cut at every
      labelled value (the kinks), at steps of 2 s_0 and at points graded towards any
      (near-)singularity of h (ties make log singularities at labelled values: those
      pieces get the substitution y = end -+ w u^4); h is evaluated once at 8
      Gauss-Legendre points per piece, and every point is spread onto the grid with its
      Gaussian weight (truncated at 7 s_0 and renormalised);
    * level l + 1 from level l: Y = t + tau Z1 + s_l Z2 with tau^2 = s_{l+1}^2 - s_l^2,
      so G_{l+1}(t) = E[G_l(t + tau Z1)] and, by the law of total variance,
      V_{l+1}(t) = E[V_l(t + tau Z1)] + Var[G_l(t + tau Z1)];
    * a candidate with s_l <= sigma < s_{l+1} takes the same step with
      tau = sqrt(sigma^2 - s_l^2).

    G_l and V_l are Gaussian-smoothed at scale s_l >= tau / 0.68, hence analytic on that
    scale: ``n_nodes`` (default 6) Gauss-Hermite nodes integrate them to ~1e-6 of their
    variation, and the 4-point Lagrange interpolation on the s_l/8 grid adds ~1e-5 of it.
    Points more than 12 (total) scales (:data:`FAR_SCALES`) outside the data range see
    a smooth h and use Gauss-Hermite on h directly; candidates with 0 < sigma < s_0 use the exact piecewise
    integral (cost O(labelled values within mu +- 8.5 sigma)); sigma == 0 (or below 1e-9
    of half the mean spacing, or below 1000 float steps of mu) gives h(mu) and std 0.
    The variance is never formed as E[h^2] - E[h]^2 of raw values (no cancellation).

    Accuracy (against exact piecewise integration; ``benchmarks/bench_acquisition.py``
    and the tests measure it): max error of the mean and std <= 1.2e-5 nats for
    n = 4..12 (std up to 0.5 nats), <= 2e-6 for n = 200..1500 and ~2e-7 for n = 2000,
    for every estimator, with and without ties (data rounded to 0.1), sigma from 1e-4
    to 10 data std and mu inside or outside the data. 1000-draw Monte Carlo errs by
    ~3 % of the std (e.g. 3e-3 nats at n = 200).

    Cost: the tables are built once per call, O(n) work (~10 ms for n = 200, ~0.1 s for
    n = 2000); each candidate then costs ``n_nodes`` cubic-table look-ups (~0.3 us).
    Candidates are processed ``chunk_size`` (default 32768) at a time, so memory stays
    ~100 MB for any pool: 1,000,000 candidates with 2,000 labelled values took 0.27 s
    (one core, 109 MB traced). Against the vectorised 1000-draw Monte Carlo below this
    is 1.6x faster for 300 candidates (the table build dominates), 12x for 3,000, 64x
    for 30,000 and ~300x for 1,000,000; against the paper's recipe (re-estimating after
    every draw) 500x already for 300.

Monte Carlo (``estimator="mc"``)
    As the paper: ``n_samples`` draws per candidate from ``numpy.random.default_rng(seed)``
    (candidate-major order, independent of ``chunk_size``), each scored with the exact
    insertion update (no Python loop per draw); the std is the population std (ddof=0,
    ``numpy.std``'s default).

Ties. A zero windowed spacing is replaced by ``resolution`` (default: the smallest
positive gap of L, :func:`etal.entropy.data_resolution`), the same floor for every y.
If all labelled values are equal the resolution is undefined and a
:class:`~etal.errors.ConstantValuesError` asks for an explicit ``resolution``. (Correa
only: a window whose values are all equal gets the floor slope 2m/(n' resolution); the
windows are compared exactly, where :func:`etal.entropy.entropy_of_sorted` tests the
rounded variance, which can be a tiny positive number and give an infinite entropy.)
Because the floor applies only at exact equality, h(y) falls like log|y - v| next to a
value v tied about m' times or more: the expectation integrates that singularity
(graded pieces, see above), so a candidate with a tiny sigma at such a value gets a
very low expected entropy while sigma == 0 gets the floored h(v).
"""

from .deficit import GH_NODES, expected_deficit_after, gauss_hermite_entropy
from .expected import expected_entropy
from .improvement import expected_improvement
from .insertion import (
    DEFAULT_N_NODES,
    DETERMINISTIC_ESTIMATORS,
    ESTIMATORS,
    FAR_SCALES,
    MIN_LABELLED,
    entropy_after_insertion,
)

__all__ = [
    "DEFAULT_N_NODES",
    "DETERMINISTIC_ESTIMATORS",
    "ESTIMATORS",
    "FAR_SCALES",
    "GH_NODES",
    "MIN_LABELLED",
    "entropy_after_insertion",
    "expected_deficit_after",
    "expected_entropy",
    "expected_improvement",
    "gauss_hermite_entropy",
]
