"""
Run-time bit-width switching from one stored set of nested codes.

The agent stores its quantizable weights once, as ``B_max``-bit codes plus scales, and derives
any bit-width ``b <= B_max`` from them (:func:`~qcoinf_ros.core.quant.quantizers.reduce_codes`), so
a switch costs one pass over the weights and no disk I/O. The derived weights are bit-for-bit those
of quantizing the original weights directly at ``b`` (nested codes; see the tests).

Memory: the float32 originals are *not* kept. Per quantized weight the wrapper holds one code
(1 byte for ``B_max <= 8``, 4 bytes beyond) and the module holds the live dequantized weight in
its own dtype (4 bytes in fp32): 5 bytes instead of the 8 a copy of the originals would need.
Scales add 4 bytes per tensor (per tensor) or per output channel. Parameters the filter does not
select (biases, norms, embeddings by default) stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
import time
from typing import Mapping

import torch
from torch import nn

from qcoinf_ros.core.quant.config import check_bit_width, QuantConfig
from qcoinf_ros.core.quant.packing import packed_nbytes
from qcoinf_ros.core.quant.quantizers import (
    _dequantize, check_weight, FilterFn, quantizable_weights, QuantizedTensor, reduce_codes,
    stored_or_quantized)

__all__ = ['NestedQuantizedModel']


@dataclass
class _Stored:
    name: str
    weight: torch.Tensor  # the module's own weight (rewritten in place)
    codes: torch.Tensor
    scale: torch.Tensor


class NestedQuantizedModel:
    """
    Quantize ``model`` in place at ``b_max`` bits and switch bit-width at run time.

    ``filter_fn(module, fqn) -> bool`` selects the layers (default: Linear and Conv weights).
    After construction the module's weights are the ``bit_width``-bit weights (``b_max`` if not
    given); :meth:`set_bit_width` rewrites them in place. ``stored`` maps weight names (as
    ``model`` names them) to codes already kept at ``b_max`` (a shipped checkpoint's): those
    are used as they are when scheme and granularity match (see
    :func:`~qcoinf_ros.core.quant.quantizers.stored_or_quantized`).
    """

    def __init__(self, model: nn.Module, scheme: str = 'uniform', b_max: int = 8,
                 granularity: str = 'per_tensor', filter_fn: FilterFn | None = None,
                 channel_axis: int = 0, bit_width: int | None = None,
                 stored: Mapping[str, QuantizedTensor] | None = None):
        self.config = QuantConfig(scheme, b_max, b_max, granularity, channel_axis)
        self.model = model
        self._stored: list[_Stored] = []
        with torch.no_grad():
            for name, weight in list(quantizable_weights(model, filter_fn)):
                check_weight(weight, name)
                qt = stored_or_quantized(weight, self.config, (stored or {}).get(name), name)
                weight.copy_(qt.values)
                self._stored.append(_Stored(name, weight, qt.codes, qt.scale))
        if not self._stored:
            raise ValueError(f'filter_fn selected no weight to quantize in '
                             f'{type(model).__name__}')
        self._bit_width = self.config.b_max
        self.last_switch_s = 0.0
        if bit_width is not None:
            self.set_bit_width(bit_width)

    @property
    def bit_width(self) -> int:
        """Bit-width (sign included) of the weights now in the module."""
        return self._bit_width

    @property
    def b_max(self) -> int:
        """Bit-width of the stored codes, B_max."""
        return self.config.b_max

    @property
    def scheme(self) -> str:
        """Quantization scheme, ``'uniform'`` or ``'potlog'``."""
        return self.config.scheme

    @property
    def parameter_names(self) -> list[str]:
        """Names of the quantized weights, in module order."""
        return [s.name for s in self._stored]

    @property
    def num_quantized(self) -> int:
        """Count the quantized weight elements."""
        return sum(s.codes.numel() for s in self._stored)

    def _codes(self, stored: _Stored, bits: int) -> torch.Tensor:
        if bits == self.b_max:
            return stored.codes
        return reduce_codes(stored.codes, self.b_max, bits, self.scheme)

    def to(self, device: str | torch.device) -> 'NestedQuantizedModel':
        """
        Move the module and the stored codes and scales to ``device`` (e.g. ``'cuda:0'``).

        The codes stay the source of truth: a switch then reduces and dequantizes them on that
        device, and only the weights the module runs with are rewritten.
        """
        device = torch.device(device)
        self.model.to(device)
        with torch.no_grad():
            for stored in self._stored:
                owner = self.model.get_submodule(stored.name.rpartition('.')[0])
                weight = owner.weight  # the module's weight, wherever it now lives
                assert isinstance(weight, torch.Tensor)
                stored.weight = weight
                stored.codes = stored.codes.to(device)
                stored.scale = stored.scale.to(device)
        return self

    def set_bit_width(self, bit_width: int) -> float:
        """Write the ``bit_width``-bit weights into the module in place; return seconds taken."""
        bits = check_bit_width(bit_width, self.b_max, 'bit_width')
        start = time.perf_counter()
        with torch.no_grad():
            for stored in self._stored:
                values = _dequantize(self._codes(stored, bits), stored.scale, bits, self.scheme,
                                     stored.weight.dtype)
                stored.weight.copy_(values)
        self._bit_width = bits
        self.last_switch_s = time.perf_counter() - start
        return self.last_switch_s

    def quantized_tensors(self, bit_width: int | None = None) -> dict[str, QuantizedTensor]:
        """Return ``{name: QuantizedTensor}`` at ``bit_width`` (default: the current one)."""
        bits = self.bit_width if bit_width is None else check_bit_width(
            bit_width, self.b_max, 'bit_width')
        out = {}
        for stored in self._stored:
            codes = self._codes(stored, bits)
            values = _dequantize(codes, stored.scale, bits, self.scheme, stored.weight.dtype)
            out[stored.name] = QuantizedTensor(values, codes, stored.scale, bits, self.scheme,
                                               self.config.granularity)
        return out

    def packed_bytes(self, bit_width: int | None = None) -> int:
        """Bytes of the bit-packed codes at ``bit_width`` plus float32 scales."""
        bits = self.bit_width if bit_width is None else check_bit_width(
            bit_width, self.b_max, 'bit_width')
        return sum(packed_nbytes(s.codes.numel(), bits) + 4 * s.scale.numel()
                   for s in self._stored)

    def fp32_bytes(self) -> int:
        """Bytes the quantized weights take in float32 (the reference of ``b / 32``)."""
        return 4 * self.num_quantized

    def store_bytes(self) -> int:
        """Resident bytes of the stored codes and scales (what replaces the fp32 originals)."""
        return sum(s.codes.numel() * s.codes.element_size() + 4 * s.scale.numel()
                   for s in self._stored)
