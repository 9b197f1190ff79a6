"""
The kernel library (qcoinf_ros/core/lut/csrc): every ISA variant computes the reference's integers.

Variants this CPU runs are checked through ctypes; the others run on something that mimics them:
the AVX2 and AVX-512 code compiled against SIMDe's portable intrinsics (libsimde-dev), and the
aarch64 NEON code cross-compiled (g++-aarch64-linux-gnu) and run under qemu-user, on a CPU with
the dot-product extension and on one without (which must fall back to the scalar path).
"""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import struct
import subprocess

import numpy as np
import pytest
import torch

from qcoinf_ros.core.lut.library import KernelLibrary, load_library, VARIANTS
from qcoinf_ros.core.lut.planes import plane_bits
from qcoinf_ros.core.lut.reference import fma32, lut_linear_reference, table_error_bound
from qcoinf_ros.core.quant import dequantize_codes, QuantConfig, quantize_tensor, reduce_codes

CSRC = Path(__import__('qcoinf_ros.core.lut', fromlist=['x']).__file__).parent / 'csrc'
CXXFLAGS = ['-O3', '-std=c++17', '-ffp-contract=off']  # as setup.py builds it


def require_tools(*tools: str, files: tuple[str, ...] = ()) -> None:
    """Skip (or, under make test as root, fail) when a toolchain the test needs is missing."""
    missing = [t for t in tools if shutil.which(t) is None] + [f for f in files
                                                               if not Path(f).exists()]
    if missing:
        reason = (f'missing {", ".join(missing)} (scripts/setup_toolchains.sh installs them)')
        if os.environ.get('QCOINF_REQUIRE_TOOLCHAINS') == '1':
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope='module')
def lib() -> KernelLibrary:
    library = load_library()
    if library is None:
        from qcoinf_ros.core.lut.library import library_status
        if shutil.which('c++') or shutil.which('g++'):
            pytest.fail(f'a C++ compiler is here but the kernel library is not: '
                        f'{library_status()}')
        pytest.skip(f'no C++ compiler, no kernel library: {library_status()}')
    return library


def make_case(m, k, n, planes, granularity='per_channel', seed=0):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(n, k, generator=gen) * 0.05 * torch.rand(n, 1, generator=gen)
    qt = quantize_tensor(w, QuantConfig('uniform', planes, planes, granularity))
    x = torch.randn(m, k, generator=gen)
    x[:, ::7] *= 10.0  # outliers: K-blocks with different scales
    bias = torch.randn(n, generator=gen)
    ws = qt.scale.reshape(-1).expand(n).contiguous().float()
    return x.contiguous(), qt, plane_bits(qt.codes, planes), ws, bias


CASES = [  # m, k, n, planes: tails in every dimension, one and several K-blocks
    (1, 16, 16, 8), (3, 37, 21, 8), (9, 600, 40, 5), (17, 1100, 33, 8), (8, 512, 16, 4),
    (20, 1024, 48, 8), (2, 3, 1, 1)]


