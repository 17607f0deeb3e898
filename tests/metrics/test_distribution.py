"""The Fréchet distance and KID (`i2i_keras.metrics.distribution`) on Gaussians with known distances, against
independent computations, on singular covariances, and the KID estimator's unbiasedness."""

import math

import numpy as np
import pytest
import scipy.linalg

from i2i_keras.metrics import distribution
from i2i_keras.metrics.distribution import FeatureStatistics
from i2i_keras.metrics.distribution import feature_statistics
from i2i_keras.metrics.distribution import frechet_distance
from i2i_keras.metrics.distribution import kernel_inception_distance


@pytest.fixture(params=["scipy", "eigh"])
def route(request, monkeypatch):
    """Both square-root routes: SciPy's sqrtm (pytorch-fid's) and the eigendecomposition used without SciPy."""
    if request.param == "eigh":
        monkeypatch.setattr(distribution, "_scipy_sqrtm", lambda: None)
    return request.param


def _spd(rng, d):
    m = rng.normal(size=(d, d))
    return m @ m.T / d + 0.1 * np.eye(d)


def test_diagonal_gaussians_exact(route):
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([0.5, -1.0, 0.0])
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([0.3, 2.0, 1.5])  # standard deviations
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    got = frechet_distance(FeatureStatistics(mu1, np.diag(s1 ** 2), 100), FeatureStatistics(mu2, np.diag(s2 ** 2), 100))
    assert got == pytest.approx(expected, rel=1e-10)


def test_diagonal_gaussians_from_samples(route):
    rng = np.random.default_rng(0)
    mu1, mu2, s1, s2 = np.zeros(4), np.full(4, 0.5), np.full(4, 1.0), np.full(4, 2.0)
    a = rng.normal(mu1, s1, size=(20000, 4))
    b = rng.normal(mu2, s2, size=(20000, 4))
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)  # 1 + 4 = 5
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.03)


def test_full_covariance_against_independent_square_root(route):
    rng = np.random.default_rng(1)
    d = 6
    mu1, mu2, c1, c2 = rng.normal(size=d), rng.normal(size=d), _spd(rng, d), _spd(rng, d)
    # Tr((C1 C2)^1/2) = Tr((C1^1/2 C2 C1^1/2)^1/2): two real symmetric roots, a different route from both of ours
    root1 = scipy.linalg.sqrtm(c1).real
    expected = (np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2)
                - 2 * np.trace(scipy.linalg.sqrtm(root1 @ c2 @ root1).real))
    got = frechet_distance(FeatureStatistics(mu1, c1, 50), FeatureStatistics(mu2, c2, 50))
    assert got == pytest.approx(expected, rel=1e-8)
    assert got > 0.5  # not a degenerate case


def test_statistics_and_features_agree(route):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(300, 8)), rng.normal(1.0, 1.5, size=(200, 8))
    stats = feature_statistics(a)
    np.testing.assert_allclose(stats.mean, a.mean(axis=0))
    np.testing.assert_allclose(stats.cov, np.cov(a, rowvar=False))  # ddof = 1, as pytorch-fid
    assert stats.count == 300
    assert frechet_distance(stats, b) == pytest.approx(frechet_distance(a, b), rel=1e-12)


def test_identical_sets_are_zero(route):
    a = np.random.default_rng(3).normal(size=(500, 16))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_singular_covariance_stays_finite_and_routes_agree(monkeypatch):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(10, 64)), rng.normal(0.3, 1.0, size=(12, 64))  # N < D: rank-deficient covariances
    with_scipy = frechet_distance(a, b)
    monkeypatch.setattr(distribution, "_scipy_sqrtm", lambda: None)
    with_eigh = frechet_distance(a, b)
    assert math.isfinite(with_scipy) and math.isfinite(with_eigh) and with_eigh > 0
    assert with_scipy == pytest.approx(with_eigh, rel=1e-3)
    # one sample: a point mass (zero covariance)
    assert frechet_distance(a[:1], a[:1]) == 0.0


def test_non_finite_features_give_nan():
    a = np.random.default_rng(5).normal(size=(20, 4))
    bad = a.copy()
    bad[3, 2] = np.inf
    assert math.isnan(frechet_distance(a, bad))
    assert all(math.isnan(v) for v in kernel_inception_distance(bad, a, num_subsets=2))


