"""
The int8 kernels (qlut_int8_*): one u8 x s8 GEMM per bit-width on the stored codes, exactly.

Every variant this CPU runs is checked bit for bit against the numpy specification
(qcoinf_ros/core/lut/int8_reference.py); the others as test_lut_kernels.py checks the plane
kernels: the AVX2 and AVX-512 code on SIMDe's portable intrinsics, the NEON code cross-compiled and
run under qemu-user (with and without the dot-product extension).
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

from qcoinf_ros.core.lut.int8_reference import (
    int8_error_bound, int8_linear_reference, quantize_rows, reduced_codes)
from qcoinf_ros.core.lut.library import KernelLibrary, load_library, VARIANTS
from qcoinf_ros.core.lut.planes import plane_bits, unsigned_codes
from qcoinf_ros.core.lut.reference import lut_linear_reference, table_error_bound
from qcoinf_ros.core.quant import dequantize_codes, QuantConfig, quantize_tensor, reduce_codes

CSRC = Path(__import__('qcoinf_ros.core.lut', fromlist=['x']).__file__).parent / 'csrc'
CXXFLAGS = ['-O3', '-std=c++17', '-ffp-contract=off']  # as setup.py builds it


def require_tools(*tools: str, files: tuple[str, ...] = ()) -> None:
    """Skip (or, under make test as root, fail) when a toolchain the test needs is missing."""
    missing = [t for t in tools if shutil.which(t) is None] + [f for f in files
                                                               if not Path(f).exists()]
    if missing:
        reason = f'missing {", ".join(missing)} (scripts/setup_toolchains.sh installs them)'
        if os.environ.get('QCOINF_REQUIRE_TOOLCHAINS') == '1':
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope='module')
def lib() -> KernelLibrary:
    library = load_library()
    if library is None:
        pytest.fail('the kernel library is not built (test_lut_kernels.py says why)')
    return library


def make_case(m, k, n, code_bits, seed=0, granularity='per_channel'):
    """Return inputs with outliers, unsigned codes of real quantized weights, scales, a bias."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(n, k, generator=gen) * 0.05 * torch.rand(n, 1, generator=gen)
    qt = quantize_tensor(w, QuantConfig('uniform', code_bits, code_bits, granularity))
    x = torch.randn(m, k, generator=gen)
    x[:, ::7] *= 10.0  # outliers: K-blocks with different scales
    bias = torch.randn(n, generator=gen)
    ws = qt.scale.reshape(-1).expand(n).contiguous().float()
    u = unsigned_codes(qt.codes, code_bits).numpy().astype(np.uint8)
    return x.contiguous(), qt, u, ws, bias


def run(lib, x, packed, code_bits, bits, ws, bias, variant=None, threads=2):
    m, n = x.shape[0], ws.numel()
    out = torch.full((m, n), float('nan'))
    lib.int8_linear(x, packed, code_bits, bits, n, ws, bias, out, threads,
                    None if variant is None else lib.variant_id(variant))
    return out.numpy()


def test_the_b_bit_code_is_the_top_b_bits_of_the_8_bit_code():
    codes = torch.from_numpy(np.random.default_rng(0).integers(0, 256, 100_000))
    u8 = unsigned_codes(codes, 8)
    for b in range(1, 9):
        u_b = unsigned_codes(reduce_codes(codes, 8, b, 'uniform'), b)
        assert torch.equal(u_b, u8 >> (8 - b)), b
        assert np.array_equal(reduced_codes(u8.numpy(), 8, b), u_b.numpy()), b


CASES = [  # m, k, n, code bits: ragged K (not a multiple of 16/32/64), M = 1, N odd, blocks
    (1, 16, 16, 8), (1, 37, 21, 8), (3, 600, 33, 8), (9, 1100, 17, 5), (17, 1030, 48, 8),
    (2, 3, 1, 1), (5, 70, 31, 7), (12, 513, 35, 8)]


