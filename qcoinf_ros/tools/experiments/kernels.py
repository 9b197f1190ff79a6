"""
The kernel envelope: every bit-width on its fastest exact kernel, against eq. (4), fp32 and int8.

Eq. (4) prices the agent at ``b / b_orig`` of its full-precision cycles: 8-bit weights would run
4x faster than fp32, 1-bit weights 32x. The agent runs each ``b`` on one of two exact kernels of
the package's library (:mod:`qcoinf_ros.core.lut`) over the same stored codes: the bit-plane
lookup tables (``lut``: ``b`` passes, a cost that grows with ``b``) and the int8-class GEMM on
the top ``b`` bits of the codes (``int8``: flat in ``b``); at configure it measures both and
keeps the faster per ``b``. This experiment measures that envelope on one ViT-B/16 encoder block
at 197 tokens (GIT-base's vision tower is twelve of them) with
:func:`qcoinf_ros.tools.bench.kernels.bench_envelope` — both kernels per ``b``, fp32 and torch's
dynamic int8 (fbgemm) beside them, all interleaved — on the best ISA variant of this CPU, at one
thread and (``full``, on a machine with two cores or more) two. It is ``qcoinf bench kernels
--envelope`` written to CSV, a plot and findings for the results page.
"""

from __future__ import annotations

import os
from pathlib import Path
import time

from qcoinf_ros.tools.experiments.common import pyplot, save_figure, start_run, write_csv
from qcoinf_ros.tools.experiments.result import ExperimentResult, Finding, ProgressFn

__all__ = ['run', 'envelope_rows']

KERNELS = ('lut', 'int8')
_LABEL = {'lut': 'lut (bit-plane lookup tables)', 'int8': 'int8 (exact, top b bits of the codes)'}


def envelope_rows(env) -> list[tuple]:
    """
    One row per (threads, b) of a :class:`~qcoinf_ros.tools.bench.kernels.Envelope`.

    ``(threads, b, lut_ms, int8_ms, chosen, chosen_ms, fp32_ms, torch_int8_ms, chosen/fp32,
    chosen/torch_int8, chosen/chosen at the fewest threads, eq. (4) b/32)``.
    """
    rows = []
    one = env.threads[0]
    bits = sorted(int(key.rsplit('/', 1)[1]) for key in env.ms[one] if key.startswith('new/lut/'))
    for t in env.threads:
        ms = env.ms[t]
        for b in bits:
            kernel, best = env.chosen(t, b)
            rows.append((t, b, ms[f'new/lut/{b}'], ms[f'new/int8/{b}'], kernel, best, ms['fp32'],
                         ms['torch_int8'], best / ms['fp32'], best / ms['torch_int8'],
                         best / env.chosen(one, b)[1], b / 32))
    return rows


def run(out_dir: Path, *, size: str = 'full', progress: ProgressFn | None = None,
        **options) -> ExperimentResult:
    """Measure the envelope on the ViT-B block; write CSV and PNG; return the findings."""
    from qcoinf_ros.core.lut.library import library_status, load_library
    from qcoinf_ros.tools.bench.kernels import bench_envelope
    out_dir, progress, result, start = start_run(
        'kernels', 'Kernel envelope: each bit-width on its fastest exact kernel (ViT-B block) '
                   'against eq. (4), fp32 and torch int8', out_dir, size, options, progress)
    lib = load_library()
    if lib is None:
        raise RuntimeError(f'no kernel library to measure: {library_status()}')
    bits = (1, 2, 8) if size == 'small' else tuple(range(1, 9))
    repeats = 2 if size == 'small' else 7
    threads = (1,) if size == 'small' or (os.cpu_count() or 1) < 2 else (1, 2)
    variant = lib.variant_name
    progress(f'kernels: ViT-B block, {variant}, threads {threads}', 0, 2)
    env = bench_envelope({'new': lib}, variant, bits, repeats, threads)
    rows = envelope_rows(env)
    result.csv.append(write_csv(
        out_dir / 'kernels_envelope.csv',
        ('threads', 'b', 'lut_ms', 'int8_ms', 'chosen', 'chosen_ms', 'fp32_ms', 'torch_int8_ms',
         'chosen_over_fp32', 'chosen_over_torch_int8', 'chosen_over_one_thread', 'eq4_over_fp32'),
        rows))
    progress('kernels: plot and findings', 1, 2)
    result.figures.append(_plot(rows, variant, out_dir / 'kernels.png'))
    _findings(result, rows, env, variant)
    result.notes.append(
        f'size={size}; ViT-B/16 block (width 768, 12 heads, MLP 3072) at 197 tokens, weights '
        f'quantized once at B_max = 8 (uniform, per channel), activations per row; variant '
        f'{variant} ({library_status()}); median of {repeats} interleaved rounds; threads '
        f'{", ".join(map(str, threads))}; OMP_WAIT_POLICY='
        f'{os.environ.get("OMP_WAIT_POLICY", "unset")}. Timings come from whatever machine ran '
        f'the command; the conclusions rest on the ratios.')
    progress('kernels: done', 2, 2)
    result.seconds = time.perf_counter() - start
    return result


