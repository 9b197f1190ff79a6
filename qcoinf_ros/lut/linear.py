"""
``LutLinear``: an ``nn.Linear`` whose b-bit uniform weights run on the bit-plane kernels.

Built from the nested ``B_max``-bit codes and their scale (no re-quantization): the codes become
``B_max`` planes of +-1 weights (:mod:`.planes`), packed once into the kernel library's layout
(1 bit per weight per plane: ``B_max = 8`` takes the same 8 bits per weight as the codes). The
float weight is not kept. ``y = x w_b^T + bias`` costs ``b`` plane passes: the bit-width is read
from a :class:`BitWidth` shared by every layer of a model, so switching is one assignment, O(1)
whatever the model size.

:class:`LutConv2d` does the same for the patch embedding of vision transformers (a ``Conv2d``
whose stride equals its kernel, no padding, no groups), which is a linear map of patches.

Outputs equal the dequantized reference ``x . w_hat_b^T`` up to the int8 table error
(:func:`qcoinf_ros.lut.reference.table_error_bound`); see :mod:`.reference` for the exact
arithmetic. Inference only (no gradients).
"""

from __future__ import annotations

import torch
from torch import nn

from qcoinf_ros.lut.library import KernelLibrary
from qcoinf_ros.lut.planes import plane_bits
from qcoinf_ros.quant.config import check_bit_width
from qcoinf_ros.quant.quantizers import QuantizedTensor
from qcoinf_ros.validation import require_int_in_range

__all__ = ['BitWidth', 'LutLinear', 'LutConv2d', 'is_patchify_conv']


class BitWidth:
    """The bit-width every layer of one model runs at (shared, so a switch is O(1))."""

    __slots__ = ('value', 'b_max')

    def __init__(self, b_max: int, value: int | None = None):
        self.b_max = check_bit_width(b_max, name='b_max')
        self.value = self.b_max
        if value is not None:
            self.set(value)

    def set(self, value: int) -> int:  # noqa: A003
        """Set the bit-width (1..b_max); return it."""
        self.value = check_bit_width(value, self.b_max, 'bit_width')
        return self.value


def _dtype_marker(module: nn.Module) -> None:
    # Model code reads the replaced layer's weight dtype (transformers' vision embeddings:
    # ``patch_embedding.weight.dtype``). The weights live in the packed planes; ``weight`` is an
    # empty float32 tensor, so any use of its values fails loudly instead of computing garbage.
    module.register_buffer('weight', torch.empty(0, dtype=torch.float32), persistent=False)


def _scale_vector(qt: QuantizedTensor, n: int) -> torch.Tensor:
    scale = qt.scale.detach().to(torch.float32).reshape(-1)
    if scale.numel() == 1:
        return scale.expand(n).contiguous()
    if scale.numel() != n:
        raise ValueError(f'scale has {scale.numel()} values for {n} output channels')
    return scale.contiguous()


