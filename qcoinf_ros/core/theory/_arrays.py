"""Conversion of numpy arrays and torch tensors to float numpy arrays for the theory modules."""

from __future__ import annotations

import sys

import numpy as np


def is_tensor(value) -> bool:
    """Return whether ``value`` is a ``torch.Tensor`` (without importing torch)."""
    torch = sys.modules.get('torch')
    return torch is not None and isinstance(value, torch.Tensor)


def as_float_array(value, name: str) -> np.ndarray:
    """
    Return ``value`` (numpy array, torch tensor or nested sequence) as a float numpy array.

    Torch tensors must have a floating dtype (half and bfloat16 are widened to float32); numpy
    arrays must be real floating; Python sequences of numbers are converted to float64. The
    result may share memory with the input: do not modify it. Raise ``ValueError`` naming
    ``name`` otherwise.
    """
    if is_tensor(value):
        if not value.is_floating_point():
            raise ValueError(f'{name} must be a floating-point tensor, got dtype {value.dtype}')
        torch = sys.modules['torch']
        tensor = value.detach().cpu()
        if tensor.dtype not in (torch.float32, torch.float64):
            tensor = tensor.to(torch.float32)
        return tensor.numpy()
    if isinstance(value, np.ndarray):
        if not np.issubdtype(value.dtype, np.floating):
            raise ValueError(f'{name} must be a floating-point array, got dtype {value.dtype}')
        return value
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f'{name} must be numeric, got {type(value).__name__}: {exc}') from None
    return arr