@pytest.mark.parametrize('m, k, n, code_bits', CASES)
def test_every_variant_equals_the_specification_bit_for_bit(lib, m, k, n, code_bits):
    x, _, u, ws, bias = make_case(m, k, n, code_bits, seed=m + k)
    packed = torch.from_numpy(lib.int8_pack(u, code_bits))
    for b in range(1, code_bits + 1):
        use_bias = bias if b % 2 else None
        want = int8_linear_reference(x.numpy(), u, code_bits, b, ws.numpy(),
                                     None if use_bias is None else use_bias.numpy())
        for name in lib.supported:
            got = run(lib, x, packed, code_bits, b, ws, use_bias, name)
            assert np.array_equal(got, want), (name, b)


def test_random_codes_and_random_shapes_equal_the_specification(lib):
    rng = np.random.default_rng(7)
    for _ in range(6):
        m, k, n = int(rng.integers(1, 20)), int(rng.integers(1, 1300)), int(rng.integers(1, 70))
        u = rng.integers(0, 256, (n, k)).astype(np.uint8)
        x = torch.from_numpy((rng.standard_normal((m, k)) * 3).astype(np.float32))
        ws = torch.from_numpy(rng.random(n).astype(np.float32))
        bias = torch.from_numpy(rng.standard_normal(n).astype(np.float32))
        packed = torch.from_numpy(lib.int8_pack(u, 8))
        for b in range(1, 9):
            want = int8_linear_reference(x.numpy(), u, 8, b, ws.numpy(), bias.numpy())
            for name in lib.supported:
                assert np.array_equal(run(lib, x, packed, 8, b, ws, bias, name), want), \
                    (name, m, k, n, b)


