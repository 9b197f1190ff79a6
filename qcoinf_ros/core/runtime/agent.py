"""
How the quantized agent part runs: the kernel behind a run-time bit-width.

Kernels, one interface (:class:`AgentRuntime`: ``module``, ``set_bit_width``):

``lut``
    the bit-plane lookup-table kernels (:mod:`qcoinf_ros.core.lut`): every ``nn.Linear`` (and the
    patch-embedding ``Conv2d`` of vision transformers) becomes a
    :class:`~qcoinf_ros.core.lut.LutLinear`
    over the ``B_max`` nested planes; the cost grows with ``b`` and a switch is one shared
    assignment (O(1)). Uniform scheme only. Other quantizable layers (general convolutions) keep
    dequantized weights, one tensor per bit-width, switched by reference (no copy).
``qint8``
    the library's exact int8 kernels on the same stored codes (one byte per weight,
    ``u_b = u_B >> (B - b)``, :mod:`qcoinf_ros.core.lut.int8_reference`): flat in ``b``, a switch
    is the same O(1) assignment. Uniform scheme only.
``lut+qint8``
    both forms in every layer, and a route per bit-width (:meth:`AgentRuntime.set_routes`):
    ``b`` runs on whichever the agent measured faster at configure
    (:func:`qcoinf_ros.core.system.calibration.calibrate_agent`), then :meth:`AgentRuntime.trim`
    drops what no route uses. A switch of ``b`` switches the kernel with it, still O(1).
``int8``
    torch's dynamic int8 ``nn.Linear`` (fbgemm/onednn) on the dequantized ``b``-bit weights:
    the comparator whose cost is flat in ``b``; a switch re-quantizes the model (O(weights)).
    Not exact: it quantizes the ``b``-bit weights again to its own int8 grid.
``reference``
    fake quantization (:class:`~qcoinf_ros.core.quant.NestedQuantizedModel`): fp32 kernels on the
    exact dequantized weights; a switch rewrites them (O(weights)). PoT-log always runs here
    (its codes have no linear bit-plane form).

``auto`` picks ``lut+qint8`` for the uniform scheme when the kernel library is loaded, else
``reference``, and says why (:attr:`AgentRuntime.reason`).

On a GPU (``device`` ``cuda:N``) only ``reference`` runs: the module and the nested codes move
to the device, so a switch dequantizes there; the other kernels run on the CPU (an explicit
request for them on a GPU is refused, ``auto`` takes ``reference`` and says why).
"""

from __future__ import annotations

import time
from typing import Mapping
import warnings

import torch
from torch import nn

from qcoinf_ros.core.quant.config import (
    check_bit_width, check_granularity, check_scheme, QuantConfig)
from qcoinf_ros.core.quant.nested import NestedQuantizedModel
from qcoinf_ros.core.quant.quantizers import (
    check_weight, default_filter, dequantize_codes, FilterFn, QuantizedTensor, reduce_codes,
    stored_or_quantized)
from qcoinf_ros.core.validation import require_int_in_range

__all__ = ['KERNELS', 'LIBRARY_KERNELS', 'AgentRuntime', 'resolve_kernel', 'build_runtime']

KERNELS = ('auto', 'lut', 'qint8', 'lut+qint8', 'int8', 'reference')
#: What the library's runtime can hold: one form, or both with a route per bit-width.
LIBRARY_KERNELS = ('lut', 'qint8', 'lut+qint8')