def _findings(result, rows, env, variant: str) -> None:
    one = [r for r in rows if r[0] == env.threads[0]]
    lo, hi = one[0], one[-1]
    kernels = ', '.join(f'{r[1]}: {r[4]}' for r in one)
    not_slower_fp32 = [r[1] for r in one if r[5] <= r[6]]
    not_slower_int8 = [r[1] for r in one if r[5] <= r[7]]
    result.findings.append(Finding(
        what=f'ViT-B block, {variant}, one thread: the chosen exact kernel per b vs fp32',
        paper=f'eq. (4): t(b)/t(fp32) = b/32, i.e. {lo[1] / 32:.3f} at b = {lo[1]} and '
              f'{hi[1] / 32:.3f} at b = {hi[1]}',
        ours=f't({lo[1]})/t(fp32) = {lo[8]:.2f}, t({hi[1]})/t(fp32) = {hi[8]:.2f}; kernel per '
             f'b: {kernels}; not slower than fp32 at b in {not_slower_fp32 or "none"}',
        agrees=None,
        sentence=(f'On the faster of its two exact kernels the ViT-B block takes {lo[8]:.2f} x '
                  f'its fp32 time at b = {lo[1]} and {hi[8]:.2f} x at b = {hi[1]}, where eq. (4) '
                  f'says {lo[1] / 32:.3f} x and {hi[1] / 32:.3f} x: the bit-width buys time, '
                  f'far less than in proportion.')))
    result.findings.append(Finding(
        what=f'ViT-B block, {variant}, one thread: the chosen kernel vs torch dynamic int8',
        paper='(the paper does not compare kernels)',
        ours=f'chosen/torch int8 = {", ".join(f"{r[9]:.2f}" for r in one)} for b = '
             f'{", ".join(str(r[1]) for r in one)}; not slower at b in '
             f'{not_slower_int8 or "none"}',
        agrees=None,
        sentence=(f'Against torch dynamic int8 (fbgemm) on the same block the chosen kernel runs '
                  f'at {min(r[9] for r in one):.2f}-{max(r[9] for r in one):.2f} x its time; '
                  f'it is not slower at b in {not_slower_int8 or "none"}.')))
    for t in env.threads[1:]:
        more = [r for r in rows if r[0] == t]
        result.findings.append(Finding(
            what=f'ViT-B block, {variant}: {t} threads vs one',
            paper='(the paper does not report thread scaling)',
            ours=', '.join(f'b = {r[1]}: {r[10]:.2f}' for r in more),
            agrees=None,
            sentence=(f'On {t} threads the chosen kernel runs the block in '
                      f'{min(r[10] for r in more):.2f}-{max(r[10] for r in more):.2f} x its '
                      f'one-thread time.')))


def _plot(rows, variant: str, path: Path) -> Path:
    plt = pyplot()
    threads = sorted({r[0] for r in rows})
    fig, axes = plt.subplots(1, len(threads), figsize=(5.2 * len(threads), 3.9), squeeze=False)
    for ax, t in zip(axes[0], threads):
        mine = [r for r in rows if r[0] == t]
        bits = [r[1] for r in mine]
        fp32 = mine[0][6]
        ax.plot(bits, [r[2] / fp32 for r in mine], 'o-', ms=3, label=_LABEL['lut'])
        ax.plot(bits, [r[3] / fp32 for r in mine], 's--', ms=3, label=_LABEL['int8'])
        ax.plot(bits, [r[8] for r in mine], 'k-', lw=3, alpha=0.3, label='chosen (the faster)')
        ax.axhline(1.0, color='grey', lw=1, label='fp32')
        ax.axhline(mine[0][7] / fp32, color='tab:red', lw=1, ls=':', label='torch dynamic int8')
        ax.plot(bits, [b / 32 for b in bits], 'g-', lw=1, alpha=0.6, label='eq. (4): b/32')
        ax.set_xlabel('bit-width b')
        ax.set_ylabel('block time / fp32')
        ax.set_ylim(0, None)
        ax.set_title(f'ViT-B block, {variant}, {t} thread(s)', fontsize=9)
        ax.legend(fontsize=6)
    return save_figure(fig, path)
