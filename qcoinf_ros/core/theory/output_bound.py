"""
Output-distortion bound of quantized fully connected networks, Proposition 3.1.

The FC network of eq. (10) is ``f(x, W) = W^(L) sigma(W^(L-1) sigma(... W^(1) x))`` with a
1-Lipschitz activation, sigma(0) = 0 (Assumption 2). Proposition 3.1 bounds the output change
caused by replacing W by a quantized Ŵ:

    ||f(x, W) - f(x, Ŵ)||_1 <= ||x||_1 * sum_l A^(l) ||W^(l) - Ŵ^(l)||,            eq. (13)
    A^(l) = prod_{j<l} ||W^(j)|| * prod_{k>l} (||W^(k)|| + tau^(k)),               eq. (14)

with ``tau^(k) >= ||W^(k) - Ŵ^(k)||`` (Assumption 3). The paper states it for ||x||_1 <= 1
(Assumption 1); every term of the proof carries exactly one factor ||x||_1, so for general
inputs the bound scales linearly with ``x_norm``, which is what these functions take.

Which matrix norm: the proof (Appendix A) uses ``||W x||_1 <= ||W|| ||x||_1``, which holds for
the induced l1 operator norm (maximum absolute column sum) and for any larger norm.
``norm='induced'`` (default) is the smallest valid choice, so the tightest bound;
``norm='entrywise'`` (sum of |w_ij|, the norm of eq. (15)) is >= the induced norm and gives a
valid, looser bound. Both are supported because the paper writes ||.||_1 for both.

Biases: eq. (10) has none. A layer ``W h + b`` is handled by the standard augmentation
``[h; 1] -> [[W, b], [0, 1]] [h; 1]`` (the last layer without the extra row), with the
activation acting as the identity on the appended coordinate; that augmented activation is
still 1-Lipschitz in l1 with sigma(0) = 0, so Proposition 3.1 applies to the augmented network
unchanged, with input norm ``||x||_1 + 1``. Biases default to being kept in full precision
(``quantized_biases=None``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qcoinf_ros.core.theory._arrays import as_float_array, is_tensor
from qcoinf_ros.core.validation import require_nonnegative

__all__ = [
    'matrix_norm',
    'output_coefficients',
    'output_distortion_bound',
    'parameter_distortion',
]

_NORMS = ('induced', 'entrywise')


def _norm_name(norm: str) -> str:
    if norm not in _NORMS:
        raise ValueError(f"norm must be 'induced' or 'entrywise', got {norm!r}")
    return norm


def matrix_norm(matrix, norm: str = 'induced') -> float:
    """||W||_1 of a 2-D weight matrix (rows = outputs): max column sum or sum of |w_ij|."""
    norm = _norm_name(norm)
    arr = _matrix(matrix, 'matrix')
    if arr.size == 0:
        return 0.0
    mag = np.abs(arr)
    if norm == 'entrywise':
        return float(mag.sum())
    return float(mag.sum(axis=0).max())


def _matrix(value, name: str) -> np.ndarray:
    arr = np.asarray(as_float_array(value, name), dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f'{name} must be a 2-D matrix (outputs x inputs), got shape {arr.shape}')
    if not np.all(np.isfinite(arr)):
        raise ValueError(f'{name} must be finite, got {arr[~np.isfinite(arr)][0]!r}')
    return arr


def _vector(value, name: str, size: int) -> np.ndarray:
    arr = np.asarray(as_float_array(value, name), dtype=np.float64).reshape(-1)
    if arr.size != size:
        raise ValueError(f'{name} must have {size} entries, got {arr.size}')
    if not np.all(np.isfinite(arr)):
        raise ValueError(f'{name} must be finite, got {arr[~np.isfinite(arr)][0]!r}')
    return arr


def _layers(weights, name: str) -> list[np.ndarray]:
    if isinstance(weights, np.ndarray) or is_tensor(weights) or not isinstance(
            weights, Sequence) or len(weights) == 0:
        raise ValueError(f'{name} must be a non-empty sequence of 2-D matrices, got '
                         f'{type(weights).__name__}')
    mats = [_matrix(w, f'{name}[{k}]') for k, w in enumerate(weights)]
    for k in range(1, len(mats)):
        if mats[k].shape[1] != mats[k - 1].shape[0]:
            raise ValueError(
                f'{name}[{k}] has {mats[k].shape[1]} inputs but {name}[{k - 1}] has '
                f'{mats[k - 1].shape[0]} outputs')
    return mats


def _biases(biases, mats: list[np.ndarray], name: str) -> list[np.ndarray] | None:
    if biases is None:
        return None
    if not isinstance(biases, Sequence) or len(biases) != len(mats):
        raise ValueError(f'{name} must be a sequence of {len(mats)} vectors or None entries')
    return [np.zeros(m.shape[0]) if b is None else _vector(b, f'{name}[{k}]', m.shape[0])
            for k, (m, b) in enumerate(zip(mats, biases))]


def _augment(mats: list[np.ndarray], biases: list[np.ndarray]) -> list[np.ndarray]:
    """[[W, b], [0, 1]] for hidden layers, [W, b] for the last (see module docstring)."""
    out = []
    last = len(mats) - 1
    for k, (w, b) in enumerate(zip(mats, biases)):
        block = np.hstack([w, b[:, None]])
        if k < last:
            row = np.zeros((1, block.shape[1]))
            row[0, -1] = 1.0
            block = np.vstack([block, row])
        out.append(block)
    return out


def output_coefficients(weights, tau, *, norm: str = 'induced') -> np.ndarray:
    """
    Coefficients A^(l) of Proposition 3.1, eq. (14), from unquantized weights and tau.

    Parameters
    ----------
    weights
        sequence of L matrices W^(l) (outputs x inputs), layer 1 first.
    tau
        sequence of L bounds tau^(l) >= ||W^(l) - Ŵ^(l)||, Assumption 3 (tau^(1) is not
        used by eq. (14) but must be given).
    norm
        ``'induced'`` (max column sum) or ``'entrywise'``; see the module docstring.

    Returns
    -------
    numpy.ndarray
        ``A`` with ``A[l-1] = prod_{j<l} ||W^(j)|| * prod_{k>l} (||W^(k)|| + tau^(k))``.

    """
    norm = _norm_name(norm)
    mats = _layers(weights, 'weights')
    taus = np.asarray(tau, dtype=np.float64).reshape(-1)
    if taus.size != len(mats):
        raise ValueError(f'tau must have {len(mats)} entries (one per layer), got {tau!r}')
    for k, t in enumerate(taus):
        require_nonnegative(f'tau[{k}]', float(t))
    return _coefficients(np.array([matrix_norm(m, norm) for m in mats]), taus)


def _coefficients(norms: np.ndarray, taus: np.ndarray) -> np.ndarray:
    before = np.concatenate(([1.0], np.cumprod(norms)[:-1]))
    after = np.concatenate((np.cumprod((norms + taus)[::-1])[::-1][1:], [1.0]))
    return before * after


def output_distortion_bound(weights, quantized_weights, x_norm: float = 1.0, *, biases=None,
                            quantized_biases=None, tau=None, norm: str = 'induced') -> float:
    """
    Upper bound on ||f(x, W) - f(x, Ŵ)||_1 for ||x||_1 <= x_norm, eqs. (13)-(14).

    Parameters
    ----------
    weights
        sequence of L matrices W^(l) (outputs x inputs), layer 1 first; numpy arrays
        or torch tensors.
    quantized_weights
        the Ŵ^(l), same shapes.
    x_norm
        bound on the input's l1 norm (Assumption 1 is ``x_norm = 1``).
    biases
        ``None`` (eq. (10), no biases) or a sequence of L bias vectors (``None``
        entries for bias-free layers); handled by augmentation, input norm x_norm + 1.
    quantized_biases
        quantized biases; ``None`` keeps ``biases`` in full precision.
    tau
        per-layer tau^(l) of Assumption 3; ``None`` (default) uses the actual
        ``||W^(l) - Ŵ^(l)||`` (of the augmented layers when there are biases). A tau below
        the actual error violates Assumption 3 and raises ``ValueError``.
    norm
        ``'induced'`` (default, valid and tightest) or ``'entrywise'`` (looser).

    Returns
    -------
    float
        ``x_norm * sum_l A^(l) ||W^(l) - Ŵ^(l)||`` (``(x_norm + 1) * ...`` with biases).

    """
    norm = _norm_name(norm)
    x_norm = require_nonnegative('x_norm', x_norm)
    mats = _layers(weights, 'weights')
    qmats = _layers(quantized_weights, 'quantized_weights')
    if len(qmats) != len(mats) or any(a.shape != b.shape for a, b in zip(mats, qmats)):
        raise ValueError('quantized_weights must have the shapes of weights, got '
                         f'{[m.shape for m in qmats]} vs {[m.shape for m in mats]}')
    bs = _biases(biases, mats, 'biases')
    qbs = _biases(quantized_biases, mats, 'quantized_biases')
    if qbs is not None and bs is None:
        raise ValueError('quantized_biases given without biases')
    if bs is not None:
        mats = _augment(mats, bs)
        qmats = _augment(qmats, bs if qbs is None else qbs)
        x_norm = x_norm + 1.0
    norms = np.array([matrix_norm(m, norm) for m in mats])
    errors = np.array([matrix_norm(m - q, norm) for m, q in zip(mats, qmats)])
    if tau is None:
        taus = errors
    else:
        taus = np.asarray(tau, dtype=np.float64).reshape(-1)
        if taus.size != len(mats) or not np.all(np.isfinite(taus)):
            raise ValueError(f'tau must hold {len(mats)} finite values, got {tau!r}')
        short = np.flatnonzero(taus < errors * (1.0 - 1e-12))
        if short.size:
            k = int(short[0])
            raise ValueError(f'tau[{k}] = {taus[k]!r} is below the actual error '
                             f'{errors[k]!r}: Assumption 3 (eq. (12)) does not hold')
    return float(x_norm * np.dot(_coefficients(norms, taus), errors))


def parameter_distortion(weights, quantized_weights, *, reduction: str = 'sum') -> float:
    """
    Surrogate parameter distortion d(W, Ŵ) = sum_i |w_i - ŵ_i|, eq. (15).

    ``weights`` and ``quantized_weights`` are arrays/tensors or equal-length sequences of them
    (summed over all). ``reduction='mean'`` divides by the number of parameters: the per-letter
    distortion E|theta - theta_hat| that D(R) of section IV measures.
    """
    if reduction not in ('sum', 'mean'):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    single = isinstance(weights, np.ndarray) or is_tensor(weights)
    pairs = [(weights, quantized_weights)] if single else None
    if pairs is None:
        if (not isinstance(weights, Sequence) or not isinstance(quantized_weights, Sequence)
                or len(weights) != len(quantized_weights)):
            raise ValueError('weights and quantized_weights must be two arrays or two '
                             'sequences of the same length')
        pairs = list(zip(weights, quantized_weights))
    total, count = 0.0, 0
    for k, (w, q) in enumerate(pairs):
        a = np.asarray(as_float_array(w, f'weights[{k}]'), dtype=np.float64)
        b = np.asarray(as_float_array(q, f'quantized_weights[{k}]'), dtype=np.float64)
        if a.shape != b.shape:
            raise ValueError(f'weights[{k}] has shape {a.shape} but quantized_weights[{k}] '
                             f'has {b.shape}')
        diff = np.abs(a - b)
        if not np.all(np.isfinite(diff)):
            raise ValueError(f'weights[{k}] and quantized_weights[{k}] must be finite')
        total += float(diff.sum())
        count += diff.size
    if count == 0:
        raise ValueError('weights must not be empty')
    return total / count if reduction == 'mean' else total