class LutLinear(nn.Module):
    """``y = x w_b^T + bias`` on the plane kernels; ``b`` is the shared :class:`BitWidth`."""

    packed: torch.Tensor  # buffers (registered in __init__)
    wscale: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, weight_shape: tuple[int, int], qt: QuantizedTensor,
                 bias: torch.Tensor | None, bit_width: BitWidth, library: KernelLibrary,
                 threads: int = 1):
        super().__init__()
        n, k = weight_shape
        if qt.scheme != 'uniform':
            raise ValueError(f'LutLinear needs uniform codes, got scheme "{qt.scheme}" (PoT-log '
                             f'has no linear bit-plane form; it runs dequantized)')
        if tuple(qt.codes.shape) != (n, k):
            raise ValueError(f'codes of shape {tuple(qt.codes.shape)} do not match the weight '
                             f'shape {(n, k)}')
        if qt.bits != bit_width.b_max:
            raise ValueError(f'codes have {qt.bits} bits, the shared bit-width has b_max = '
                             f'{bit_width.b_max}')
        self.in_features, self.out_features = k, n
        self.planes = qt.bits
        self.bit_width = bit_width
        self.library = library
        self.variant = library.variant  # the packed layout is this variant's: bound for good
        self.threads = require_int_in_range('threads', threads, 1, 256)
        packed = library.pack(plane_bits(qt.codes, qt.bits), k, self.variant)
        self.register_buffer('packed', torch.from_numpy(packed))
        self.register_buffer('wscale', _scale_vector(qt, n))
        self.register_buffer('bias', None if bias is None
                             else bias.detach().to(torch.float32).contiguous().clone())
        _dtype_marker(self)

    @classmethod
    def from_linear(cls, linear: nn.Linear, qt: QuantizedTensor, bit_width: BitWidth,
                    library: KernelLibrary, threads: int = 1) -> 'LutLinear':
        """Replace ``linear`` (its weight quantized as ``qt`` at ``b_max``)."""
        if not isinstance(linear, nn.Linear):
            raise ValueError(f'expected an nn.Linear, got {type(linear).__name__}')
        n, k = linear.weight.shape
        return cls((n, k), qt, linear.bias, bit_width, library, threads)

    @property
    def packed_nbytes(self) -> int:
        """Bytes of the packed planes (what replaces the float weight)."""
        return self.packed.numel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ w_b.T + bias`` for ``x`` of shape ``(..., in_features)``."""
        if x.shape[-1] != self.in_features:
            raise ValueError(f'input has {x.shape[-1]} features, the layer takes '
                             f'{self.in_features}')
        flat = x.detach().reshape(-1, self.in_features)
        if flat.dtype != torch.float32 or flat.device.type != 'cpu' or not flat.is_contiguous():
            flat = flat.to('cpu', torch.float32).contiguous()
        out = torch.empty((flat.shape[0], self.out_features), dtype=torch.float32)
        self.library.linear(flat, self.packed, self.planes, self.bit_width.value,
                            self.out_features, self.wscale, self.bias, out, self.threads,
                            self.variant)
        return out.reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        """Shape, stored planes and the kernel variant."""
        from qcoinf_ros.lut.library import VARIANTS
        return (f'in_features={self.in_features}, out_features={self.out_features}, '
                f'planes={self.planes}, kernels={VARIANTS[self.variant]}')


def is_patchify_conv(module: nn.Module) -> bool:
    """Tell whether ``module`` is a ``Conv2d`` cutting its input into non-overlapping patches."""
    return (isinstance(module, nn.Conv2d) and module.groups == 1
            and tuple(module.stride) == tuple(module.kernel_size)
            and tuple(module.dilation) == (1, 1) and module.padding in ('valid', (0, 0))
            and module.padding_mode == 'zeros')


class LutConv2d(nn.Module):
    """A patchify ``Conv2d`` (stride = kernel) on the plane kernels, via :class:`LutLinear`."""

    def __init__(self, conv: nn.Conv2d, qt: QuantizedTensor, bit_width: BitWidth,
                 library: KernelLibrary, threads: int = 1):
        super().__init__()
        if not is_patchify_conv(conv):
            raise ValueError('LutConv2d needs a Conv2d with stride == kernel_size, no padding, '
                             'no dilation and groups == 1')
        out_ch, in_ch, kh, kw = conv.weight.shape
        flat_qt = QuantizedTensor(qt.values.reshape(out_ch, -1), qt.codes.reshape(out_ch, -1),
                                  qt.scale.reshape(-1), qt.bits, qt.scheme, qt.granularity)
        self.kernel_size = (kh, kw)
        self.in_channels, self.out_channels = in_ch, out_ch
        self.linear = LutLinear((out_ch, in_ch * kh * kw), flat_qt, conv.bias, bit_width,
                                library, threads)
        _dtype_marker(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, out, H // kh, W // kw)``, as the convolution gives."""
        b, c, h, w = x.shape
        kh, kw = self.kernel_size
        gh, gw = h // kh, w // kw
        patches = x[:, :, :gh * kh, :gw * kw].reshape(b, c, gh, kh, gw, kw)
        patches = patches.permute(0, 2, 4, 1, 3, 5).reshape(b * gh * gw, c * kh * kw)
        out = self.linear(patches)
        return out.reshape(b, gh, gw, self.out_channels).permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        """Channels and kernel size."""
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'stride={self.kernel_size}')
