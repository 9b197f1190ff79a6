"""
Loading the compiled kernel library (``csrc/qlut.cpp``) with ctypes.

``setup.py`` builds the library as an optional extension (plain C ABI: no Python.h, no torch
headers), so ``pip install``, ``colcon build`` and ``colcon build --symlink-install`` all
produce ``qcoinf_ros/core/lut/_qlut*.so``. Where it could not be built (no C++ compiler), or is
missing, :func:`load_library` returns ``None`` and :func:`library_status` says why; the agent
then runs the dequantized reference path and logs that it does.

``QCOINF_LUT_LIBRARY=/path/to/_qlut.so`` loads another build (tests, cross-checks);
``QLUT_VARIANT=scalar|avx2|avx512|neon`` forces an ISA variant (it must be supported).
"""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path

import numpy as np
import torch

__all__ = ['VARIANTS', 'KernelLibrary', 'load_library', 'library_status', 'library_path',
           'ABI_VERSION']

#: ISA variants, in the library's numbering.
VARIANTS = ('scalar', 'avx2', 'avx512', 'neon')
#: The C ABI this module speaks (QLUT_ABI_VERSION in qlut.h).
ABI_VERSION = 2
_ERRORS = {-1: 'invalid argument', -2: 'variant not supported on this CPU', -3: 'out of memory'}

_status = 'not loaded yet'


def library_path() -> Path | None:
    """Path of the library to load: ``$QCOINF_LUT_LIBRARY`` or the one built into the package."""
    override = os.environ.get('QCOINF_LUT_LIBRARY')
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    found = sorted(here.glob('_qlut*.so')) + sorted(here.glob('_qlut*.dylib'))
    return found[0] if found else None