def grid_inputs(m, k, seed=0, exponent=-3):
    """
    Return inputs both kernels quantize exactly (integers times ``2^exponent``).

    Every K-block holds one group ``(+-127, 0, 0, 0)`` and no group whose magnitudes sum past
    127, so the lookup tables' scale (largest sum of 4 magnitudes) and the int8 scale (largest
    magnitude) are both ``2^exponent``, and every table entry and input is a multiple of it.
    """
    rng = np.random.default_rng(seed)
    kp = -(-k // 16) * 16
    x = rng.integers(-31, 32, (m, kp)).astype(np.float64)
    for kb in range(-(-kp // 512)):
        i0 = kb * 512
        for r in range(m):
            j = i0 + 4 * int(rng.integers(0, (min(i0 + 512, k) - i0 + 3) // 4))
            x[r, j:j + 4] = 0.0
            x[r, j] = 127.0 * rng.choice((-1.0, 1.0))
    x = x[:, :k] * 2.0 ** exponent
    return torch.from_numpy(x.astype(np.float32))


@pytest.mark.parametrize('m, k, n', [(1, 16, 16), (5, 700, 37), (3, 1030, 48), (4, 513, 9)])
def test_equal_to_the_lookup_kernels_where_both_quantize_exactly(lib, m, k, n):
    _, qt, u, ws, bias = make_case(m, k, n, 8, seed=3)
    x = grid_inputs(m, k, seed=k)
    packed = torch.from_numpy(lib.int8_pack(u, 8))
    planes = plane_bits(qt.codes, 8)
    lut_packed = torch.from_numpy(lib.pack(planes, k))
    for b in range(1, 9):
        spec = int8_linear_reference(x.numpy(), u, 8, b, ws.numpy(), bias.numpy())
        assert np.array_equal(spec, lut_linear_reference(x.numpy(), planes, b, ws.numpy(),
                                                         bias.numpy())), b
        lut = torch.empty(m, n)
        lib.linear(x, lut_packed, 8, b, n, ws, bias, lut)
        for name in lib.supported:
            assert np.array_equal(run(lib, x, packed, 8, b, ws, bias, name), lut.numpy()), \
                (name, b)


@pytest.mark.parametrize('granularity', ['per_tensor', 'per_channel'])
def test_within_the_error_bounds_of_the_dequantized_product_and_of_the_lookup(lib, granularity):
    m, k, n = 12, 1300, 40
    x, qt, u, ws, bias = make_case(m, k, n, 8, seed=5, granularity=granularity)
    packed = torch.from_numpy(lib.int8_pack(u, 8))
    lut_packed = torch.from_numpy(lib.pack(plane_bits(qt.codes, 8), k))
    for b in range(1, 9):
        w_b = dequantize_codes(reduce_codes(qt.codes, 8, b, 'uniform'), qt.scale, b, 'uniform',
                               torch.float64)
        exact = (x.double() @ w_b.T + bias.double()).numpy()
        got = run(lib, x, packed, 8, b, ws, bias)
        slack = 1e-5 * np.abs(exact) + 1e-6
        bound = int8_error_bound(x.numpy(), b, ws.numpy())
        assert np.all(np.abs(got - exact) <= bound + slack), b
        lut = torch.empty(m, n)
        lib.linear(x, lut_packed, 8, b, n, ws, bias, lut)
        both = bound + table_error_bound(x.numpy(), b, ws.numpy())
        assert np.all(np.abs(got - lut.numpy()) <= both + 2 * slack), b
        # the bound is loose; the typical error is well under 1 % of the output scale
        err = got - exact
        assert np.sqrt(np.mean(err ** 2)) < 0.01 * np.abs(exact).max(), b


def test_activation_quantization_is_per_row_and_block_and_exact_on_the_grid():
    x = grid_inputs(3, 1100, seed=1, exponent=2)
    q, scales = quantize_rows(x.numpy())
    assert q.shape == (3, 1104) and scales.shape == (3, 3)
    assert np.all(scales == np.float32(4.0))
    assert np.array_equal(q[:, :1100].astype(np.float32) * 4.0, x.numpy())
    assert not q[:, 1100:].any()
    assert np.all(np.abs(q.astype(np.int64)) <= 127)


@pytest.mark.parametrize('pattern', ['max', 'min', 'alternating'])
def test_extreme_codes_and_inputs_stay_exact_at_the_int16_headroom(lib, pattern):
    # the AVX2 kernel sums vpmaddubsw pairs in int16 over H(b) quads: codes at 2^B - 1 and
    # inputs at +-127 (|x| = amax everywhere) put every partial sum at its bound
    m, k, n = 13, 1030, 40
    x = torch.ones(m, k)
    if pattern == 'min':
        x = -x
    elif pattern == 'alternating':
        x[:, 1::2] = -1.0
        x[::2] = -x[::2]
    for code_bits in (8, 7):
        u = np.full((n, k), 2 ** code_bits - 1, dtype=np.uint8)
        u[::3] = 0  # some outputs at the other end
        ws = torch.full((n,), 0.01)
        packed = torch.from_numpy(lib.int8_pack(u, code_bits))
        for b in range(1, code_bits + 1):
            want = int8_linear_reference(x.numpy(), u, code_bits, b, ws.numpy(), None)
            for name in lib.supported:
                got = run(lib, x, packed, code_bits, b, ws, None, name)
                assert np.array_equal(got, want), (pattern, code_bits, b, name)


def test_threads_do_not_change_the_result(lib):
    x, _, u, ws, bias = make_case(33, 700, 100, 8, seed=5)
    packed = torch.from_numpy(lib.int8_pack(u, 8))
    outs = [run(lib, x, packed, 8, 6, ws, bias, threads=t) for t in (1, 2, 3, 7)]
    assert all(np.array_equal(outs[0], o) for o in outs[1:])


def test_zero_inputs_give_the_bias_and_no_rows_is_a_no_op(lib):
    _, _, u, ws, bias = make_case(4, 64, 32, 8)
    packed = torch.from_numpy(lib.int8_pack(u, 8))
    for name in lib.supported:
        assert np.array_equal(run(lib, torch.zeros(4, 64), packed, 8, 3, ws, bias, name),
                              bias.expand(4, 32).numpy())
    lib.int8_linear(torch.empty(0, 64), packed, 8, 8, 32, ws, bias, torch.empty(0, 32))


def test_one_byte_per_weight_for_every_bit_width(lib):
    u = np.zeros((768, 3072), dtype=np.uint8)
    assert lib.int8_pack(u, 8).size == 768 * 3072  # N and K already whole tiles and quads


def test_bad_arguments_raise_value_error_naming_them(lib):
    _, _, u, ws, bias = make_case(2, 32, 16, 4)
    packed = torch.from_numpy(lib.int8_pack(u, 4))
    out = torch.empty(2, 16)
    with pytest.raises(ValueError, match=r'bits must be .* code_bits=4\], got 5'):
        lib.int8_linear(torch.zeros(2, 32), packed, 4, 5, 16, ws, None, out)
    with pytest.raises(ValueError, match='got 0'):
        lib.int8_linear(torch.zeros(2, 32), packed, 4, 0, 16, ws, None, out)
    with pytest.raises(ValueError, match='code_bits must be .* got 9'):
        lib.int8_pack(u, 9)
    with pytest.raises(ValueError, match=r'\[0, 2\*\*4\), got values in \[16, 16\]'):
        lib.int8_pack(np.full((2, 3), 16), 4)
    with pytest.raises(ValueError, match=r'got values in \[-1, 0\]'):
        lib.int8_pack(np.array([[-1, 0]]), 4)
    with pytest.raises(ValueError, match=r'shape \(32,\)'):
        lib.int8_pack(u[0], 4)
    with pytest.raises(ValueError, match='invalid argument'):  # the C checks stay in place
        lib.int8_linear(torch.zeros(2, 32), packed, 9, 9, 16, ws, None, out)
    with pytest.raises(ValueError, match=r'bits must be .* got 3'):
        reduced_codes(u, 2, 3)
    with pytest.raises(ValueError, match=r'\[0, 2\*\*3\), got values in \[0, 15\]'):
        reduced_codes(np.array([0, 15]), 3, 1)


def _host_has(*flags: str) -> bool:
    try:
        text = Path('/proc/cpuinfo').read_text()
    except OSError:
        return False
    line = next((ln for ln in text.splitlines() if ln.startswith('flags')), '')
    return all(f in line.split() for f in flags)


def test_x86_simd_variants_on_emulated_intrinsics_equal_the_specification(tmp_path):
    """The AVX2 and AVX-512 VNNI int8 code on SIMDe: runs on any x86-64 machine."""
    require_tools('g++', files=('/usr/include/simde/x86/avx512.h',))
    if os.uname().machine != 'x86_64':
        pytest.skip('x86-64 only: SIMDe maps the x86 intrinsics on this host architecture')
    native = _host_has('avx2', 'fma')  # SIMDe's fmadd rounds twice without FMA hardware
    lib_path = tmp_path / 'libqlut_emulated.so'
    subprocess.run(['g++', *CXXFLAGS, '-O1', '-DQLUT_EMULATE', *(['-mavx2', '-mfma'] if native
                                                                 else []),
                    '-fPIC', '-shared', '-o', str(lib_path), str(CSRC / 'qlut.cpp'), '-pthread'],
                   check=True, capture_output=True, timeout=300)
    emulated = KernelLibrary(lib_path)
    assert {'avx2', 'avx512'} <= set(emulated.supported)
    for m, k, n, code_bits in CASES[:6]:
        x, _, u, ws, bias = make_case(m, k, n, code_bits, seed=11)
        packed = torch.from_numpy(emulated.int8_pack(u, code_bits))
        for b in sorted({1, max(1, code_bits - 1), code_bits}):
            want = int8_linear_reference(x.numpy(), u, code_bits, b, ws.numpy(), bias.numpy())
            for name in ('avx2', 'avx512'):
                got = run(emulated, x, packed, code_bits, b, ws, bias, name)
                if native:
                    assert np.array_equal(got, want), (name, m, k, n, b)
                else:
                    assert np.allclose(got, want, rtol=1e-5, atol=1e-6), (name, b)


@pytest.fixture(scope='module')
def arm_driver(tmp_path_factory) -> Path:
    require_tools('aarch64-linux-gnu-g++', 'qemu-aarch64')
    out = tmp_path_factory.mktemp('arm') / 'qlut_driver'
    build = subprocess.run(['aarch64-linux-gnu-g++', *CXXFLAGS, '-static', '-o', str(out),
                            str(CSRC / 'qlut_driver.cpp'), str(CSRC / 'qlut.cpp'), '-pthread'],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    return out


def _run_int8_driver(cmd, x, u, code_bits, bits, ws, bias, tmp_path):
    m, k = x.shape
    n = ws.numel()
    (tmp_path / 'in').write_bytes(
        struct.pack('<7i', m, k, n, code_bits, bits, 1, 2) + x.numpy().astype('<f4').tobytes()
        + np.ascontiguousarray(u, dtype=np.uint8).tobytes()
        + ws.numpy().astype('<f4').tobytes() + bias.numpy().astype('<f4').tobytes())
    done = subprocess.run([*cmd, '--int8', str(tmp_path / 'in'), str(tmp_path / 'out')],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = (tmp_path / 'out').read_bytes()
    count, offset, out = struct.unpack('<i', data[:4])[0], 4, {}
    for _ in range(count):
        variant = struct.unpack('<i', data[offset:offset + 4])[0]
        offset += 4
        out[variant] = np.frombuffer(data[offset:offset + 4 * m * n], dtype='<f4').reshape(m, n)
        offset += 4 * m * n
    return out, done.stdout


@pytest.mark.parametrize('cpu, variants', [
    ('max', {0, 3}),          # ARMv8.2+ with the dot-product extension: NEON and scalar
    ('cortex-a72', {0}),      # Raspberry Pi 4 class, no dot product: scalar only
])
def test_arm_neon_build_under_qemu_equals_the_specification(arm_driver, tmp_path, cpu,
                                                            variants):
    x, _, u, ws, bias = make_case(13, 700, 37, 8, seed=7)
    for b in (1, 5, 7, 8):  # 8: the recentred codes (u - 128) of the sdot path
        want = int8_linear_reference(x.numpy(), u, 8, b, ws.numpy(), bias.numpy())
        out, stdout = _run_int8_driver(['qemu-aarch64', '-cpu', cpu, str(arm_driver)], x, u, 8,
                                       b, ws, bias, tmp_path)
        assert set(out) == variants, stdout
        assert 'build aarch64' in stdout
        for variant, y in out.items():
            assert np.array_equal(y, want), (cpu, VARIANTS[variant], b)


def test_the_driver_runs_the_int8_kernels_natively(tmp_path):
    """The driver's --int8 mode on this machine (what the qemu test relies on)."""
    require_tools('g++')
    exe = tmp_path / 'qlut_driver'
    subprocess.run(['g++', *CXXFLAGS, '-o', str(exe), str(CSRC / 'qlut_driver.cpp'),
                    str(CSRC / 'qlut.cpp'), '-pthread'], check=True, capture_output=True,
                   timeout=300)
    x, _, u, ws, bias = make_case(6, 300, 19, 8, seed=2)
    out, _ = _run_int8_driver([str(exe)], x, u, 8, 8, ws, bias, tmp_path)
    want = int8_linear_reference(x.numpy(), u, 8, 8, ws.numpy(), bias.numpy())
    assert out and all(np.array_equal(y, want) for y in out.values())
