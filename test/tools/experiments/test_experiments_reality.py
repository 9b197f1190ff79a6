"""Tests of the reality check: eq. (4) against measured latency per path; planner decisions."""

import csv

import pytest

from qcoinf_ros.core.planner.presets import load_preset
from qcoinf_ros.core.system.model import NominalAgentCost
from qcoinf_ros.tools.experiments import reality


def test_a_measured_line_that_follows_eq4_gives_the_nominal_cycles_back():
    params, _, _ = load_preset('paper', model='git')
    nominal = NominalAgentCost.from_params(params)
    fp32 = 0.02
    cost = reality.scaled_cost(params, reality.AffineFit(0.0, fp32 / 32, 1.0), fp32)
    for b in (1, 3, 8, 16):
        assert cost.cycles(b) == pytest.approx(nominal.cycles(b), rel=1e-9)
    # an intercept is kept on the same relative scale
    shifted = reality.scaled_cost(params, reality.AffineFit(fp32 / 4, fp32 / 32, 1.0), fp32)
    assert shifted.cycles(1) == pytest.approx(nominal.cycles(1) + nominal.cycles(32) / 4)


@pytest.fixture(scope='module')
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp('reality')
    return reality.run(out, size='small'), out


def test_reality_writes_latency_per_path_and_plans(result):
    from qcoinf_ros.core.lut.library import load_library
    res, out = result
    with open(out / 'reality_latency.csv', newline='', encoding='utf-8') as stream:
        latency = list(csv.DictReader(stream))
    assert {(r['scheme'], int(r['b'])) for r in latency} == {
        (s, b) for s in ('uniform', 'potlog') for b in (1, 2, 4, 8)}
    for r in latency:
        assert float(r['fake_quant_ms']) > 0 and float(r['int8_ms']) > 0
        assert float(r['eq4_nominal_ms']) == pytest.approx(
            float(r['fp32_ms']) * int(r['b']) / 32, rel=1e-4)
        # the bit-plane kernels run the uniform scheme only
        assert (r['lut_ms'] != '') == (r['scheme'] == 'uniform' and load_library() is not None)
    with open(out / 'reality_fits.csv', newline='', encoding='utf-8') as stream:
        fits = list(csv.DictReader(stream))
    assert {(r['scheme'], r['path']) for r in fits} == {
        ('uniform', 'fake'), ('uniform', 'lut'), ('uniform', 'int8'), ('potlog', 'fake'),
        ('potlog', 'int8')}
    assert all(float(r['t_fixed_ms']) >= 0 and float(r['t_plane_ms']) >= 0 for r in fits)
    with open(out / 'reality_planner.csv', newline='', encoding='utf-8') as stream:
        plans = list(csv.DictReader(stream))
    models = {r['cost_model'] for r in plans}
    assert models == {'nominal (eq. 4)', *(f'measured, {label}'
                                           for label in reality.PATHS.values())}
    assert len(plans) == 4 * 36
    for r in plans:  # every feasible plan meets its budgets under its own cost model
        if r['feasible'] == 'True':
            assert float(r['delay_s']) <= float(r['t0_s']) * (1 + 1e-6)
            assert float(r['energy_j']) <= float(r['e0_j']) * (1 + 1e-6)
            assert 1 <= int(r['bit_width']) <= 8
    # the planner findings count exactly the rows where b differs
    for finding in res.findings:
        if finding.what.startswith('planner'):
            name = finding.what.split(' vs ')[1].split(' (paper')[0]
            nominal = {(r['t0_s'], r['e0_j']): r['bit_width'] for r in plans
                       if r['cost_model'] == 'nominal (eq. 4)'}
            differ = sum(r['bit_width'] != nominal[(r['t0_s'], r['e0_j'])] for r in plans
                         if r['cost_model'] == name)
            assert finding.ours.startswith(f'b differs in {differ}/36'), (name, finding.ours)
    assert any('bit-plane kernel latency' in f.what for f in res.findings)
    assert (out / 'reality.png').stat().st_size > 10_000
