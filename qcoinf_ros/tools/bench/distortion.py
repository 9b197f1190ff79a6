"""
Parameter vs output distortion under quantization (paper Fig. 3, section VI-A) and Fig. 2.

For each scheme and bit-width ``b`` the agent's quantizable weights are quantized (nested codes,
so one stored code set serves every ``b``) and two distortions are measured against the
full-precision model:

- parameter distortion ``||W - W_hat||_1`` summed over the quantized weights, eq. (15);
- output distortion ``||f(x, W_hat) - f(x, W)||_1`` per input ``x`` (mean and worst input).

The constant of eq. (17), ``||f(x, W_hat) - f(x, W)||_1 <= H ||W - W_hat||_1``, is estimated
"in a data-driven manner as an empirical upper-bound constant" (section VI-A):
``H = max over b and x of output / parameter distortion``; by construction ``H * param``
bounds every measured output distortion. Beside them: the per-weight rate-distortion bounds
``D^L(b-1)`` (eq. (24)) and ``D^U(b-1)`` (eq. (26)) at the lambda fitted to the weights.

Weight-magnitude histograms with the fitted exponential (Fig. 2) come from
:func:`weight_histogram`, drawn by :func:`plot_weight_histograms`. The models, the calibration
and hold-out halves and Fig. 3's plot are :mod:`qcoinf_ros.tools.experiments.fig3`'s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from qcoinf_ros.core.quant.config import check_granularity, check_scheme, SCHEMES
from qcoinf_ros.core.quant.nested import NestedQuantizedModel
from qcoinf_ros.core.quant.quantizers import FilterFn, quantizable_weights
from qcoinf_ros.core.stats import percentile
from qcoinf_ros.core.theory.rate_distortion import distortion_lower_bound, distortion_upper_bound
from qcoinf_ros.core.theory.weight_stats import ExponentialFit, fit_exponential
from qcoinf_ros.core.validation import require_int_in_range

__all__ = [
    'DistortionPoint',
    'DistortionReport',
    'measure_distortion',
    'WeightHistogram',
    'weight_histogram',
    'plot_weight_histograms',
]


@dataclass(frozen=True)
class DistortionPoint:
    """Distortions of one (scheme, bit-width) against the full-precision model."""

    scheme: str
    bit_width: int
    param_distortion: float  # ||W - W_hat||_1, eq. (15), summed over the quantized weights
    param_distortion_per_weight: float  # the same divided by the number of weights
    output_distortion: float  # mean over inputs of ||f(x, W_hat) - f(x, W)||_1
    output_distortion_max: float  # worst input
    distortion_upper_bound: float  # D^U(b - 1) per weight at the fitted lambda, eq. (26)
    distortion_lower_bound: float  # D^L(b - 1) per weight at the fitted lambda, eq. (24)

    @property
    def ratio(self) -> float:
        """Return the worst-input output distortion per unit of parameter distortion, eq. (17)."""
        if self.param_distortion == 0.0:
            return 0.0 if self.output_distortion_max == 0.0 else math.inf
        return self.output_distortion_max / self.param_distortion


@dataclass(frozen=True)
class DistortionReport:
    """All points of one model, with the lambda fitted to its quantized weights."""

    model: str
    granularity: str
    num_weights: int
    num_inputs: int
    lam: float
    points: tuple[DistortionPoint, ...]

    def for_scheme(self, scheme: str) -> list[DistortionPoint]:
        """Points of ``scheme`` by increasing bit-width."""
        check_scheme(scheme)
        return sorted((p for p in self.points if p.scheme == scheme), key=lambda p: p.bit_width)

    def empirical_h(self, scheme: str, min_bit_width: int = 1) -> float:
        """
        Return ``H`` of eq. (17): max over bit-widths and inputs of output / param distortion.

        ``min_bit_width`` leaves out the lowest bit-widths (b = 1 wrecks most models and
        dominates the maximum).
        """
        points = [p for p in self.for_scheme(scheme) if p.bit_width >= min_bit_width]
        if not points:
            raise ValueError(f'no measurement for scheme "{scheme}" with b >= {min_bit_width} '
                             f'in {self.model}')
        return max(p.ratio for p in points)

    def max_increase(self, scheme: str) -> float:
        """Return the largest relative rise of the mean output distortion from b to b + 1."""
        values = [p.output_distortion for p in self.for_scheme(scheme)]
        growth = [b / a - 1.0 for a, b in zip(values, values[1:]) if a > 0]
        return max([0.0, *growth])

    def non_increasing(self, scheme: str, rtol: float = 0.0) -> bool:
        """Tell whether the mean output distortion never grows with ``b`` by more than ``rtol``."""
        values = [p.output_distortion for p in self.for_scheme(scheme)]
        return all(b <= a * (1.0 + rtol) for a, b in zip(values, values[1:]))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-ready), with ``H`` per scheme."""
        schemes = sorted({p.scheme for p in self.points})
        return {
            'model': self.model, 'granularity': self.granularity,
            'num_weights': self.num_weights, 'num_inputs': self.num_inputs, 'lam': self.lam,
            'empirical_h': {s: self.empirical_h(s) for s in schemes},
            'empirical_h_b2': {s: self.empirical_h(s, 2) for s in schemes
                               if any(p.bit_width >= 2 for p in self.for_scheme(s))},
            'points': [asdict(p) | {'ratio': p.ratio} for p in self.points],
        }


