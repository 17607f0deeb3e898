"""Distances between two sets of feature vectors [N, D]: the Fréchet distance (FID when the features are the FID
Inception network's pool3) and the kernel distance (KID), in float64, whatever network made the features.

**Fréchet distance** between Gaussians fitted to the sets (mean, covariance with ``ddof=1``, as pytorch-fid):
``|mu_a - mu_b|^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a S_b)^1/2)``. The matrix square root follows pytorch-fid's
``calculate_frechet_distance``: `scipy.linalg.sqrtm` of ``S_a S_b``; when that is not finite (a singular product,
as with fewer samples than dimensions), ``eps * I`` is added to both covariances and the root taken again; an
imaginary part left by round-off is dropped when it is below 1e-3 on the diagonal (else the eps retry is tried,
and when even that fails, the eigendecomposition route below is used). Without SciPy, the same trace is computed from symmetric eigendecompositions,
``Tr((S_a S_b)^1/2) = sum sqrt(eig(S_a^1/2 S_b S_a^1/2))``, which is exact for covariance matrices and needs no
eps. A set of one sample has a zero covariance (a point mass). Any non-finite feature gives NaN.

**Kernel distance** (Binkowski et al. 2018, "Demystifying MMD GANs"), as torch-fidelity's
``torch_fidelity/metric_kid.py`` computes it (read for this module; its ``mmd2`` comes from the MMD-GAN code): the
cubic polynomial kernel ``k(x, y) = (x . y / D + 1)^3``, the unbiased MMD^2 estimator on `num_subsets` random
subsets of `subset_size` samples from each set (drawn without replacement), reported as the mean and the standard
deviation over subsets. `subset_size` is clipped to the smaller set's size (torch-fidelity refuses instead), so
small evaluation sets still get a value; the protocol records the size used (`kid_subset_size`). The subsets come
from ``numpy.random.default_rng(seed)``, so values are reproducible.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple, Union

import numpy as np

# pytorch-fid's tolerance on the imaginary part of the square root's diagonal (round-off of a real result).
_IMAGINARY_TOLERANCE = 1e-3
KID_DEGREE = 3
KID_COEF0 = 1.0


class FeatureStatistics(NamedTuple):
    """What the Fréchet distance needs of a feature set, cacheable instead of the features: `mean` [D], `cov`
    [D, D] (float64, ``ddof=1``) and the sample `count`."""

    mean: np.ndarray
    cov: np.ndarray
    count: int


class KernelDistance(NamedTuple):
    """KID over subsets: the `mean` MMD^2 estimate and its `std` over subsets (floats)."""

    mean: float
    std: float


def _features(features, name: str) -> np.ndarray:
    array = np.asarray(features)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name}: expected a feature set [N, D] with N >= 1 and D >= 1, got shape "
                         f"{tuple(array.shape)}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name}: expected numeric features, got dtype {array.dtype}")
    return array.astype(np.float64)


def feature_statistics(features) -> FeatureStatistics:
    """`FeatureStatistics` (mean, ``ddof=1`` covariance, count) of a feature set [N, D], in float64."""
    x = _features(features, "feature_statistics")
    cov = np.cov(x, rowvar=False) if len(x) > 1 else np.zeros((x.shape[1], x.shape[1]))
    return FeatureStatistics(x.mean(axis=0), np.atleast_2d(cov), len(x))


def _statistics(value, name: str) -> FeatureStatistics:
    if isinstance(value, FeatureStatistics):
        mean, cov = np.asarray(value.mean, np.float64), np.asarray(value.cov, np.float64)
        if mean.ndim != 1 or cov.shape != (len(mean), len(mean)):
            raise ValueError(f"{name}: FeatureStatistics must hold mean [D] and cov [D, D], got mean shape "
                             f"{tuple(mean.shape)} and cov shape {tuple(cov.shape)}")
        return FeatureStatistics(mean, cov, int(value.count))
    features = _features(value, name)
    if not np.all(np.isfinite(features)):
        # The covariance of a non-finite set is undefined; NaN statistics make the distance NaN below.
        nan = np.full(features.shape[1], math.nan)
        return FeatureStatistics(nan, np.full((len(nan), len(nan)), math.nan), len(features))
    return feature_statistics(features)


def _trace_sqrt_eigh(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    vals, vecs = np.linalg.eigh(cov_a)
    sqrt_a = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    middle = sqrt_a @ cov_b @ sqrt_a
    # Symmetrised against round-off; its eigenvalues are those of S_a S_b, >= 0 up to round-off.
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2.0), 0.0, None)).sum())


def _trace_sqrt_scipy(cov_a: np.ndarray, cov_b: np.ndarray, eps: float, sqrtm) -> float:
    def root(a, b):
        product = sqrtm(a @ b)
        if not np.all(np.isfinite(product)):
            return None
        if np.iscomplexobj(product):
            if not np.allclose(np.diagonal(product).imag, 0.0, atol=_IMAGINARY_TOLERANCE):
                return product  # judged by the caller: retried with eps, then an error
            product = product.real
        return product

    covmean = root(cov_a, cov_b)
    if covmean is None or np.iscomplexobj(covmean):
        offset = np.eye(len(cov_a)) * eps
        covmean = root(cov_a + offset, cov_b + offset)
        if covmean is None:
            raise ValueError(f"frechet_distance: the matrix square root of the covariance product is not finite, "
                             f"even with eps={eps} added to both covariances (expected finite features)")
        if np.iscomplexobj(covmean):
            raise ValueError(f"frechet_distance: the matrix square root has an imaginary part up to "
                             f"{np.max(np.abs(covmean.imag)):.3g} (expected below {_IMAGINARY_TOLERANCE} on its "
                             f"diagonal), even with eps={eps} added to both covariances")
    return float(np.trace(covmean))


def _scipy_sqrtm():
    try:
        from scipy.linalg import sqrtm
    except ImportError:  # SciPy is not a core dependency: the eigendecomposition route computes the same trace
        return None
    return sqrtm


def frechet_distance(a: Union[np.ndarray, FeatureStatistics], b: Union[np.ndarray, FeatureStatistics],
                     eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to feature sets `a` and `b` ([N, D] arrays, or their cached
    `feature_statistics`), in float64; see the module docstring for the square root and its `eps` fallback.
    NaN when either holds a non-finite value."""
    stats_a, stats_b = _statistics(a, "frechet_distance a"), _statistics(b, "frechet_distance b")
    if len(stats_a.mean) != len(stats_b.mean):
        raise ValueError(f"frechet_distance: the feature sets must have the same dimension, got "
                         f"D={len(stats_a.mean)} and D={len(stats_b.mean)}")
    if not all(np.all(np.isfinite(x)) for x in (stats_a.mean, stats_a.cov, stats_b.mean, stats_b.cov)):
        return math.nan
    diff = stats_a.mean - stats_b.mean
    sqrtm = _scipy_sqrtm()
    if sqrtm is None:
        trace_sqrt = _trace_sqrt_eigh(stats_a.cov, stats_b.cov)
    else:
        try:
            with warnings.catch_warnings():
                # SciPy warns that a singular product "might not have a square root": the eps retry handles it.
                warnings.simplefilter("ignore")
                trace_sqrt = _trace_sqrt_scipy(stats_a.cov, stats_b.cov, eps, sqrtm)
        except ValueError:
            # Rank-deficient covariances (far fewer samples than dimensions, as small evaluations have) can defeat
            # sqrtm even with eps; the eigendecomposition route is exact for covariance matrices.
            trace_sqrt = _trace_sqrt_eigh(stats_a.cov, stats_b.cov)
    value = float(diff @ diff + np.trace(stats_a.cov) + np.trace(stats_b.cov) - 2.0 * trace_sqrt)
    # A distance: a negative value is round-off of (near) identical sets.
    return max(value, 0.0)


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID's kernel ``(x . y / D + 1)^3`` between the rows of `x` [M, D] and `y` [K, D] -> [M, K]."""
    return (x @ y.T / x.shape[1] + KID_COEF0) ** KID_DEGREE


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased estimate of MMD^2 under `polynomial_kernel` between two samples of the same size m >= 2:
    ``sum_{i != j} (k(x_i, x_j) + k(y_i, y_j)) / (m (m - 1)) - 2 sum_{i, j} k(x_i, y_j) / m^2``."""
    m = len(x)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(a, b, num_subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> KernelDistance:
    """KID between feature sets `a` [N, D] and `b` [M, D]: mean and std of `mmd2_unbiased` over `num_subsets`
    subsets of ``min(subset_size, N, M)`` samples each (see the module docstring). NaN for both when either set
    holds a non-finite value."""
    x, y = _features(a, "kernel_inception_distance a"), _features(b, "kernel_inception_distance b")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"kernel_inception_distance: the feature sets must have the same dimension, got "
                         f"D={x.shape[1]} and D={y.shape[1]}")
    if isinstance(num_subsets, bool) or not isinstance(num_subsets, (int, np.integer)) or num_subsets < 1:
        raise ValueError(f"kernel_inception_distance: num_subsets must be an integer >= 1, got {num_subsets!r}")
    size = kid_subset_size(len(x), len(y), subset_size)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return KernelDistance(math.nan, math.nan)
    rng = np.random.default_rng(seed)
    values = np.array([mmd2_unbiased(x[rng.choice(len(x), size, replace=False)],
                                     y[rng.choice(len(y), size, replace=False)]) for _ in range(num_subsets)])
    return KernelDistance(float(values.mean()), float(values.std()))


def kid_subset_size(count_a: int, count_b: int, subset_size: int = 1000) -> int:
    """The subset size `kernel_inception_distance` uses for sets of `count_a` and `count_b` samples: `subset_size`
    clipped to the smaller set. The unbiased estimator needs two samples per subset."""
    if isinstance(subset_size, bool) or not isinstance(subset_size, (int, np.integer)) or subset_size < 2:
        raise ValueError(f"kernel_inception_distance: subset_size must be an integer >= 2, got {subset_size!r}")
    size = min(int(subset_size), count_a, count_b)
    if size < 2:
        raise ValueError(f"kernel_inception_distance: each set needs at least 2 samples (the unbiased estimator "
                         f"leaves out the diagonal), got {count_a} and {count_b}")
    return size
