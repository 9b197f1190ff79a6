"""Proposition 3.1: output-distortion bound of quantized FC networks, eqs. (13)-(15)."""

import math

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
import torch

from qcoinf_ros.core.theory.output_bound import (
    matrix_norm,
    output_coefficients,
    output_distortion_bound,
    parameter_distortion,
)

ACTIVATIONS = {
    'relu': lambda v: np.maximum(v, 0.0),
    'leaky_relu': lambda v: np.where(v > 0, v, 0.1 * v),
    'tanh': np.tanh,
}


def _forward(x, weights, biases=None, activation='relu'):
    """Eq. (10), with optional biases: W^(L) sigma(... sigma(W^(1) x + b^(1)) ...) + b^(L)."""
    sigma = ACTIVATIONS[activation]
    h = x
    for k, w in enumerate(weights):
        h = w @ h + (0.0 if biases is None else biases[k])
        if k < len(weights) - 1:
            h = sigma(h)
    return h


def _network(seed, widths):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0.0, 1.0 / math.sqrt(n_in), (n_out, n_in))
               for n_in, n_out in zip(widths[:-1], widths[1:])]
    biases = [rng.normal(0.0, 0.1, n_out) for n_out in widths[1:]]
    return rng, weights, biases


def _inputs(rng, dim, count=20):
    """Points of the l1 ball: its vertices +-e_j and random points of norm <= 1."""
    eye = np.eye(dim)
    rand = rng.laplace(size=(count, dim))
    rand /= np.abs(rand).sum(axis=1, keepdims=True) / rng.uniform(0.1, 1.0, (count, 1))
    return np.vstack([eye, -eye, rand])


def test_matrix_norms():
    w = np.array([[1.0, -4.0], [2.0, 0.5]])
    assert matrix_norm(w) == pytest.approx(4.5)  # max column sum
    assert matrix_norm(w, 'entrywise') == pytest.approx(7.5)
    assert matrix_norm(torch.tensor(w)) == pytest.approx(4.5)
    with pytest.raises(ValueError, match='norm'):
        matrix_norm(w, 'frobenius')
    with pytest.raises(ValueError, match='2-D'):
        matrix_norm(np.ones(3))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_induced_norm_is_the_operator_norm_and_below_the_entrywise_norm(seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(rng.integers(1, 6), rng.integers(1, 6)))
    x = rng.normal(size=w.shape[1])
    induced = matrix_norm(w)
    assert np.abs(w @ x).sum() <= induced * np.abs(x).sum() * (1 + 1e-12)
    j = int(np.argmax(np.abs(w).sum(axis=0)))
    assert np.abs(w[:, j]).sum() == pytest.approx(induced)  # attained at a vertex e_j
    assert induced <= matrix_norm(w, 'entrywise')


def test_coefficients_by_hand():
    weights = [2.0 * np.eye(2), np.diag([3.0, 1.0]), np.array([[4.0, 0.0]])]
    a = output_coefficients(weights, [0.1, 0.2, 0.3])
    # A1 = (3 + .2)(4 + .3), A2 = 2 (4 + .3), A3 = 2 * 3
    assert np.allclose(a, [3.2 * 4.3, 2.0 * 4.3, 6.0])
    assert np.allclose(output_coefficients([np.eye(3)], [5.0]), [1.0])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), depth=st.integers(1, 4),
       eps=st.floats(min_value=1e-4, max_value=1.0),
       activation=st.sampled_from(sorted(ACTIVATIONS)), with_bias=st.booleans())
def test_bound_holds_on_random_networks(seed, depth, eps, activation, with_bias):
    rng = np.random.default_rng(seed)
    widths = list(rng.integers(2, 8, depth + 1))
    rng, weights, biases = _network(seed, widths)
    quantized = [w + eps * rng.uniform(-1.0, 1.0, w.shape) * np.abs(w) for w in weights]
    qbiases = [b + eps * rng.uniform(-1.0, 1.0, b.shape) for b in biases]
    kwargs = {'biases': biases, 'quantized_biases': qbiases} if with_bias else {}
    b_use, qb_use = (biases, qbiases) if with_bias else (None, None)
    for norm in ('induced', 'entrywise'):
        bound = output_distortion_bound(weights, quantized, norm=norm, **kwargs)
        for x in _inputs(rng, widths[0]):
            gap = np.abs(_forward(x, weights, b_use, activation)
                         - _forward(x, quantized, qb_use, activation)).sum()
            assert gap <= bound * (1 + 1e-9) + 1e-12
    # general inputs: the bound scales with ||x||_1
    x = 7.0 * _inputs(rng, widths[0], 1)[-1]
    scaled = output_distortion_bound(weights, quantized, x_norm=np.abs(x).sum(), **kwargs)
    gap = np.abs(_forward(x, weights, b_use, activation)
                 - _forward(x, quantized, qb_use, activation)).sum()
    assert gap <= scaled * (1 + 1e-9) + 1e-12


@pytest.mark.parametrize('depth', [1, 2, 3, 4])
def test_bound_is_attained_by_nonnegative_networks(depth):
    """
    Equality case: the bound is tight, so dropping any factor of eq. (14) breaks it.

    Nonnegative matrices with equal column sums c, inputs x >= 0 (ReLU acts as identity) and
    nonnegative perturbations keeping equal column sums c^ give ||f(x, Ŵ) - f(x, W)||_1 =
    (prod c^ - prod c) ||x||_1, which is exactly eq. (13) with tau = c^ - c.
    """
    rng = np.random.default_rng(depth)
    n = 4
    weights, quantized = [], []
    for _ in range(depth):
        w = rng.uniform(0.1, 1.0, (n, n))
        w /= w.sum(axis=0, keepdims=True) / rng.uniform(0.5, 2.0)  # equal column sums
        delta = rng.uniform(0.0, 1.0, (n, n))
        delta /= delta.sum(axis=0, keepdims=True) / rng.uniform(0.01, 0.3)
        weights.append(w)
        quantized.append(w + delta)
    x = rng.uniform(0.0, 1.0, n)
    x /= x.sum()
    measured = np.abs(_forward(x, quantized) - _forward(x, weights)).sum()
    assert output_distortion_bound(weights, quantized) == pytest.approx(measured, rel=1e-12)