@pytest.mark.parametrize('m, k, n, planes', CASES)
def test_every_variant_equals_the_reference_bit_for_bit(lib, m, k, n, planes):
    x, qt, bits_in, ws, bias = make_case(m, k, n, planes)
    for b in sorted({1, (planes + 1) // 2, planes}):
        for use_bias in (True, False):
            want = lut_linear_reference(x.numpy(), bits_in, b, ws.numpy(),
                                        bias.numpy() if use_bias else None)
            for name in lib.supported:
                packed = torch.from_numpy(lib.pack(bits_in, k, name))
                out = torch.full((m, n), float('nan'))
                lib.linear(x, packed, planes, b, n, ws, bias if use_bias else None, out,
                           threads=2, variant=lib.variant_id(name))
                assert np.array_equal(out.numpy(), want), (name, b, use_bias)


@pytest.mark.parametrize('m, k, n', [
    (40, 700, 150),    # several tile groups, K-blocks inside them, handed out to the threads
    (300, 1800, 150),  # every row's tables over 1 MB: larger tile groups
])
def test_tile_groups_and_any_thread_count_equal_the_reference(lib, m, k, n):
    x, qt, bits_in, ws, bias = make_case(m, k, n, 8, seed=7)
    for b in (1, 8):
        want = lut_linear_reference(x.numpy(), bits_in, b, ws.numpy(), bias.numpy())
        for name in lib.supported:
            packed = torch.from_numpy(lib.pack(bits_in, k, name))
            for threads in (1, 2, 3, 16):
                out = torch.full((m, n), float('nan'))
                lib.linear(x, packed, 8, b, n, ws, bias, out, threads=threads,
                           variant=lib.variant_id(name))
                assert np.array_equal(out.numpy(), want), (name, b, threads)


@pytest.mark.parametrize('granularity', ['per_tensor', 'per_channel'])
def test_output_is_the_dequantized_product_within_the_table_error_bound(lib, granularity):
    m, k, n, planes = 12, 1300, 40, 8
    x, qt, bits_in, ws, bias = make_case(m, k, n, planes, granularity, seed=3)
    packed = torch.from_numpy(lib.pack(bits_in, k))
    for b in range(1, planes + 1):
        w_b = dequantize_codes(reduce_codes(qt.codes, planes, b, 'uniform'), qt.scale, b,
                               'uniform', torch.float64)
        exact = (x.double() @ w_b.T + bias.double()).numpy()
        out = torch.empty(m, n)
        lib.linear(x, packed, planes, b, n, ws, bias, out)
        err = np.abs(out.numpy() - exact)
        bound = table_error_bound(x.numpy(), b, ws.numpy())
        assert np.all(err <= bound + 1e-5 * np.abs(exact) + 1e-6), b
        # the bound is loose; the typical error is ~1 % of the output scale
        assert np.sqrt(np.mean(err ** 2)) < 0.02 * np.abs(exact).max(), b


def test_threads_do_not_change_the_result(lib):
    x, qt, bits_in, ws, bias = make_case(33, 700, 100, 8, seed=5)
    packed = torch.from_numpy(lib.pack(bits_in, 700))
    outs = []
    for threads in (1, 2, 3, 7):
        out = torch.empty(33, 100)
        lib.linear(x, packed, 8, 6, 100, ws, bias, out, threads=threads)
        outs.append(out)
    assert all(torch.equal(outs[0], o) for o in outs[1:])


def test_zero_inputs_give_the_bias_and_no_rows_is_a_no_op(lib):
    _, qt, bits_in, ws, bias = make_case(4, 64, 32, 8)
    packed = torch.from_numpy(lib.pack(bits_in, 64))
    out = torch.empty(4, 32)
    lib.linear(torch.zeros(4, 64), packed, 8, 8, 32, ws, bias, out)
    assert torch.equal(out, bias.expand(4, 32))
    empty = torch.empty(0, 32)
    lib.linear(torch.empty(0, 64), packed, 8, 8, 32, ws, bias, empty)


def test_packing_takes_one_bit_per_weight_and_plane(lib):
    k, n, planes = 1024, 768, 8
    bits_in = np.random.default_rng(0).integers(0, 256, (planes, n, k // 8), dtype=np.uint8)
    for name in lib.supported:
        size = lib.pack(bits_in, k, name).size
        # the AVX2 layout adds int16 mirror-sign sums: 2 bytes per output, plane, K-block
        assert planes * n * k / 8 <= size <= 1.04 * planes * n * k / 8, name


def test_bad_arguments_raise_value_error_naming_them(lib):
    _, qt, bits_in, ws, bias = make_case(2, 32, 16, 4)
    packed = torch.from_numpy(lib.pack(bits_in, 32))
    out = torch.empty(2, 16)
    with pytest.raises(ValueError, match='invalid argument'):
        lib.linear(torch.zeros(2, 32), packed, 4, 5, 16, ws, None, out)  # bits > planes
    with pytest.raises(ValueError, match='Kp = 32'):
        lib.pack(bits_in[:, :, :1], 32)
    with pytest.raises(ValueError, match='Invalid kernel variant'):
        lib.variant_id('sse9')
    unsupported = [v for v in VARIANTS if v not in lib.supported]
    for name in unsupported:
        with pytest.raises(ValueError, match='not supported here'):
            lib.variant_id(name)


def test_the_reference_fma_rounds_once():
    a = np.float32(1.0 + 2.0 ** -23)
    # a*a = 1 + 2^-22 + 2^-46: fma(a, a, -1) keeps the 2^-46 that a rounded product loses
    assert fma32(a, a, np.float32(-1.0)) == np.float32(2.0 ** -22 + 2.0 ** -46)
    assert np.float32(a * a) - np.float32(1.0) == np.float32(2.0 ** -22)
    rng = np.random.default_rng(1)
    x, y, z = (rng.standard_normal(1000).astype(np.float32) for _ in range(3))
    exact = x.astype(np.float64) * y.astype(np.float64) + z.astype(np.float64)
    assert np.array_equal(fma32(x, y, z), exact.astype(np.float32))


def _host_has(*flags: str) -> bool:
    try:
        text = Path('/proc/cpuinfo').read_text()
    except OSError:
        return False
    line = next((ln for ln in text.splitlines() if ln.startswith('flags')), '')
    return all(f in line.split() for f in flags)


def test_x86_simd_variants_on_emulated_intrinsics_equal_the_reference(tmp_path):
    """The AVX2 and AVX-512 VBMI/VNNI code on SIMDe: runs on any x86-64 machine."""
    require_tools('g++', files=('/usr/include/simde/x86/avx512.h',))
    if os.uname().machine != 'x86_64':
        pytest.skip('x86-64 only: SIMDe maps the x86 intrinsics on this host architecture')
    # on an AVX2+FMA host SIMDe uses the real fused multiply-add, so results are bit-exact
    native = _host_has('avx2', 'fma')
    lib_path = tmp_path / 'libqlut_emulated.so'
    subprocess.run(['g++', *CXXFLAGS, '-O1', '-DQLUT_EMULATE', *(['-mavx2', '-mfma'] if native
                                                                 else []),
                    '-fPIC', '-shared', '-o', str(lib_path), str(CSRC / 'qlut.cpp'), '-pthread'],
                   check=True, capture_output=True, timeout=300)
    emulated = KernelLibrary(lib_path)
    assert 'emulated' in emulated.build_info
    assert {'avx2', 'avx512'} <= set(emulated.supported)
    for m, k, n, planes in CASES[:6]:
        x, qt, bits_in, ws, bias = make_case(m, k, n, planes, seed=11)
        for b in (1, planes):
            want = lut_linear_reference(x.numpy(), bits_in, b, ws.numpy(), bias.numpy())
            for name in ('avx2', 'avx512'):
                packed = torch.from_numpy(emulated.pack(bits_in, k, name))
                out = torch.empty(m, n)
                emulated.linear(x, packed, planes, b, n, ws, bias, out, threads=2,
                                variant=emulated.variant_id(name))
                if native:
                    assert np.array_equal(out.numpy(), want), (name, m, k, n, b)
                else:  # SIMDe's fmadd without FMA hardware rounds twice
                    assert np.allclose(out.numpy(), want, rtol=1e-5, atol=1e-6), (name, b)


def _run_driver(cmd: list[str], case, bits: int, tmp_path: Path) -> dict[int, np.ndarray]:
    x, _, bits_in, ws, bias = case
    m, k = x.shape
    n = ws.numel()
    (tmp_path / 'in').write_bytes(
        struct.pack('<7i', m, k, n, bits_in.shape[0], bits, 1, 2) + x.numpy().tobytes()
        + bits_in.tobytes() + ws.numpy().astype('<f4').tobytes()
        + bias.numpy().astype('<f4').tobytes())
    run = subprocess.run([*cmd, str(tmp_path / 'in'), str(tmp_path / 'out')],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    data = (tmp_path / 'out').read_bytes()
    count, offset, out = struct.unpack('<i', data[:4])[0], 4, {}
    for _ in range(count):
        variant = struct.unpack('<i', data[offset:offset + 4])[0]
        offset += 4
        out[variant] = np.frombuffer(data[offset:offset + 4 * m * n], dtype='<f4').reshape(m, n)
        offset += 4 * m * n
    return out, run.stdout


@pytest.fixture(scope='module')
def arm_driver(tmp_path_factory) -> Path:
    require_tools('aarch64-linux-gnu-g++', 'qemu-aarch64')
    out = tmp_path_factory.mktemp('arm') / 'qlut_driver'
    build = subprocess.run(['aarch64-linux-gnu-g++', *CXXFLAGS, '-static', '-o', str(out),
                            str(CSRC / 'qlut_driver.cpp'), str(CSRC / 'qlut.cpp'), '-pthread'],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    return out


@pytest.mark.parametrize('cpu, variants', [
    ('max', {0, 3}),          # ARMv8.2+ with the dot-product extension: NEON and scalar
    ('cortex-a72', {0}),      # Raspberry Pi 4 class, no dot product: scalar only
])
def test_arm_neon_build_under_qemu_equals_the_reference(arm_driver, tmp_path, cpu, variants):
    case = make_case(13, 700, 37, 8, seed=7)
    want = lut_linear_reference(case[0].numpy(), case[2], 5, case[3].numpy(), case[4].numpy())
    out, stdout = _run_driver(['qemu-aarch64', '-cpu', cpu, str(arm_driver)], case, 5, tmp_path)
    assert set(out) == variants, stdout
    assert 'build aarch64' in stdout
    for variant, y in out.items():
        assert np.array_equal(y, want), (cpu, VARIANTS[variant])


@pytest.mark.jetson
def test_a_jetson_runs_the_neon_kernels_natively(lib):
    """On the robot itself: the dot-product NEON variant is chosen and equals the reference."""
    assert lib.variant_name == 'neon', lib.supported
    x, qt, bits_in, ws, bias = make_case(197, 768, 64, 8, seed=4)
    packed = torch.from_numpy(lib.pack(bits_in, 768))
    for b in (1, 4, 8):
        out = torch.empty(197, 64)
        lib.linear(x, packed, 8, b, 64, ws, bias, out, threads=4)
        assert np.array_equal(out.numpy(), lut_linear_reference(x.numpy(), bits_in, b,
                                                                ws.numpy(), bias.numpy()))