def resolve_kernel(kernel: str, scheme: str, device: str = 'cpu') -> tuple[str, str]:
    """
    Return the kernel to run for ``kernel``, ``scheme`` and ``device``, and why.

    An explicit library kernel (``lut``, ``qint8``) that cannot run (PoT-log, or no library),
    or any CPU kernel on a GPU, raises ``ValueError``; ``auto`` falls back to ``reference``
    and the reason says so. ``auto`` with the library is ``lut+qint8`` (the faster per ``b``).
    """
    if kernel not in KERNELS:
        raise ValueError(f'Invalid kernel: "{kernel}" (expected one of {KERNELS})')
    check_scheme(scheme)
    if str(device) != 'cpu':
        if kernel not in ('auto', 'reference'):
            raise ValueError(f'kernel "{kernel}" runs on the CPU only, not on {device}: use '
                             'kernel reference (or auto) on a GPU')
        return 'reference', (f'on {device}: the dequantized reference runs on the GPU (the lut, '
                             'qint8 and int8 kernels are CPU kernels)')
    if kernel in ('int8', 'reference'):
        return kernel, f'{kernel} kernels requested'
    from qcoinf_ros.core.lut.library import library_status, load_library
    lib = load_library()
    if scheme != 'uniform':
        why = (f'the {scheme} scheme has no linear bit-plane or integer form: it runs on the '
               f'reference (dequantized fp32) path')
        if kernel != 'auto':
            raise ValueError(f'kernel "{kernel}" needs the uniform scheme; {why}')
        return 'reference', why
    if lib is None:
        why = f'the kernel library is unavailable ({library_status()}); running the reference path'
        if kernel != 'auto':
            raise ValueError(f'kernel "{kernel}" requested but {why}')
        return 'reference', why
    if kernel == 'auto':
        return 'lut+qint8', f'{library_status()}; each bit-width on the faster of lut and qint8'
    return kernel, f'{library_status()}; {kernel} requested'


class AgentRuntime:
    """The quantized agent module and its run-time bit-width (see the module docstring)."""

    def __init__(self, module: nn.Module, kernel: str, reason: str, config: QuantConfig,
                 num_quantized: int, threads: int):
        self.module = module
        self.kernel = kernel
        self.reason = reason
        self.config = config
        self.num_quantized = num_quantized
        self.threads = threads
        self.last_switch_s = 0.0
        self._bits = config.b_max
        #: Weights that run on codes given as ``stored`` (not quantized again here).
        self.stored_weights = 0
        #: Where the module runs (``'cpu'`` or ``'cuda:N'``).
        self.device = 'cpu'

    @property
    def bit_width(self) -> int:
        """Bit-width the module runs at now."""
        return self._bits

    @property
    def b_max(self) -> int:
        """B_max, the bit-width of the stored codes."""
        return self.config.b_max

    @property
    def isa(self) -> str:
        """Instruction set of the kernels (``avx2``, ``neon``...), ``torch``, or ``cuda``."""
        return 'cuda' if self.device.startswith('cuda') else 'torch'

    def to(self, device: str) -> 'AgentRuntime':
        """Run on ``device``; only the reference kernel leaves the CPU (``ValueError``)."""
        if str(device) != 'cpu':
            raise ValueError(f'the {self.kernel} kernels run on the CPU only, not on {device}: '
                             'use kernel reference (or auto) on a GPU')
        return self

    def set_bit_width(self, bit_width: int) -> float:
        """Run at ``bit_width`` from now on; return the seconds the switch took."""
        bits = check_bit_width(bit_width, self.b_max, 'bit_width')
        start = time.perf_counter()
        self._switch(bits)
        self._bits = bits
        self.last_switch_s = time.perf_counter() - start
        return self.last_switch_s

    @property
    def choices(self) -> tuple[str, ...]:
        """Return the kernels a bit-width can be routed to (several: measure, then route)."""
        return (self.kernel,)

    @property
    def routes(self) -> tuple[str, ...]:
        """Return the kernel each bit-width 1..b_max runs on."""
        return (self.kernel,) * self.b_max

    def set_routes(self, routes) -> tuple[str, ...]:
        """Run ``b`` on ``routes[b - 1]``; ``ValueError`` for a kernel this runtime lacks."""
        routes = tuple(routes)
        if routes != self.routes:
            raise ValueError(f'the {self.kernel} runtime runs every bit-width on {self.kernel}, '
                             f'cannot route {routes!r:.120}')
        return routes

    def kernel_at(self, bit_width: int) -> str:
        """Return the kernel ``bit_width`` runs on."""
        return self.routes[check_bit_width(bit_width, self.b_max, 'bit_width') - 1]

    def trim(self) -> int:
        """Drop the weight forms no route uses; return the bytes freed."""
        return 0

    def _switch(self, bits: int) -> None:
        raise NotImplementedError


