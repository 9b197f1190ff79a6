"""Tests of the reality check: eq. (4) fitted to measured latency; planner decisions."""

import csv

import pytest

from qcoinf_ros.experiments import reality
from qcoinf_ros.planner.presets import load_preset
from qcoinf_ros.system.model import NominalAgentCost


def test_fit_linear_recovers_a_line():
    fit = reality.fit_linear([1, 2, 4, 8], [0.3 + 0.1 * b for b in (1, 2, 4, 8)])
    assert fit.alpha == pytest.approx(0.3) and fit.beta == pytest.approx(0.1)
    assert fit.r2 == pytest.approx(1.0)
    assert float(fit(16)) == pytest.approx(1.9)
    noisy = reality.fit_linear([1, 2, 3], [1.0, 3.0, 2.0])
    assert 0.0 <= noisy.r2 < 1.0
    with pytest.raises(ValueError, match='two distinct'):
        reality.fit_linear([4, 4], [1.0, 2.0])
    with pytest.raises(ValueError, match='seconds must be finite'):
        reality.fit_linear([1, 2], [1.0, -1.0])


def test_calibrated_costs_scale_the_measured_shape():
    params, _, _ = load_preset('paper', model='git')
    nominal = NominalAgentCost.from_params(params)
    # a measured curve that follows eq. (4) exactly gives the nominal cycles back
    fp32 = 0.02
    line = reality.LinearFit(0.0, fp32 / 32, 1.0)
    fake, kernel = reality.calibrated_costs(params, line, fp32,
                                            {b: fp32 * b / 32 for b in (1, 2, 4, 8)})
    for b in (1, 3, 8, 16):
        assert fake.cycles(b) == pytest.approx(nominal.cycles(b), rel=1e-9)
    for b in (1, 2, 4, 8):
        assert kernel.cycles(b) == pytest.approx(nominal.cycles(b), rel=1e-9)
    # no integer kernel above 8 bits: the fp32 cost
    assert kernel.cycles(12) == pytest.approx(nominal.cycles(32), rel=1e-9)


@pytest.fixture(scope='module')
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp('reality')
    return reality.run(out, size='small'), out


def test_reality_writes_latency_and_plans(result):
    res, out = result
    with open(out / 'reality_latency.csv', newline='', encoding='utf-8') as stream:
        latency = list(csv.DictReader(stream))
    assert {(r['scheme'], int(r['b'])) for r in latency} == {
        (s, b) for s in ('uniform', 'potlog') for b in (1, 2, 4, 8)}
    for r in latency:
        assert float(r['fake_quant_ms']) > 0
        assert float(r['eq4_nominal_ms']) == pytest.approx(
            float(r['fp32_ms']) * int(r['b']) / 32, rel=1e-4)
        assert (r['int4_ms'] != '') == (r['scheme'] == 'uniform' and int(r['b']) <= 4)
    with open(out / 'reality_planner.csv', newline='', encoding='utf-8') as stream:
        plans = list(csv.DictReader(stream))
    models = {r['cost_model'] for r in plans}
    assert models == {'nominal (eq. 4)', 'calibrated, fake-quant', 'calibrated, int kernels'}
    assert len(plans) == 3 * 36
    for r in plans:  # every feasible plan meets its budgets under its own cost model
        if r['feasible'] == 'True':
            assert float(r['delay_s']) <= float(r['t0_s']) * (1 + 1e-6)
            assert float(r['energy_j']) <= float(r['e0_j']) * (1 + 1e-6)
    # the planner findings count exactly the rows where b differs
    for finding in res.findings:
        if finding.what.startswith('planner'):
            name = finding.what.split(' vs ')[1].split(' (')[0]
            nominal = {(r['t0_s'], r['e0_j']): r['bit_width'] for r in plans
                       if r['cost_model'] == 'nominal (eq. 4)'}
            differ = sum(r['bit_width'] != nominal[(r['t0_s'], r['e0_j'])] for r in plans
                         if r['cost_model'] == name)
            assert finding.ours.startswith(f'b differs in {differ}/36')
    assert (out / 'reality.png').stat().st_size > 10_000
