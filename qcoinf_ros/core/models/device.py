"""
Where a model part runs: the device (``cpu``, ``cuda``, ``cuda:N``, ``auto``) and its dtype.

The paper's edge server is two RTX 3090s; the server part runs on a GPU wherever one is, in
``float16`` or ``bfloat16`` if asked (the agent's quantized part keeps ``float32``: its weights
are the dequantized codes). :func:`resolve_device` turns the node parameters into a
:class:`Placement` or a ``ValueError`` that says why not (no CUDA, a device index the machine
lacks, an unknown name); :func:`place` moves a module there and turns CUDA's own errors (out of
memory, a device that went away) into :class:`DeviceError` (a ``ValueError``), so a node
refuses its configure transition with the reason and keeps running unconfigured: the device may
be free later (another process held its memory), and the lifecycle ``configure`` can be asked
again. :func:`upload` copies a host tensor
to the device through pinned memory (asynchronous with respect to the host),
:func:`synchronize` waits for the device before a time is read.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Any, TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it is used: the nodes' parameters need none of it
    import torch
    from torch import nn

__all__ = ['DEVICES_HELP', 'DTYPES', 'DeviceError', 'Placement', 'resolve_device', 'place',
           'upload', 'synchronize']

#: The dtypes a part may run in (``torch.<name>``).
DTYPES = ('float32', 'float16', 'bfloat16')
DEVICES_HELP = 'cpu, cuda, cuda:N or auto (CUDA when available, else the CPU)'
_SPEC = re.compile(r'(cpu|auto|cuda)(?::(\d{1,3}))?')


class DeviceError(ValueError):
    """The device cannot take the part now (none, out of memory, a CUDA error); may pass."""


@dataclass(frozen=True)
class Placement:
    """A resolved device (``'cpu'`` or ``'cuda:N'``), a dtype name, and how it was chosen."""

    device: str
    dtype: str
    name: str  # 'cpu' or the GPU's name
    note: str  # what was asked and what was chosen, for the log

    @property
    def is_cuda(self) -> bool:
        """Whether this is a CUDA device."""
        return self.device.startswith('cuda')

    @property
    def torch_device(self) -> 'torch.device':
        """Return the ``torch.device``."""
        import torch
        return torch.device(self.device)

    @property
    def torch_dtype(self) -> 'torch.dtype':
        """Return the ``torch.dtype``."""
        import torch
        return getattr(torch, self.dtype)


def resolve_device(spec: str, dtype: str = 'float32', *, cuda: Any = None) -> Placement:
    """
    Resolve the ``device`` and ``dtype`` parameter values into a :class:`Placement`.

    ``cuda``: what answers ``is_available()``, ``device_count()`` and ``get_device_name(i)``
    (default ``torch.cuda``). Raises ``ValueError`` naming the value for an unknown device or
    dtype, :class:`DeviceError` for ``cuda``/``cuda:N`` without a CUDA device or an index the
    machine does not have.
    """
    if cuda is None:
        import torch
        cuda = torch.cuda
    if dtype not in DTYPES:
        raise ValueError(f'dtype must be one of {", ".join(DTYPES)}, got {dtype!r}')
    match = _SPEC.fullmatch(spec) if isinstance(spec, str) else None
    if match is None or (match.group(2) is not None and match.group(1) != 'cuda'):
        raise ValueError(f'device must be {DEVICES_HELP}, got {spec!r}')
    kind, index = match.group(1), match.group(2)
    if kind == 'cpu':
        return Placement('cpu', dtype, 'cpu', f'device cpu, {dtype}')
    available = bool(cuda.is_available())
    if kind == 'auto':
        if not available:
            return Placement('cpu', dtype, 'cpu',
                             f'device auto: no CUDA device (torch.cuda.is_available() is False), '
                             f'running on the CPU, {dtype}')
        name = str(cuda.get_device_name(0))
        return Placement('cuda:0', dtype, name, f'device auto: CUDA device 0 ({name}), {dtype}')
    if not available:
        raise DeviceError(f'device {spec!r}: no CUDA device on this machine '
                          '(torch.cuda.is_available() is False)')
    count = int(cuda.device_count())
    number = int(index or 0)
    if number >= count:
        raise DeviceError(f'device {spec!r}: this machine has {count} CUDA device(s), '
                          f'cuda:0..cuda:{count - 1}')
    name = str(cuda.get_device_name(number))
    return Placement(f'cuda:{number}', dtype, name, f'device cuda:{number} ({name}), {dtype}')


def place(module: 'nn.Module', placement: Placement, *, what: str = 'model',
          dtype: bool = True) -> 'nn.Module':
    """
    Move ``module`` to the placement's device (and dtype, unless ``dtype`` is false).

    CUDA's errors (out of memory, no kernel image for this GPU, a lost device) become
    :class:`DeviceError` naming the device and ``what`` was being placed.
    """
    import torch
    try:
        if dtype:
            return module.to(placement.torch_device, placement.torch_dtype)
        return module.to(placement.torch_device)
    except torch.cuda.OutOfMemoryError as exc:
        raise DeviceError(f'{what} on {placement.device} ({placement.name}): out of GPU '
                          f'memory: {str(exc).splitlines()[0]}') from exc
    except RuntimeError as exc:
        if not placement.is_cuda:
            raise
        raise DeviceError(f'{what} on {placement.device} ({placement.name}): '
                          f'{str(exc).splitlines()[0]}') from exc


def upload(tensor: 'torch.Tensor', placement: Placement) -> 'torch.Tensor':
    """Copy a host tensor to the device: through pinned memory and asynchronously on CUDA."""
    if not placement.is_cuda:
        return tensor
    return tensor.pin_memory().to(placement.torch_device, non_blocking=True)


def synchronize(placement: Placement) -> None:
    """Wait for the device's queued work (before a time is read); nothing on the CPU."""
    if placement.is_cuda:
        import torch
        torch.cuda.synchronize(placement.torch_device)