def _nested(module, config, filter_fn, stored) -> NestedQuantizedModel:
    """Return the module's weights fake-quantized at ``config`` (reference, torch int8)."""
    return NestedQuantizedModel(module, config.scheme, config.b_max, config.granularity,
                                filter_fn, config.channel_axis, stored=stored)


class _ReferenceRuntime(AgentRuntime):
    def __init__(self, module, reason, config, filter_fn, threads, stored):
        self._nested = _nested(module, config, filter_fn, stored)
        super().__init__(module, 'reference', reason, config, self._nested.num_quantized,
                         threads)

    def _switch(self, bits):
        self._nested.set_bit_width(bits)

    def to(self, device: str) -> 'AgentRuntime':
        self._nested.to(device)
        self.device = str(device)
        return self


class _Int8Runtime(AgentRuntime):
    # The module keeps its fake-quantized float nn.Linear layers aside and runs torch's dynamic
    # int8 Linear built from them; a switch rewrites the float weights, then rebuilds the int8
    # layers (O(weights)).
    def __init__(self, module, reason, config, filter_fn, threads, stored):
        self._nested = _nested(module, config, filter_fn, stored)
        self._float = [(fqn, child) for fqn, child in module.named_modules()
                       if isinstance(child, nn.Linear)]
        self._root = module
        self._requantize()
        super().__init__(module, 'int8', reason, config, self._nested.num_quantized, threads)

    def _requantize(self) -> None:
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # torch.ao.quantization is deprecated, still works
            for fqn, linear in self._float:
                linear.qconfig = torch.ao.quantization.default_dynamic_qconfig
                _replace(self._root, fqn, DynamicLinear.from_float(linear))

    def _switch(self, bits):
        self._nested.set_bit_width(bits)
        self._requantize()


class _LibraryRuntime(AgentRuntime):
    # Every nn.Linear (and patchify Conv2d) becomes a LutLinear holding the forms ``kernel``
    # names; one shared BitWidth carries b and its route.
    def __init__(self, module, kernel, reason, config, filter_fn, threads, library, stored):
        from qcoinf_ros.core.lut.linear import BitWidth, is_patchify_conv, LutConv2d, LutLinear
        forms = kernel.split('+')
        self._state = BitWidth(config.b_max, routes=(forms[0],) * config.b_max)
        self._variant = library.variant  # the layers pack for the variant in use now
        self._cached: list[tuple[nn.Parameter, list[torch.Tensor]]] = []
        self._layers: list[LutLinear] = []
        planes = config.b_max if 'lut' in forms else 0
        codes = 'qint8' in forms
        count, seen = 0, set()
        filter_fn = filter_fn or default_filter
        with torch.no_grad():
            for fqn, child in list(module.named_modules()):
                weight = getattr(child, 'weight', None)
                if not isinstance(weight, torch.Tensor) or not filter_fn(child, fqn):
                    continue
                check_weight(weight, f'{fqn}.weight')
                qt = stored_or_quantized(weight, config, stored.get(f'{fqn}.weight'),
                                         f'{fqn}.weight')
                count += weight.numel()
                if isinstance(child, nn.Linear):
                    new = LutLinear.from_linear(child, qt, self._state, library, threads,
                                                planes, codes)
                    self._layers.append(new)
                elif is_patchify_conv(child):
                    new = LutConv2d(child, qt, self._state, library, threads, planes, codes)
                    self._layers.append(new.linear)
                else:
                    if id(weight) not in seen:  # tied weights: one cache
                        seen.add(id(weight))
                        self._cached.append((weight, [
                            dequantize_codes(
                                reduce_codes(qt.codes, config.b_max, b, config.scheme),
                                qt.scale, b, config.scheme, weight.dtype)
                            for b in range(1, config.b_max + 1)]))
                        weight.data = self._cached[-1][1][-1]
                    continue
                _replace(module, fqn, new)
        if not count:
            raise ValueError(f'filter_fn selected no weight to quantize in '
                             f'{type(module).__name__}')
        super().__init__(module, kernel, reason, config, count, threads)

    @property
    def isa(self) -> str:
        from qcoinf_ros.core.lut.library import VARIANTS
        return VARIANTS[self._variant]

    @property
    def dequantized_layers(self) -> int:
        """Quantizable layers the kernels cannot run (switched by reference, not copied)."""
        return len(self._cached)

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(r for r in ('lut', 'qint8') if self._layers and all(
            layer.runs(r, b) for layer in self._layers for b in
            (range(1, self.b_max + 1) if r == 'lut' else (1,))))

    @property
    def routes(self) -> tuple[str, ...]:
        return self._state.routes

    def set_routes(self, routes) -> tuple[str, ...]:
        routes = tuple(routes)
        missing = [f'b = {b} on {r}' for b, r in enumerate(routes, 1)
                   if len(routes) == self.b_max and self._layers
                   and not self._layers[0].runs(r, b)]
        if missing:
            raise ValueError(f'cannot route {", ".join(missing)}: the layers no longer hold it '
                             f'(kernel {self.kernel}, trimmed)')
        return self._state.set_routes(routes)

    def trim(self) -> int:
        return sum(layer.trim() for layer in self._layers)

    @property
    def packed_nbytes(self) -> int:
        return sum(layer.packed_nbytes for layer in self._layers)

    def _switch(self, bits):
        self._state.set(bits)
        for weight, per_bits in self._cached:
            weight.data = per_bits[bits - 1]


