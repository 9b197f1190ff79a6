"""
``qcoinf experiment``: reproduce the paper's evaluation (§VI), one command per figure or table.

``qcoinf experiment list`` lists the experiments (and which cannot be imported, with why);
``qcoinf experiment NAME [NAME ...]`` runs some, ``qcoinf experiment all`` runs every available
one and writes the results page; ``qcoinf experiment report`` rebuilds the page from the saved
results. Each experiment writes CSV files, PNG plots and ``result.json`` under
``<out>/<name>/`` and prints its findings; a progress bar follows each run.
``--docs`` writes to ``docs/results/`` and the page to ``docs/results.md`` (the committed
copy).
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import time

from qcoinf_ros.tools.experiments import availability, EXPERIMENTS, load_experiment
from qcoinf_ros.tools.experiments.result import SIZES

DOCS_OUT = Path('docs') / 'results'
DOCS_REPORT = Path('docs') / 'results.md'
REPORT_NAME = 'results.md'


def _console():
    from rich.console import Console
    return Console(stderr=False, width=None if sys.stdout.isatty() else 160)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='qcoinf experiment', description=__doc__.strip().splitlines()[0],
        epilog='experiments: ' + ', '.join(EXPERIMENTS))
    parser.add_argument('names', nargs='+', metavar='NAME',
                        help='experiment name(s), "all", "list" or "report"')
    parser.add_argument('--out', type=Path, default=None,
                        help='results folder (default: results/, or docs/results with --docs)')
    parser.add_argument('--size', choices=SIZES, default='full',
                        help='small: seconds (the test size); full: the documented size '
                             '(default)')
    parser.add_argument('--docs', action='store_true',
                        help='write to docs/results/ and the page to docs/results.md')
    parser.add_argument('--report', type=Path, default=None,
                        help='results page path (default: <out>/results.md, '
                             'docs/results.md with --docs)')
    parser.add_argument('--git', type=Path, help='local GIT checkpoint directory to include')
    parser.add_argument('--blip2', type=Path, help='local BLIP-2 checkpoint directory to include')
    parser.add_argument('--annotations', type=Path,
                        help='COCO captions JSON to score caption quality on (Figs. 5-8)')
    parser.add_argument('--images', type=Path, help='image folder of --annotations')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads (default 1: steadier timings on a shared '
                             'machine)')
    return parser


def _options(args) -> dict:
    return {key: str(value) for key, value in (('git', args.git), ('blip2', args.blip2),
                                               ('annotations', args.annotations),
                                               ('images', args.images)) if value is not None}


def _list(console) -> int:
    from rich.table import Table
    table = Table(title="qcoinf experiment: the paper's evaluation", title_justify='left')
    for column in ('name', 'what', 'status'):
        table.add_column(column)
    for name, reason in availability().items():
        table.add_row(name, EXPERIMENTS[name][1],
                      'available' if reason is None else f'not available: {reason}')
    console.print(table)
    return 0


def _run_one(name: str, fn, out: Path, size: str, options: dict, console):
    """Run one experiment under a progress bar; save and print its result."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn)
    from qcoinf_ros.tools.experiments.report import save_result
    folder = (out / name).resolve()
    with Progress(TextColumn('{task.description:<60}'), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task(name, total=None)

        def progress(what: str, done: int, total: int) -> None:
            bar.update(task, description=str(what)[:60], completed=done, total=total)

        start = time.perf_counter()
        result = fn(folder, size=size, progress=progress, **options)
        if not result.seconds:
            result.seconds = time.perf_counter() - start
        done_total = bar.tasks[0].total or 1
        bar.update(task, description=f'{name}: done', completed=done_total, total=done_total)
    save_result(result, folder, size)
    _print_result(result, folder, console)
    return result, folder


def _print_result(result, folder: Path, console) -> None:
    from rich.table import Table
    table = Table(title=f'{result.title} ({result.seconds:.1f} s)', title_justify='left')
    for column in ('finding', 'paper', 'ours', 'agrees'):
        table.add_column(column)
    for f in result.findings:
        table.add_row(f.what, f.paper, f.ours, {True: 'yes', False: 'no', None: 'new'}[f.agrees])
    console.print(table)
    files = [*result.figures, *result.csv]
    console.print('wrote: ' + ', '.join(str(Path(p) if Path(p).is_absolute() else folder / p)
                                        for p in files))


def _write_report(args, report: Path, entries, missing, total, console) -> Path:
    from qcoinf_ros.tools.experiments.report import write_report
    command = 'qcoinf experiment all' + (' --docs' if args.docs else '') + (
        f' --size {args.size}' if args.size != 'full' else '')
    path = write_report(report, entries, missing=missing, total_seconds=total, command=command)
    console.print(f'results page: {path}')
    return path


def main(argv: list[str] | None = None) -> int:
    """Run the paper's experiments, list them, or rebuild the results page."""
    args = _parser().parse_args(argv)
    console = _console()
    names = args.names
    if names == ['list']:
        return _list(console)
    out = args.out or (DOCS_OUT if args.docs else Path('results'))
    report = args.report or (DOCS_REPORT if args.docs else out / REPORT_NAME)
    if names == ['report']:
        from qcoinf_ros.tools.experiments.report import load_results
        try:
            found = load_results(out, list(EXPERIMENTS))
        except ValueError as exc:
            print(f'qcoinf experiment: error: {exc}', file=sys.stderr)
            return 2
        if not found:
            print(f'qcoinf experiment: error: no saved results under {str(out)!r}; run '
                  f'experiments first', file=sys.stderr)
            return 2
        missing = {n: 'no saved result' for n in EXPERIMENTS if n not in found}
        _write_report(args, report, list(found.values()), missing, None, console)
        return 0
    run_all = names == ['all']
    selected = list(EXPERIMENTS) if run_all else names
    unknown = [n for n in selected if n not in EXPERIMENTS]
    if unknown:
        print(f'qcoinf experiment: error: unknown experiment(s) {unknown}; known: '
              f'{", ".join(EXPERIMENTS)}, or all / list / report alone', file=sys.stderr)
        return 2
    if args.threads < 1:
        print(f'qcoinf experiment: error: --threads must be >= 1, got {args.threads}',
              file=sys.stderr)
        return 2
    import torch
    torch.set_num_threads(args.threads)
    options = _options(args)
    start = time.perf_counter()
    entries, missing, failed = [], {}, False
    for name in selected:
        try:
            fn = load_experiment(name)
        except ImportError as exc:
            missing[name] = f'not available: {type(exc).__name__}: {exc}'
            console.print(f'{name}: {missing[name]}')
            if not run_all:
                failed = True
            continue
        try:
            result, folder = _run_one(name, fn, out, args.size, options, console)
            entries.append((result, folder, args.size))
        except ValueError as exc:
            missing[name] = f'error: {exc}'
            console.print(f'{name}: error: {exc}')
            failed = True
        except Exception as exc:  # noqa: B902 - report any experiment's failure, run the rest
            missing[name] = f'failed: {type(exc).__name__}: {exc}'
            console.print(f'{name}: failed: {type(exc).__name__}: {exc}')
            failed = True
    total = time.perf_counter() - start
    if run_all:
        _write_report(args, report, entries, missing, total, console)
    console.print(f'total time: {total:.1f} s ({total / 60:.1f} min), size {args.size}, '
                  f'{args.threads} torch thread(s)')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
