"""
Exponential model of parameter magnitudes, paper eq. (3), fitted to real weights.

The paper models the magnitude theta = |w| of each parameter as Exp(lam), eq. (3), and checks
it on histograms of pretrained checkpoints (Fig. 2). Here lam is the maximum-likelihood
estimate ``lam = 1 / mean|w|`` and the goodness of fit is the Kolmogorov-Smirnov statistic
``sup_x |F_emp(x) - (1 - exp(-lam x))|`` of the magnitudes (0: perfect; a p-value is not
reported: with millions of weights any model is rejected, the statistic is the useful figure).

For tensors with more than ``max_ks_samples`` values the KS statistic is computed on a seeded
random subsample of that size, drawn uniformly with replacement from all pooled magnitudes:
an i.i.d. sample of the empirical distribution, so the statistic estimates the full one to
about ``1 / sqrt(max_ks_samples)`` (0.002 for the default 200 000). ``lam`` and ``mean_abs``
always use every value.

Which parameters: :func:`fit_model` fits the *weights* like the paper. By default those are
the parameters with ``ndim >= 2`` (Linear and Conv weight matrices/kernels, embedding tables),
which excludes biases and LayerNorm/BatchNorm scales and shifts (1-D, of a different nature:
LayerNorm scales sit around 1, not around 0). ``include='all'`` takes every floating-point
parameter; a callable ``include(name, tensor) -> bool`` selects freely.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
import math

import numpy as np
from scipy import stats

from qcoinf_ros.core.theory._arrays import as_float_array, is_tensor
from qcoinf_ros.core.theory.rate_distortion import differential_entropy
from qcoinf_ros.core.validation import require_int_in_range, require_nonnegative, require_positive

__all__ = [
    'ExponentialFit',
    'ModelWeightStats',
    'fit_exponential',
    'fit_model',
    'DEFAULT_MAX_KS_SAMPLES',
]

DEFAULT_MAX_KS_SAMPLES = 200_000


@dataclass(frozen=True)
class ExponentialFit:
    """
    Exp(lam) fit of parameter magnitudes, eq. (3).

    Attributes
    ----------
    lam
        MLE rate ``1 / mean_abs``.
    mean_abs
        mean |w| over all values.
    ks_statistic
        Kolmogorov-Smirnov distance of |w| to Exp(lam), in [0, 1].
    num_params
        number of values fitted.
    name
        what was fitted (a parameter name, 'overall', ...).
    ks_samples
        number of values the KS statistic used (``num_params`` unless subsampled).

    """

    lam: float
    mean_abs: float
    ks_statistic: float
    num_params: int
    name: str = ''
    ks_samples: int | None = None

    def __post_init__(self):
        require_positive('lam', self.lam)
        require_positive('mean_abs', self.mean_abs)
        if not math.isclose(self.lam * self.mean_abs, 1.0, rel_tol=1e-9):
            raise ValueError(
                f'lam must be 1 / mean_abs, got lam={self.lam!r}, mean_abs={self.mean_abs!r}')
        ks = require_nonnegative('ks_statistic', self.ks_statistic)
        if ks > 1.0:
            raise ValueError(f'ks_statistic must be in [0, 1], got {self.ks_statistic!r}')
        n = require_int_in_range('num_params', self.num_params, 1)
        object.__setattr__(self, 'num_params', n)
        if self.ks_samples is None:
            object.__setattr__(self, 'ks_samples', n)
        else:
            object.__setattr__(self, 'ks_samples',
                               require_int_in_range('ks_samples', self.ks_samples, 1))
        if not isinstance(self.name, str):
            raise ValueError(f'name must be a string, got {self.name!r}')

    def pdf(self, x):
        """Density of |w| under the fit, lam exp(-lam x) for x >= 0, eq. (3)."""
        arr = np.asarray(x, dtype=np.float64)
        out = np.where(arr >= 0, self.lam * np.exp(-self.lam * np.maximum(arr, 0.0)), 0.0)
        return float(out) if arr.ndim == 0 else out

    def cdf(self, x):
        """Distribution function of |w| under the fit, 1 - exp(-lam x) for x >= 0."""
        arr = np.asarray(x, dtype=np.float64)
        out = -np.expm1(-self.lam * np.maximum(arr, 0.0))
        return float(out) if arr.ndim == 0 else out

    @property
    def entropy_bits(self) -> float:
        """Differential entropy h(theta) = log2(e / lam) of the fitted model, eq. (21)."""
        return differential_entropy(self.lam)


@dataclass(frozen=True)
class ModelWeightStats:
    """
    Fits of a model's weights: pooled (``overall``) and per tensor (``layers``).

    Attributes
    ----------
    overall
        fit of all selected tensors pooled.
    layers
        one fit per selected tensor, in model order (empty if not requested).
    zero_tensors
        selected tensors that are all zero (pooled, but no per-layer fit).
    skipped
        entries of a mapping that are not floating-point tensors (e.g. integer
        buffers such as BERT's ``position_ids`` in a state dict), ignored.

    """

    overall: ExponentialFit
    layers: tuple[ExponentialFit, ...] = ()
    zero_tensors: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.overall, ExponentialFit):
            raise ValueError(f'overall must be an ExponentialFit, got {self.overall!r}')
        for name in ('layers', 'zero_tensors', 'skipped'):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not all(isinstance(fit, ExponentialFit) for fit in self.layers):
            raise ValueError('layers must hold ExponentialFit instances')

    @property
    def by_name(self) -> dict[str, ExponentialFit]:
        """Per-layer fits keyed by tensor name."""
        return {fit.name: fit for fit in self.layers}


def _chunks(values) -> list:
    """Split ``values`` into a list of array-likes (one, or several to pool)."""
    if isinstance(values, np.ndarray) or is_tensor(values):
        return [values]
    if isinstance(values, (str, bytes, Mapping)):
        raise ValueError(f'values must be an array, a tensor or an iterable of them, '
                         f'got {type(values).__name__}')
    try:
        items = list(values)
    except TypeError:
        raise ValueError(f'values must be an array, a tensor or an iterable of them, '
                         f'got {values!r}') from None
    if items and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                     for v in items):
        return [items]
    return items


def _prepare(chunks: list, name: str) -> tuple[list, list[str], list[int]]:
    """Return the chunks (sequences converted to arrays), their labels and sizes."""
    out, labels, sizes = [], [], []
    for k, chunk in enumerate(chunks):
        label = f'{name}[{k}]' if len(chunks) > 1 else (name or 'values')
        if not (is_tensor(chunk) or isinstance(chunk, np.ndarray)):
            chunk = as_float_array(chunk, label)
        out.append(chunk)
        labels.append(label)
        sizes.append(int(chunk.numel()) if is_tensor(chunk) else int(chunk.size))
    return out, labels, sizes


def _make_fit(sample: np.ndarray, abs_sum: float, total: int, name: str) -> ExponentialFit:
    """Fit from the sum of |w| over ``total`` values and the KS ``sample`` of magnitudes."""
    mean_abs = abs_sum / total
    sample = sample.astype(np.float64, copy=False)
    ks = stats.ks_1samp(sample, stats.expon(scale=mean_abs).cdf).statistic
    return ExponentialFit(lam=1.0 / mean_abs, mean_abs=mean_abs, ks_statistic=float(ks),
                          num_params=total, name=name, ks_samples=sample.size)


def _fit_chunks(chunks: list, labels: list[str], sizes: list[int], name: str, *,
                max_ks_samples: int, seed: int, per_chunk: bool):
    """
    Fit the pooled chunks (and each chunk if ``per_chunk``) in one pass over the data.

    Only one chunk's magnitudes are held at a time, so models larger than memory in float64
    can be fitted. Per-chunk results are ``None`` for all-zero chunks.
    """
    total = sum(sizes)
    if total == 0:
        raise ValueError(f'values must not be empty, got {name or "an empty input"}')
    offsets = np.cumsum([0] + sizes)
    if total > max_ks_samples:
        idx = np.sort(np.random.default_rng(seed).integers(0, total, size=max_ks_samples))
        cuts = np.searchsorted(idx, offsets)
    sample_parts: list[np.ndarray] = []
    per: list[ExponentialFit | None] = []
    abs_sum = 0.0
    for k, chunk in enumerate(chunks):
        if sizes[k] == 0:
            per.append(None)
            continue
        arr = as_float_array(chunk, labels[k]).reshape(-1)
        finite = np.isfinite(arr)
        if not finite.all():
            raise ValueError(f'{labels[k]} must be finite, got {arr[~finite][0]!r}')
        mag = np.abs(arr)
        chunk_sum = float(mag.sum(dtype=np.float64))
        abs_sum += chunk_sum
        if total > max_ks_samples:
            sample_parts.append(mag[idx[cuts[k]:cuts[k + 1]] - offsets[k]])
        else:
            sample_parts.append(mag)
        if per_chunk:
            per.append(None if chunk_sum == 0.0 else _fit_magnitudes(
                mag, chunk_sum, labels[k], max_ks_samples=max_ks_samples, seed=seed))
    if abs_sum == 0.0:
        raise ValueError(
            f'all {total} values of {name or "the input"} are zero: lam = 1/mean|w| is undefined')
    return _make_fit(np.concatenate(sample_parts), abs_sum, total, name), per


def _fit_magnitudes(mag: np.ndarray, abs_sum: float, name: str, *, max_ks_samples: int,
                    seed: int) -> ExponentialFit:
    if mag.size > max_ks_samples:
        sample = mag[np.random.default_rng(seed).integers(0, mag.size, size=max_ks_samples)]
    else:
        sample = mag
    return _make_fit(sample, abs_sum, mag.size, name)


def fit_exponential(values, name: str = '', *, max_ks_samples: int = DEFAULT_MAX_KS_SAMPLES,
                    seed: int = 0) -> ExponentialFit:
    """
    Fit Exp(lam) to the magnitudes of ``values``, eq. (3): lam = 1 / mean|w| (MLE).

    Parameters
    ----------
    values
        a numpy array, a torch tensor (floating dtype), a sequence of numbers, or an
        iterable of arrays/tensors whose values are pooled.
    name
        label stored in the fit.
    max_ks_samples
        the KS statistic uses at most this many magnitudes (seeded subsample
        with replacement, see the module docstring).
    seed
        seed of that subsample.

    Raises
    ------
    ValueError
        empty input, non-finite values, all values zero (lam undefined),
        non-floating tensors or arrays.

    """
    max_ks_samples = require_int_in_range('max_ks_samples', max_ks_samples, 1)
    seed = require_int_in_range('seed', seed, 0)
    chunks, labels, sizes = _prepare(_chunks(values), name)
    overall, _ = _fit_chunks(chunks, labels, sizes, name, max_ks_samples=max_ks_samples,
                             seed=seed, per_chunk=False)
    return overall


def _select(include) -> Callable:
    if callable(include):
        return include
    if include == 'matrices':
        return lambda name, tensor: tensor.ndim >= 2
    if include == 'all':
        return lambda name, tensor: True
    raise ValueError(f"include must be 'matrices', 'all' or a callable, got {include!r}")


def _named_tensors(model_or_named_tensors) -> tuple[list, list[str]]:
    """Return [(name, tensor)] of floating tensors and the names of skipped entries."""
    named_parameters = getattr(model_or_named_tensors, 'named_parameters', None)
    if callable(named_parameters):
        return [(n, p) for n, p in named_parameters()], []
    if not isinstance(model_or_named_tensors, Mapping):
        raise ValueError('model_or_named_tensors must be a torch.nn.Module or a mapping '
                         f'name -> tensor, got {type(model_or_named_tensors).__name__}')
    items, skipped = [], []
    for name, value in model_or_named_tensors.items():
        if is_tensor(value):
            floating = value.is_floating_point()
        else:
            value = np.asarray(value)
            floating = np.issubdtype(value.dtype, np.floating)
        (items.append((str(name), value)) if floating else skipped.append(str(name)))
    return items, skipped


def fit_model(model_or_named_tensors, *, include='matrices', per_layer: bool = True,
              name: str = 'overall', max_ks_samples: int = DEFAULT_MAX_KS_SAMPLES,
              seed: int = 0) -> ModelWeightStats:
    """
    Fit eq. (3) to a model's weights, pooled and per tensor.

    Parameters
    ----------
    model_or_named_tensors
        a ``torch.nn.Module`` (its ``named_parameters()``, shared
        parameters counted once) or a mapping name -> tensor/array such as a state dict
        (non-floating entries are skipped and listed in ``skipped``).
    include
        ``'matrices'`` (default: tensors with ndim >= 2, i.e. weight matrices, conv
        kernels and embeddings, no biases or norm parameters), ``'all'``, or a callable
        ``(name, tensor) -> bool``.
    per_layer
        also fit every selected tensor on its own.
    name
        name of the pooled fit.
    max_ks_samples, seed
        see :func:`fit_exponential`.

    Raises
    ------
    ValueError
        nothing selected, bad ``include``, or a bad tensor (see
        :func:`fit_exponential`).

    """
    max_ks_samples = require_int_in_range('max_ks_samples', max_ks_samples, 1)
    seed = require_int_in_range('seed', seed, 0)
    select = _select(include)
    items, skipped = _named_tensors(model_or_named_tensors)
    chosen = [(n, t) for n, t in items if select(n, t)]
    if not chosen:
        raise ValueError(f'no tensor selected by include={include!r} (of {len(items)} tensors)')
    names = [n for n, _ in chosen]
    chunks, _, sizes = _prepare([t for _, t in chosen], name)
    overall, per = _fit_chunks(chunks, names, sizes, name, max_ks_samples=max_ks_samples,
                               seed=seed, per_chunk=per_layer)
    layers = tuple(fit for fit in per if fit is not None)
    zeros = tuple(n for n, fit, size in zip(names, per, sizes)
                  if fit is None and size > 0) if per_layer else ()
    return ModelWeightStats(overall=overall, layers=layers, zero_tensors=zeros,
                            skipped=tuple(skipped))
