"""Tests of the planner presets (config/presets/*.yaml)."""

import pytest

from qcoinf_ros.core.planner import make_solver, PlanningProblem
from qcoinf_ros.core.planner.presets import load_preset, preset_models, preset_names

pytestmark = pytest.mark.check


def test_shipped_presets():
    assert {'paper', 'jetson_orin'} <= set(preset_names())


def test_paper_preset_has_the_testbed_values_of_section_vi_c():
    params, profiles, defaults = load_preset('paper')
    assert (params.f_max, params.f_max_server) == (2e9, 10e9)
    assert (params.c, params.c_server, params.eta, params.eta_server) == (32, 128, 1, 2)
    assert (params.psi, params.psi_server) == (2e-29, 1e-28)
    assert params.b_orig == 32 and params.comm_delay == 0.0
    # BLIP-2's 533.66 GFLOPs and GIT's 212.27 GFLOPs to the first token, split agent/server.
    assert params.n_flop + params.n_flop_server == pytest.approx(533.66e9)
    git = load_preset('paper', model='git')
    assert git.params.n_flop + git.params.n_flop_server == pytest.approx(212.27e9)
    assert (defaults['t0'], defaults['e0']) == (3.5, 2.0)  # Figs. 5-6
    assert (git.defaults['t0'], git.defaults['e0']) == (2.0, 2.0)  # Figs. 7-8
    assert [p.name for p in profiles] == ['low', 'medium', 'high']
    assert set(preset_models('paper')) == {'blip2', 'git'}


def test_jetson_preset_profiles_are_nvpmodel_modes_within_range():
    params, profiles, defaults = load_preset('jetson_orin')
    assert defaults['model'] == 'git'
    assert {p.nvpmodel_mode for p in profiles} == {0, 1, 2}
    for prof in profiles:
        assert 0 < prof.f <= params.f_max and 0 < prof.f_server <= params.f_max_server
    assert params.comm_delay > 0.0  # the link is modelled here
    plan = make_solver('profiles', profiles=profiles).solve(
        PlanningProblem(params, defaults['lam'], defaults['t0'], defaults['e0']))
    assert plan.feasible and plan.profile in {p.name for p in profiles}


def test_load_from_path_and_errors(tmp_path):
    path = tmp_path / 'mine.yaml'
    path.write_text('system: {f_max: 1.0e+9, b_max: 8}\n'
                    'models: {m: {n_flop: 1.0e+9, n_flop_server: 2.0e+9}}\n'
                    'default_model: m\nprofiles: {only: {f: 5.0e+8, f_server: 1.0e+9}}\n'
                    'defaults: {lam: 3.0}\n')
    params, profiles, defaults = load_preset(path)
    assert params.f_max == 1e9 and params.b_max == 8 and params.n_flop == 1e9
    assert profiles[0].name == 'only' and defaults == {'lam': 3.0, 'model': 'm'}
    with pytest.raises(ValueError, match='unknown preset'):
        load_preset('no_such_preset')
    with pytest.raises(ValueError, match='unknown model'):
        load_preset(path, model='other')
    bad = tmp_path / 'bad.yaml'
    for text, match in [('system: {f_mx: 1.0}\n', 'f_mx'),
                        ('system: {n_flop: 1.0, n_flop_server: 1.0, f_max: -2.0}\n', 'f_max'),
                        ('system: {b_max: 8}\n', 'n_flop'),
                        ('colour: red\n', 'colour'),
                        ('system: {n_flop: 1.0, n_flop_server: 1.0}\n'
                         'profiles: {x: {f: 1.0, f_server: 1.0, volts: 3}}\n', 'volts'),
                        ('- a list\n', 'mapping')]:
        bad.write_text(text)
        with pytest.raises(ValueError, match=match):
            load_preset(bad)