def _output_l1(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-input L1 norm of the output difference."""
    return (out - ref).abs().reshape(ref.shape[0], -1).sum(dim=1)


def _fit_lambda(weights: Iterable[torch.Tensor], name: str) -> float:
    return float(fit_exponential([w.detach().reshape(-1) for w in weights], name=name).lam)


def measure_distortion(module: nn.Module, forward: Callable[[Any], torch.Tensor], inputs: Any,
                       *, schemes: Sequence[str] = SCHEMES,
                       bit_widths: Iterable[int] = range(1, 9), b_max: int = 8,
                       granularity: str = 'per_tensor', filter_fn: FilterFn | None = None,
                       name: str = '') -> DistortionReport:
    """
    Measure parameter and output distortion of ``module`` for each scheme and bit-width.

    ``forward(inputs)`` must run the model containing ``module`` and return a tensor whose first
    dimension indexes the inputs. ``module``'s weights are restored afterwards.
    """
    schemes = tuple(check_scheme(s) for s in schemes)
    check_granularity(granularity)
    b_max = require_int_in_range('b_max', b_max, 1, 16)
    bits = sorted({require_int_in_range('bit_width', b, 1, b_max) for b in bit_widths})
    if not bits or not schemes:
        raise ValueError('measure_distortion needs at least one scheme and one bit-width')
    weights = dict(quantizable_weights(module, filter_fn))
    originals = {k: w.detach().clone() for k, w in weights.items()}
    num_weights = sum(w.numel() for w in originals.values())
    lam = _fit_lambda(originals.values(), name)
    with torch.no_grad():
        reference = forward(inputs)
        points = []
        try:
            for scheme in schemes:
                nested = NestedQuantizedModel(module, scheme, b_max, granularity, filter_fn)
                for b in bits:
                    nested.set_bit_width(b)
                    param = sum(float((weights[k] - originals[k]).abs().sum(dtype=torch.float64))
                                for k in originals)
                    out = _output_l1(forward(inputs), reference)
                    points.append(DistortionPoint(
                        scheme, b, param, param / num_weights, float(out.mean()),
                        float(out.max()), distortion_upper_bound(b - 1, lam),
                        distortion_lower_bound(b - 1, lam)))
                _restore(weights, originals)
        finally:
            _restore(weights, originals)
    return DistortionReport(name or type(module).__name__, granularity, num_weights,
                            int(reference.shape[0]), lam, tuple(points))


def _restore(weights: dict[str, torch.Tensor], originals: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for k, w in weights.items():
            w.copy_(originals[k])


@dataclass(frozen=True)
class WeightHistogram:
    """Histogram (density) of weight magnitudes with the fitted exponential, paper Fig. 2."""

    name: str
    edges: np.ndarray
    density: np.ndarray
    fit: ExponentialFit  # Exp(lam) fitted to every magnitude (not only the ones shown)
    fraction_shown: float  # share of the magnitudes inside [edges[0], edges[-1]]

    @property
    def lam(self) -> float:
        """Return the fitted rate lambda of eq. (3)."""
        return self.fit.lam

    @property
    def num_weights(self) -> int:
        """Count the magnitudes behind the histogram."""
        return self.fit.num_params

    @property
    def centers(self) -> np.ndarray:
        """Return the bin centres."""
        return 0.5 * (self.edges[:-1] + self.edges[1:])

    def fitted_pdf(self) -> np.ndarray:
        """Return ``lam * exp(-lam * theta)`` at the bin centres, eq. (3)."""
        return self.fit.pdf(self.centers)


def _weights_of(source, filter_fn: FilterFn | None) -> list[torch.Tensor]:
    if isinstance(source, nn.Module):
        return [w.detach() for _, w in quantizable_weights(source, filter_fn)]
    if isinstance(source, torch.Tensor):
        return [source.detach()]
    if isinstance(source, dict):
        return [torch.as_tensor(v).detach() for v in source.values()]
    raise ValueError(f'source must be a Module, a tensor or a dict of tensors, got '
                     f'{type(source).__name__}')


def weight_histogram(source, name: str = '', bins: int = 100, quantile: float = 0.999,
                     filter_fn: FilterFn | None = None) -> WeightHistogram:
    """
    Histogram of ``|w|`` on ``[0, quantile of |w|]`` with the exponential fitted to all of them.

    ``source``: a module (its quantizable weights, as selected by ``filter_fn``), a tensor, or
    a dict of tensors. The fit (lambda, KS statistic) comes from
    :func:`qcoinf_ros.core.theory.weight_stats.fit_exponential` on every magnitude.
    """
    bins = require_int_in_range('bins', bins, 1)
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f'quantile must be in (0, 1], got {quantile!r}')
    tensors = _weights_of(source, filter_fn)
    if not tensors:
        raise ValueError(f'no weights to histogram in {name or type(source).__name__}')
    theta = torch.cat([t.reshape(-1).float().abs() for t in tensors]).numpy()
    fit = fit_exponential(theta, name=name)
    top = percentile(theta, 100 * quantile) if quantile < 1.0 else float(theta.max())
    top = top if top > 0 else 1.0
    counts, edges = np.histogram(theta, bins=bins, range=(0.0, top))
    width = edges[1] - edges[0]
    density = counts / (theta.size * width)
    return WeightHistogram(name, edges, density, fit, float(counts.sum() / theta.size))


def plot_weight_histograms(histograms: Sequence[WeightHistogram], path: str | Path) -> Path:
    """Write Fig. 2 (one panel per histogram: density and fitted exponential) as a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    if not histograms:
        raise ValueError('plot_weight_histograms needs at least one histogram')
    fig, axes = plt.subplots(1, len(histograms), figsize=(4 * len(histograms), 3.2),
                             squeeze=False)
    for ax, hist in zip(axes[0], histograms):
        ax.bar(hist.centers, hist.density, width=np.diff(hist.edges), alpha=0.6,
               label='empirical')
        ax.plot(hist.centers, hist.fitted_pdf(), 'r-', label=f'Exp(lambda={hist.lam:.3g})')
        ax.set_title(hist.name)
        ax.set_xlabel('|w|')
        ax.set_ylabel('density')
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