def test_bad_inputs_name_what_was_received():
    a = np.zeros((5, 4))
    with pytest.raises(ValueError, match="same dimension, got D=4 and D=3"):
        frechet_distance(a, np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"expected a feature set \[N, D\].* got shape \(5,\)"):
        frechet_distance(np.zeros(5), a)
    with pytest.raises(ValueError, match="at least 2 samples .* got 1 and 5"):
        kernel_inception_distance(a[:1], a)
    with pytest.raises(ValueError, match="subset_size must be an integer >= 2, got 1"):
        kernel_inception_distance(a, a, subset_size=1)


# ------------------------------------------------------------------------------------------------ KID


def _mmd2_by_loops(x, y):
    m, d = len(x), x.shape[1]
    k = lambda u, v: (u @ v / d + 1.0) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_a_direct_computation():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(7, 5)), rng.normal(0.5, 1.0, size=(7, 5))
    # one subset of the whole sets (subset_size clipped to 7): the estimator itself
    result = kernel_inception_distance(x, y, num_subsets=1, subset_size=1000)
    assert result.mean == pytest.approx(_mmd2_by_loops(x, y), rel=1e-12) and result.std == 0.0


def test_kid_same_distribution_near_zero_shifted_positive():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(400, 32)), rng.normal(size=(400, 32))
    shifted = rng.normal(0.5, 1.0, size=(400, 32))
    same = kernel_inception_distance(a, b, num_subsets=20, subset_size=200)
    apart = kernel_inception_distance(a, shifted, num_subsets=20, subset_size=200)
    assert abs(same.mean) < 0.02 and apart.mean > 0.2 and apart.mean > 10 * abs(same.mean)
    # reproducible by seed, and the seed matters
    assert kernel_inception_distance(a, shifted, num_subsets=5, subset_size=50, seed=3) == \
        kernel_inception_distance(a, shifted, num_subsets=5, subset_size=50, seed=3)
    assert kernel_inception_distance(a, shifted, num_subsets=5, subset_size=50, seed=3) != \
        kernel_inception_distance(a, shifted, num_subsets=5, subset_size=50, seed=4)


def test_kid_is_unbiased():
    # 1-D, k(x, y) = (xy + 1)^3 = x^3 y^3 + 3 x^2 y^2 + 3 x y + 1, so MMD^2 = (m3_P - m3_Q)^2 + 3 (m2_P - m2_Q)^2
    # + 3 (m1_P - m1_Q)^2 with m_j the raw moments. P = N(0, 1): (0, 1, 0); Q = N(0.5, 1): (0.5, 1.25, 1.625).
    analytic = 1.625 ** 2 + 3 * 0.25 ** 2 + 3 * 0.5 ** 2
    rng = np.random.default_rng(8)
    m, draws = 6, 6000
    values = np.array([kernel_inception_distance(rng.normal(size=(m, 1)), rng.normal(0.5, 1.0, size=(m, 1)),
                                                 num_subsets=1).mean for _ in range(draws)])
    standard_error = values.std() / math.sqrt(draws)
    assert abs(values.mean() - analytic) < 4 * standard_error
    # the biased (V-statistic) estimator would be off by (E k(x, x) - E k(x, x') + same for y) / m, which this
    # test tells apart: E k(x, x) = E (x^2 + 1)^3 = 15 + 3*3 + 3 + 1 = 28 for N(0, 1)
    assert 4 * standard_error < (28 - (0 + 3 + 0 + 1)) / m


def test_few_samples_in_many_dimensions_give_the_exact_distance_without_warnings():
    """64 VGG-sized features (D = 512, N << D): SciPy's sqrtm of the singular product may fail or warn; the result
    must still be the exact value (the eigendecomposition route) and nothing is printed."""
    import warnings

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(16, 512)), rng.normal(size=(16, 512)) + 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = frechet_distance(a, b)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    vals, vecs = np.linalg.eigh(cov_a)
    root = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    middle = root @ cov_b @ root
    trace = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    exact = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace
    assert value == pytest.approx(exact, rel=1e-3)