def _replace(root: nn.Module, fqn: str, new: nn.Module) -> None:
    parent_name, _, attr = fqn.rpartition('.')
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, attr, new)


def build_runtime(module: nn.Module, kernel: str = 'auto', scheme: str = 'uniform',
                  b_max: int = 8, granularity: str = 'per_tensor',
                  bit_width: int | None = None, threads: int = 1,
                  filter_fn: FilterFn | None = None,
                  stored: Mapping[str, QuantizedTensor] | None = None,
                  device: str = 'cpu') -> AgentRuntime:
    """
    Quantize ``module`` in place at ``b_max`` bits and run it on ``kernel`` (see the module).

    Returns the :class:`AgentRuntime` (its ``module`` is ``module``, changed in place: layers
    replaced for ``lut`` and ``int8``, weights rewritten for ``reference``), at ``bit_width``
    (default ``b_max``).
    ``threads`` is the library kernels' thread count (``lut``, ``qint8``; torch's own are set
    apart, e.g. by the agent's ``threads`` parameter).
    ``stored``: codes already kept at ``b_max`` per weight name (e.g.
    :attr:`SplitModel.stored_codes <qcoinf_ros.core.models.base.SplitModel.stored_codes>`), run as
    they are where scheme and granularity match instead of quantizing the weights again.
    ``device``: where the module runs (``'cpu'``, or ``'cuda:N'`` with the reference kernel);
    it is quantized on the host, then moved with its codes.
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f'module must be a torch.nn.Module, got {type(module).__name__}')
    config = QuantConfig(check_scheme(scheme), b_max, b_max, check_granularity(granularity))
    threads = require_int_in_range('threads', threads, 1, 256)
    name, reason = resolve_kernel(kernel, scheme, device)
    stored = dict(stored or {})
    runtime: AgentRuntime
    if name in LIBRARY_KERNELS:
        from qcoinf_ros.core.lut.library import load_library
        runtime = _LibraryRuntime(module, name, reason, config, filter_fn, threads,
                                  load_library(), stored)
    elif name == 'int8':
        runtime = _Int8Runtime(module, reason, config, filter_fn, threads, stored)
    else:
        runtime = _ReferenceRuntime(module, reason, config, filter_fn, threads, stored)
    wanted = (config.scheme, config.bits, config.granularity)
    runtime.stored_weights = sum(1 for qt in stored.values()
                                 if (qt.scheme, qt.bits, qt.granularity) == wanted)
    if str(device) != 'cpu':
        runtime.to(device)
    if bit_width is not None:
        runtime.set_bit_width(bit_width)
    return runtime
