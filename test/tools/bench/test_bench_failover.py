"""``qcoinf bench failover``: its accounting and its options (the runs: test_server_loss.py)."""

import pytest

from qcoinf_ros.tools.bench.failover import FailoverConfig, FailoverResult
from qcoinf_ros.tools.cli.bench_failover import main


def _result(**changes):
    # 6 frames offered: 2 by the server, 3 on the robot (1 a probe), 1 sent when the server
    # went and counted missed
    offered = [(1, i) for i in range(6)]
    agent = {'frames': '6', 'frames_edge': '3', 'frames_local': '2', 'frames_probe': '1'}
    values = {'fault': 'kill', 'cycles': 1, 'rate_hz': 4.0, 'offered': offered,
              'edge': offered[:2], 'local': offered[3:], 'captions': 5, 'missed_total': 1,
              'late': 0, 'agent': agent}
    values.update(changes)
    return FailoverResult(**values)


def test_every_frame_accounted_for():
    assert _result().accounted and _result().unanswered == 1 and _result().twice == 0


@pytest.mark.parametrize('changes', [
    {'edge': [(1, 0), (1, 1), (1, 3)], 'captions': 6},      # a frame by both
    {'local': [(1, 3), (1, 3), (1, 5)]},                    # a frame twice on the robot
    {'missed_total': 0},                                    # a frame lost silently
    {'captions': 6},                                        # a caption without its latency
    {'agent': {'frames': '5', 'frames_edge': '3', 'frames_local': '1',
               'frames_probe': '1'}},                       # a frame that never reached it
])
def test_a_frame_captioned_twice_or_lost_silently_is_not_accounted_for(changes):
    assert not _result(**changes).accounted


def test_drops_with_a_reason_are_accounted_for():
    # one frame dropped on arrival, one not captioned on the robot (a stale stamp)
    agent = {'frames': '5', 'frames_edge': '3', 'frames_local': '1', 'frames_probe': '1',
             'dropped[image.rate]': '1', 'dropped[local.stamp_past]': '1'}
    result = _result(agent=agent, local=[(1, 3)], captions=3)
    assert result.dropped == {'image.rate': 1, 'local.stamp_past': 1}
    assert result.accounted and result.unanswered == 3


def test_prediction_errors_are_per_cycle():
    result = _result(predicted_local_s=[0.030, 0.020], cycle_work_s=[0.025, 0.025],
                     cycle_latency_s=[0.030, 0.040])
    assert result.prediction_errors == pytest.approx([0.2, -0.2])
    assert result.end_to_end_errors == pytest.approx([0.0, -0.5])


def _planned(**changes):
    # one cycle at b = 2: t(2) 4 ms and a 20 ms local decode published, then the local cost
    # scaled to 25 ms after a drift
    values = {'plan_bits': [2], 'predicted_encode_s': [0.004], 'predicted_local_s': [0.029],
              'agent_costs_s': [[0.003, 0.004, 0.005]], 'local_costs_s': [0.020, 0.025]}
    values.update(changes)
    return _result(**values)


@pytest.mark.parametrize('changes, expected', [
    ({}, [True]),                                        # t(2) + the republished local cost
    ({'predicted_local_s': [0.024]}, [True]),            # t(2) + the first one
    ({'predicted_local_s': [0.004]}, [False]),           # the local decode left out
    ({'predicted_local_s': [0.034]}, [False]),           # a decode nobody published
    ({'plan_bits': [3]}, [False]),                       # t(2) for a plan at b = 3
    ({'plan_bits': [9]}, [False]),                       # a b past the published table
    ({'local_costs_s': []}, [False]),                    # no local cost at all
])
def test_the_local_mode_prediction_is_checked_against_the_published_costs(changes, expected):
    assert _planned(**changes).predictions_from_costs == expected


@pytest.mark.parametrize('option', [['--cycles', '0'], ['--rate', '-1'],
                                    ['--prediction-tolerance', '0']])
def test_bad_options_are_refused_with_their_name(option, capsys):
    assert main(option) == 2
    assert option[0] in capsys.readouterr().out


def test_an_unknown_fault_is_refused_naming_the_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(['--fault', 'melt'])
    assert exc.value.code == 2 and '--fault' in capsys.readouterr().err


def test_the_config_refuses_a_bad_value_naming_it():
    with pytest.raises(ValueError, match='fault must be one of kill, freeze, cut'):
        FailoverConfig(fault='melt')
    with pytest.raises(ValueError, match='probe_period'):
        FailoverConfig(probe_period=0.0)