def test_bound_is_monotone_in_the_perturbation_and_zero_without_one():
    rng, weights, _ = _network(3, [5, 6, 6, 3])
    direction = [rng.normal(size=w.shape) for w in weights]
    bounds = [output_distortion_bound(weights, [w + eps * d for w, d in zip(weights, direction)])
              for eps in (1e-3, 1e-2, 1e-1, 1.0)]
    assert all(math.isfinite(b) and b > 0 for b in bounds)
    assert all(b1 < b2 for b1, b2 in zip(bounds[:-1], bounds[1:]))
    assert output_distortion_bound(weights, weights) == 0.0


def test_norm_choice_tau_and_x_norm():
    rng, weights, biases = _network(5, [4, 5, 3])
    quantized = [w + 0.05 * rng.normal(size=w.shape) for w in weights]
    induced = output_distortion_bound(weights, quantized)
    entrywise = output_distortion_bound(weights, quantized, norm='entrywise')
    assert induced < entrywise
    assert output_distortion_bound(weights, quantized, x_norm=3.0) == pytest.approx(3 * induced)
    errors = [matrix_norm(w - q) for w, q in zip(weights, quantized)]
    looser = output_distortion_bound(weights, quantized, tau=[2 * e for e in errors])
    assert looser > induced
    assert output_distortion_bound(weights, quantized, tau=errors) == pytest.approx(induced)
    a = output_coefficients(weights, errors)
    assert induced == pytest.approx(float(np.dot(a, errors)))
    with pytest.raises(ValueError, match=r'tau\[1\].*Assumption 3'):
        output_distortion_bound(weights, quantized, tau=[errors[0], 0.5 * errors[1]])
    with pytest.raises(ValueError, match='tau'):
        output_distortion_bound(weights, quantized, tau=[1.0])
    # biases kept in full precision: only the weight error counts, input norm becomes 1 + 1
    with_bias = output_distortion_bound(weights, quantized, biases=biases)
    assert with_bias > 0 and math.isfinite(with_bias)
    torch_bound = output_distortion_bound([torch.tensor(w) for w in weights],
                                          [torch.tensor(q) for q in quantized])
    assert torch_bound == pytest.approx(induced)


@pytest.mark.parametrize('weights, quantized, kwargs, match', [
    ([], [], {}, 'non-empty'),
    ([np.ones((2, 3)), np.ones((2, 3))], [np.ones((2, 3))] * 2, {}, 'inputs'),
    ([np.ones((2, 3))], [np.ones((3, 2))], {}, 'shapes'),
    ([np.ones((2, 3))], [np.ones((2, 3)), np.ones((2, 2))], {}, 'shapes'),
    ([np.array([[1.0, np.nan]])], [np.ones((1, 2))], {}, 'finite'),
    ([np.ones(3)], [np.ones(3)], {}, '2-D'),
    (np.ones((2, 2)), np.ones((2, 2)), {}, 'sequence'),
    ([np.ones((2, 3))], [np.ones((2, 3))], {'norm': 'max'}, 'norm'),
    ([np.ones((2, 3))], [np.ones((2, 3))], {'x_norm': -1.0}, 'x_norm'),
    ([np.ones((2, 3))], [np.ones((2, 3))], {'x_norm': math.nan}, 'x_norm'),
    ([np.ones((2, 3))], [np.ones((2, 3))], {'biases': [np.ones(3)]}, 'biases'),
    ([np.ones((2, 3))], [np.ones((2, 3))], {'quantized_biases': [np.ones(2)]}, 'without'),
])
def test_bad_input(weights, quantized, kwargs, match):
    with pytest.raises(ValueError, match=match):
        output_distortion_bound(weights, quantized, **kwargs)


def test_parameter_distortion_eq15():
    w = np.array([[0.5, -1.0], [0.25, -0.125]])
    q = np.array([[0.5, -0.75], [0.375, -0.125]])
    assert parameter_distortion(w, q) == pytest.approx(0.375)
    assert parameter_distortion(w, q, reduction='mean') == pytest.approx(0.375 / 4)
    # sign kept by the quantizer: sum |w - w^| = sum ||w| - |w^||  (theta = |w|)
    assert parameter_distortion(np.abs(w), np.abs(q)) == pytest.approx(0.375)
    layers = parameter_distortion([w, 2 * w], [q, 2 * q])
    assert layers == pytest.approx(0.375 * 3)
    assert parameter_distortion(torch.tensor(w), torch.tensor(q)) == pytest.approx(0.375)
    with pytest.raises(ValueError, match='shape'):
        parameter_distortion(w, q[:1])
    with pytest.raises(ValueError, match='reduction'):
        parameter_distortion(w, q, reduction='max')
    with pytest.raises(ValueError, match='same length'):
        parameter_distortion([w], [q, q])
    with pytest.raises(ValueError, match='empty'):
        parameter_distortion(np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match='finite'):
        parameter_distortion(np.array([np.inf]), np.array([1.0]))
