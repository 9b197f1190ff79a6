"""Tests of ``qcoinf bench planner`` (a small run) and its instance generator."""

import pytest

from qcoinf_ros.core.planner import make_solver
from qcoinf_ros.tools.bench.planner import random_instances
from qcoinf_ros.tools.cli.bench_planner import main


def test_instances_are_seeded_and_span_the_regimes():
    a, b = random_instances(300, seed=5), random_instances(300, seed=5)
    assert [(p.t0, p.e0, p.lam) for p in a] == [(p.t0, p.e0, p.lam) for p in b]
    exact = make_solver('exact')
    plans = [exact.solve(p) for p in a]
    infeasible = sum(not pl.feasible for pl in plans)
    loose = sum(pl.bit_width == p.params.b_max for pl, p in zip(plans, a))
    tight = len(a) - infeasible - loose
    assert min(infeasible, loose, tight) >= 0.05 * len(a)


def test_small_benchmark_run_passes(capsys):
    rc = main(['--instances', '300', '--sca-instances', '4', '--grid', '2048', '--seed', '3'])
    out = ' '.join(capsys.readouterr().out.split())
    assert 'exact vs brute force' in out and '300/300 identical' in out
    assert 'brute force found a larger feasible b: 0' in out
    assert 'exact objective <= SCA objective on every instance: True' in out
    assert 'exact median decision time' in out and 'RESULT: PASS' in out
    assert rc == 0


def test_bad_arguments():
    with pytest.raises(SystemExit):
        main(['--instances', '0'])