class KernelLibrary:
    """The loaded library: variant selection, weight packing, the plane and the int8 GEMMs."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            lib = ctypes.CDLL(str(self.path))
        except OSError as exc:
            raise ValueError(f'cannot load the kernel library {str(self.path)!r}: {exc}') from exc
        lib.qlut_abi_version.restype = ctypes.c_int
        abi = lib.qlut_abi_version()
        if abi != ABI_VERSION:
            raise ValueError(f'kernel library {str(self.path)!r} speaks ABI {abi}, this package '
                             f'needs {ABI_VERSION}: rebuild it (colcon build / pip install)')
        lib.qlut_best_variant.restype = ctypes.c_int
        lib.qlut_variant_supported.restype = ctypes.c_int
        lib.qlut_variant_supported.argtypes = [ctypes.c_int]
        lib.qlut_build_info.restype = ctypes.c_char_p
        lib.qlut_packed_bytes.restype = ctypes.c_int64
        lib.qlut_packed_bytes.argtypes = [ctypes.c_int] * 4
        lib.qlut_pack.restype = ctypes.c_int
        lib.qlut_pack.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                  ctypes.c_int, ctypes.c_void_p]
        lib.qlut_linear.restype = ctypes.c_int
        lib.qlut_linear.argtypes = [
            ctypes.c_int, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_void_p,
            ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_void_p, ctypes.c_int]
        lib.qlut_int8_packed_bytes.restype = ctypes.c_int64
        lib.qlut_int8_packed_bytes.argtypes = [ctypes.c_int] * 2
        lib.qlut_int8_pack.restype = ctypes.c_int
        lib.qlut_int8_pack.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                       ctypes.c_void_p]
        lib.qlut_int8_linear.restype = ctypes.c_int
        lib.qlut_int8_linear.argtypes = lib.qlut_linear.argtypes
        self._lib = lib
        self._linear = lib.qlut_linear
        self._int8_linear = lib.qlut_int8_linear
        best = lib.qlut_best_variant()
        if best < 0:
            raise ValueError(f'QLUT_VARIANT={os.environ.get("QLUT_VARIANT")!r} is not a '
                             f'supported variant here (supported: {self.supported})')
        self.variant = best
        self.build_info = lib.qlut_build_info().decode()

    @property
    def variant_name(self) -> str:
        """Name of the variant in use (the best this CPU supports, unless forced)."""
        return VARIANTS[self.variant]

    @property
    def supported(self) -> list[str]:
        """Variants this CPU (and build) can run."""
        return [name for v, name in enumerate(VARIANTS) if self._lib.qlut_variant_supported(v)]

    def variant_id(self, variant: str | int | None) -> int:
        """Return the number of ``variant`` (a name, a number, or ``None``: the one in use)."""
        if variant is None:
            return self.variant
        vid = VARIANTS.index(variant) if variant in VARIANTS else variant
        if not isinstance(vid, int) or not 0 <= vid < len(VARIANTS):
            raise ValueError(f'Invalid kernel variant: "{variant}" (expected one of {VARIANTS})')
        if not self._lib.qlut_variant_supported(vid):
            raise ValueError(f'kernel variant "{VARIANTS[vid]}" is not supported here '
                             f'(supported: {self.supported})')
        return vid

    def pack(self, planes: np.ndarray, k: int, variant: str | int | None = None) -> np.ndarray:
        """Pack plane bits ``uint8 [P][N][Kp/8]`` into the variant's layout (a byte array)."""
        vid = self.variant_id(variant)
        planes = np.ascontiguousarray(planes, dtype=np.uint8)
        if planes.ndim != 3 or planes.shape[2] * 8 != -(-k // 16) * 16:
            raise ValueError(f'planes must be [P][N][Kp/8] with Kp = {-(-k // 16) * 16} for '
                             f'k = {k}, got shape {planes.shape}')
        p, n, _ = planes.shape
        size = self._lib.qlut_packed_bytes(vid, p, n, k)
        if size < 0:
            raise ValueError(f'cannot pack {p} planes of {n} x {k}: {_ERRORS.get(size, size)}')
        out = np.empty(size, dtype=np.uint8)
        rc = self._lib.qlut_pack(vid, planes.ctypes.data, p, n, k, out.ctypes.data)
        if rc != 0:
            raise ValueError(f'qlut_pack failed: {_ERRORS.get(rc, rc)}')
        return out

    def linear(self, x: torch.Tensor, packed: torch.Tensor, planes: int, bits: int, n: int,
               wscale: torch.Tensor, bias: torch.Tensor | None, out: torch.Tensor,
               threads: int = 1, variant: int | None = None) -> torch.Tensor:
        """
        ``out = x . w_bits^T (+ bias)`` for contiguous float32 CPU tensors (no copies).

        ``x``: ``M x K``; ``packed``: the uint8 tensor from :meth:`pack` (same variant);
        ``wscale``, ``bias``: ``N`` floats; ``out``: ``M x N``. Arguments are trusted (the
        hot path of :class:`~qcoinf_ros.core.lut.linear.LutLinear`, which checks them once).
        """
        m, k = x.shape
        rc = self._linear(self.variant if variant is None else variant, x.data_ptr(), m, k,
                          packed.data_ptr(), planes, bits, n, wscale.data_ptr(),
                          None if bias is None else bias.data_ptr(), out.data_ptr(), threads)
        if rc != 0:
            raise ValueError(f'qlut_linear failed: {_ERRORS.get(rc, rc)}')
        return out

    def int8_pack(self, codes, code_bits: int) -> np.ndarray:
        """
        Pack unsigned ``code_bits``-bit codes ``N x K`` for :meth:`int8_linear` (a byte array).

        ``codes``: ``u = (v + 2^B - 1) / 2`` (:func:`~qcoinf_ros.core.lut.planes.unsigned_codes`)
        as an integer array or tensor; one layout serves every variant and every ``b <= B``.
        """
        if isinstance(code_bits, bool) or not isinstance(code_bits, (int, np.integer)) \
                or not 1 <= code_bits <= 8:
            raise ValueError(f'code_bits must be an integer in [1, 8], got {code_bits!r}')
        if isinstance(codes, torch.Tensor):
            codes = codes.detach().cpu().numpy()
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.dtype.kind not in 'iu':
            raise ValueError(f'codes must be an N x K integer matrix, got shape {codes.shape} '
                             f'and dtype {codes.dtype}')
        if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= 2 ** code_bits):
            raise ValueError(f'codes must lie in [0, 2**{code_bits}), got values in '
                             f'[{int(codes.min())}, {int(codes.max())}]')
        n, k = codes.shape
        size = self._lib.qlut_int8_packed_bytes(n, k)
        if size < 0:
            raise ValueError(f'cannot pack int8 codes of shape {codes.shape}: '
                             f'{_ERRORS.get(size, size)}')
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        out = np.empty(size, dtype=np.uint8)
        rc = self._lib.qlut_int8_pack(codes.ctypes.data, int(code_bits), n, k, out.ctypes.data)
        if rc != 0:
            raise ValueError(f'qlut_int8_pack failed: {_ERRORS.get(rc, rc)}')
        return out

    def int8_linear(self, x: torch.Tensor, packed: torch.Tensor, code_bits: int, bits: int,
                    n: int, wscale: torch.Tensor, bias: torch.Tensor | None, out: torch.Tensor,
                    threads: int = 1, variant: int | None = None) -> torch.Tensor:
        """
        ``out = x . w_bits^T (+ bias)`` on the int8 kernels, from :meth:`int8_pack` 's bytes.

        The arithmetic is :mod:`qcoinf_ros.core.lut.int8_reference`'s. ``x``: ``M x K``,
        ``wscale``,
        ``bias``: ``N`` floats, ``out``: ``M x N``, all contiguous float32 CPU tensors (not
        checked: the hot path); ``bits`` in ``[1, code_bits]`` (checked: ``ValueError``).
        """
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) \
                or not 1 <= bits <= code_bits:
            raise ValueError(f'bits must be an integer in [1, code_bits={code_bits}], got '
                             f'{bits!r}')
        m, k = x.shape
        rc = self._int8_linear(self.variant if variant is None else variant, x.data_ptr(), m, k,
                               packed.data_ptr(), code_bits, bits, n, wscale.data_ptr(),
                               None if bias is None else bias.data_ptr(), out.data_ptr(),
                               threads)
        if rc != 0:
            raise ValueError(f'qlut_int8_linear failed: {_ERRORS.get(rc, rc)}')
        return out


@functools.lru_cache(maxsize=1)
def _load() -> KernelLibrary | None:
    global _status
    path = library_path()
    if path is None:
        _status = ('the kernel library was not built into this installation (no C++ compiler '
                   'when it was installed? install build-essential and rebuild)')
        return None
    try:
        lib = KernelLibrary(path)
    except ValueError as exc:
        _status = str(exc)
        return None
    _status = f'{lib.variant_name} kernels ({lib.path.name}, {lib.build_info})'
    return lib


def load_library() -> KernelLibrary | None:
    """Return the kernel library, loaded once; ``None`` if it is not available (see the status)."""
    return _load()


def library_status() -> str:
    """Which kernels are in use, or why none are (after :func:`load_library`)."""
    _load()
    return _status
