"""
``LutLinear``: an ``nn.Linear`` whose b-bit uniform weights run on the kernel library.

Built from the nested ``B_max``-bit codes and their scale (no re-quantization), in one or both
of the library's exact forms:

``lut``
    the codes as ``B_max`` planes of +-1 weights (:mod:`.planes`), packed once into the
    lookup-table kernels' layout (1 bit per weight per plane); ``y = x w_b^T + bias`` costs
    ``b`` plane passes, so the time grows with ``b``;
``qint8``
    the unsigned codes, one byte per weight, for the int8 kernels: ``u_b = u_B >> (B - b)``
    makes every ``b`` one u8 x s8 GEMM plus a row-sum correction
    (:mod:`.int8_reference`), so the time is flat in ``b``.

Which form runs at which ``b`` is a route table held with the bit-width in a :class:`BitWidth`
shared by every layer of a model: switching ``b`` (and the kernel with it) is one assignment,
O(1) whatever the model size. The runtime measures both forms per ``b`` and keeps each ``b`` on
the faster (:mod:`qcoinf_ros.core.runtime`), then :meth:`LutLinear.trim` drops what no route
uses (planes above the largest ``b`` routed to ``lut``; the codes when no ``b`` is routed to
``qint8``). The float weight is not kept.

:class:`LutConv2d` does the same for the patch embedding of vision transformers (a ``Conv2d``
whose stride equals its kernel, no padding, no groups), which is a linear map of patches.

Outputs equal the dequantized reference ``x . w_hat_b^T`` up to the activation quantization
of the form that runs (:func:`qcoinf_ros.core.lut.reference.table_error_bound`,
:func:`qcoinf_ros.core.lut.int8_reference.int8_error_bound`). Inference only (no gradients).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from qcoinf_ros.core.lut.library import KernelLibrary
from qcoinf_ros.core.lut.planes import unsigned_codes, unsigned_plane_bits
from qcoinf_ros.core.quant.config import check_bit_width
from qcoinf_ros.core.quant.quantizers import QuantizedTensor
from qcoinf_ros.core.validation import require_int_in_range

__all__ = ['ROUTES', 'BitWidth', 'LutLinear', 'LutConv2d', 'is_patchify_conv']

#: The library's two exact forms of a layer (see the module docstring).
ROUTES = ('lut', 'qint8')


def check_routes(routes, b_max: int) -> tuple[str, ...]:
    """Return ``routes`` as a tuple: one of :data:`ROUTES` per bit-width 1..``b_max``."""
    if isinstance(routes, str) or not isinstance(routes, (list, tuple)) \
            or len(routes) != b_max or any(r not in ROUTES for r in routes):
        raise ValueError(f'routes must name one of {ROUTES} per bit-width 1..{b_max}, got '
                         f'{routes!r:.120}')
    return tuple(routes)


class BitWidth:
    """
    The bit-width every layer of one model runs at, and the kernel it runs on at each ``b``.

    Shared by the layers, so a switch is O(1): :meth:`set` reads the route of the new ``b``.
    """

    __slots__ = ('value', 'b_max', 'routes', 'kernel')

    def __init__(self, b_max: int, value: int | None = None, routes=None):
        self.b_max = check_bit_width(b_max, name='b_max')
        self.routes = check_routes(routes if routes is not None else ('lut',) * self.b_max,
                                   self.b_max)
        self.value = self.b_max
        self.kernel = self.routes[-1]
        if value is not None:
            self.set(value)

    def set(self, value: int) -> int:  # noqa: A003
        """Set the bit-width (1..b_max); return it."""
        self.value = check_bit_width(value, self.b_max, 'bit_width')
        self.kernel = self.routes[self.value - 1]
        return self.value

    def set_routes(self, routes) -> tuple[str, ...]:
        """Run bit-width ``b`` on ``routes[b - 1]`` from now on; return the routes."""
        self.routes = check_routes(routes, self.b_max)
        self.kernel = self.routes[self.value - 1]
        return self.routes


def _dtype_marker(module: nn.Module) -> None:
    # Model code reads the replaced layer's weight dtype (transformers' vision embeddings:
    # ``patch_embedding.weight.dtype``). The weights live in the packed forms; ``weight`` is an
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
    """
    ``y = x w_b^T + bias`` on the library's kernels; ``b`` and its route: the shared state.

    ``planes``: how many planes to pack for the ``lut`` form (default all ``B_max``; 0: none);
    ``codes``: also pack the codes for the ``qint8`` form. With both, the unsigned codes are
    kept until :meth:`trim` so that the planes can be cut to what the routes use.
    """

    packed: torch.Tensor | None  # buffers (registered in __init__)
    codes: torch.Tensor | None
    wscale: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, weight_shape: tuple[int, int], qt: QuantizedTensor,
                 bias: torch.Tensor | None, bit_width: BitWidth, library: KernelLibrary,
                 threads: int = 1, planes: int | None = None, codes: bool = False):
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
        planes = qt.bits if planes is None else require_int_in_range(
            'planes', planes, 0, qt.bits)
        if not planes and not codes:
            raise ValueError('LutLinear needs the planes (planes >= 1) or the codes (codes=True)')
        self.in_features, self.out_features = k, n
        self.code_bits = qt.bits
        self.bit_width = bit_width
        self.library = library
        self.variant = library.variant  # the packed layout is this variant's: bound for good
        self.threads = require_int_in_range('threads', threads, 1, 256)
        unsigned = unsigned_codes(qt.codes, qt.bits).to(torch.uint8).numpy()
        self._unsigned: np.ndarray | None = unsigned if planes and codes else None
        self.planes = 0
        self.register_buffer('packed', None)
        self._pack_planes(unsigned, planes)
        self.register_buffer('codes', torch.from_numpy(library.int8_pack(unsigned, qt.bits))
                             if codes else None)
        self.register_buffer('wscale', _scale_vector(qt, n))
        self.register_buffer('bias', None if bias is None
                             else bias.detach().to(torch.float32).contiguous().clone())
        _dtype_marker(self)

    def _pack_planes(self, unsigned: np.ndarray, planes: int) -> None:
        # the P-plane form is the P-bit code u >> (B - P): its planes are the top P of B's
        self.planes = planes
        self.packed = None if not planes else torch.from_numpy(self.library.pack(
            unsigned_plane_bits(unsigned >> (self.code_bits - planes), planes),
            self.in_features, self.variant))

    @classmethod
    def from_linear(cls, linear: nn.Linear, qt: QuantizedTensor, bit_width: BitWidth,
                    library: KernelLibrary, threads: int = 1, planes: int | None = None,
                    codes: bool = False) -> 'LutLinear':
        """Replace ``linear`` (its weight quantized as ``qt`` at ``b_max``)."""
        if not isinstance(linear, nn.Linear):
            raise ValueError(f'expected an nn.Linear, got {type(linear).__name__}')
        n, k = linear.weight.shape
        return cls((n, k), qt, linear.bias, bit_width, library, threads, planes, codes)

    @property
    def packed_nbytes(self) -> int:
        """Bytes of the packed forms (what replaces the float weight)."""
        return sum(t.numel() for t in (self.packed, self.codes) if t is not None)

    def runs(self, route: str, bits: int) -> bool:
        """Tell whether this layer holds what ``bits`` on ``route`` needs."""
        return bits <= self.planes if route == 'lut' else self.codes is not None

    def trim(self) -> int:
        """
        Drop what the shared routes never use; return the bytes freed.

        Planes above the largest ``b`` routed to ``lut`` are cut (repacked from the kept
        codes), the codes dropped when no ``b`` is routed to ``qint8``. Afterwards the routes
        can only change within what is kept.
        """
        before = self.packed_nbytes
        routes = self.bit_width.routes
        lut_bits = max((b for b, r in enumerate(routes, 1) if r == 'lut'), default=0)
        if 'qint8' not in routes:
            self.codes = None
        if lut_bits < self.planes:
            if not lut_bits:
                self.planes, self.packed = 0, None
            elif self._unsigned is not None:
                self._pack_planes(self._unsigned, lut_bits)
        self._unsigned = None
        return before - self.packed_nbytes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ w_b.T + bias`` for ``x`` of shape ``(..., in_features)``."""
        if x.shape[-1] != self.in_features:
            raise ValueError(f'input has {x.shape[-1]} features, the layer takes '
                             f'{self.in_features}')
        flat = x.detach().reshape(-1, self.in_features)
        if flat.dtype != torch.float32 or flat.device.type != 'cpu' or not flat.is_contiguous():
            flat = flat.to('cpu', torch.float32).contiguous()
        out = torch.empty((flat.shape[0], self.out_features), dtype=torch.float32)
        bits, route = self.bit_width.value, self.bit_width.kernel
        if route == 'qint8' and self.codes is not None:
            self.library.int8_linear(flat, self.codes, self.code_bits, bits, self.out_features,
                                     self.wscale, self.bias, out, self.threads, self.variant)
        elif route == 'lut' and self.packed is not None and bits <= self.planes:
            self.library.linear(flat, self.packed, self.planes, bits, self.out_features,
                                self.wscale, self.bias, out, self.threads, self.variant)
        else:
            raise ValueError(f'bit-width {bits} is routed to {route}, which this layer no '
                             f'longer holds ({self.planes} planes kept, codes '
                             f'{"kept" if self.codes is not None else "dropped"})')
        return out.reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        """Shape, stored forms and the kernel variant."""
        from qcoinf_ros.core.lut.library import VARIANTS
        forms = [f'planes={self.planes}'] + (['codes=int8'] if self.codes is not None else [])
        return (f'in_features={self.in_features}, out_features={self.out_features}, '
                f'{", ".join(forms)}, kernels={VARIANTS[self.variant]}')


def is_patchify_conv(module: nn.Module) -> bool:
    """Tell whether ``module`` is a ``Conv2d`` cutting its input into non-overlapping patches."""
    return (isinstance(module, nn.Conv2d) and module.groups == 1
            and tuple(module.stride) == tuple(module.kernel_size)
            and tuple(module.dilation) == (1, 1) and module.padding in ('valid', (0, 0))
            and module.padding_mode == 'zeros')


class LutConv2d(nn.Module):
    """A patchify ``Conv2d`` (stride = kernel) on the plane kernels, via :class:`LutLinear`."""

    def __init__(self, conv: nn.Conv2d, qt: QuantizedTensor, bit_width: BitWidth,
                 library: KernelLibrary, threads: int = 1, planes: int | None = None,
                 codes: bool = False):
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
                                library, threads, planes, codes)
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
