"""
Starting is behaviour: every hostile start value of every parameter is one FATAL line and exit 2.

For each parameter each node declares (its ``PARAMS``), the values a user or a launch file can
get wrong at start — ``[]``, a value of another type, a value out of its range or choices, NaN —
are given as ``-p name:=value``. Each must end the node with exit code 2 and one FATAL line
naming the parameter, never a traceback (an empty list used to kill the node with
``ParameterUninitializedException`` and exit 1). The cases run through the nodes' own
``run_node`` in one child process, one rclpy context each, to keep hundreds of starts fast.
"""

import importlib
import json
import math
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

#: What every case of a node starts with (so that only the hostile value can be refused).
BASE = {
    'agent_encoder_node': ['-p', 'autostart:=false'],
    'edge_decoder_node': ['-p', 'autostart:=false'],
    'frequency_actuator_node': ['-p', 'autostart:=false'],
    'camera_node': ['-p', 'source:=scenes'],
    'planner_node': [], 'monitor_node': [], 'scenario_node': [],
}

DRIVER = textwrap.dedent("""
    import importlib, json, os, sys
    from qcoinf_ros.ros.spin import run_node
    cases = json.loads(sys.stdin.read())
    codes = []
    for i, (node, args) in enumerate(cases):
        os.write(2, f'@@case {i}\\n'.encode())
        module = importlib.import_module(f'qcoinf_ros.ros.nodes.{node}')
        cls = next(v for k, v in vars(module).items() if k.endswith('Node')
                   and getattr(v, '__module__', '') == module.__name__)
        codes.append(run_node(cls, args=['x', '--ros-args', *args], name=node,
                              done=lambda n: True))
    print(json.dumps(codes))
""")


def _format(value) -> str:
    if isinstance(value, list):
        return '[' + ', '.join(_format(v) for v in value) + ']'
    if isinstance(value, float) and math.isnan(value):
        return '.nan'
    return str(value)


def hostile_values(spec) -> list[str]:
    """Return the start values that must be refused for ``spec`` (as ``-p`` text)."""
    kind = spec.type if spec.type is not None else type(spec.default)
    values = ['[]'] if not (kind in ('float[]', 'str[]') and spec.min_items == 0) else []
    if kind in (float, int, bool, 'float[]'):
        values.append('not_a_number')  # a string where a number or bool is declared
    if kind in (str, 'str[]'):
        values.append('5')  # an integer where text is declared
    if kind in (float, int) and spec.high is not None:
        values.append(_format(kind(spec.high * 2 + 1)))
    if kind == 'float[]' and spec.high is not None:
        values.append(_format([spec.high * 2 + 1.0]))
    if kind is float:
        values.append('.nan')
    if kind == 'float[]':
        values.append('[.nan]')
    if spec.choices:
        values.append('not_one_of_the_choices')
    return values


def test_every_hostile_start_value_is_one_fatal_line_and_exit_2(ros_env):
    cases = []
    for node, base in BASE.items():
        for spec in importlib.import_module(f'qcoinf_ros.ros.nodes.{node}').PARAMS:
            for value in hostile_values(spec):
                # rcl keeps the first -p of a name: the base gives way to the case's own
                kept = base if all(not a.startswith(f'{spec.name}:=') for a in base) else []
                cases.append((node, [*kept, '-p', f'{spec.name}:={value}'], spec.name, value))
    env = dict(ros_env, RCUTILS_LOGGING_BUFFERED_STREAM='0')
    done = subprocess.run([sys.executable, '-c', DRIVER], env=env, text=True,
                          input=json.dumps([(n, a) for n, a, _, _ in cases]),
                          capture_output=True, timeout=900)
    assert done.returncode == 0, done.stderr[-5000:]
    codes = json.loads(done.stdout.strip().splitlines()[-1])
    logs = done.stderr.split('@@case ')[1:]
    assert len(codes) == len(cases) == len(logs)
    bad = []
    for (node, _, name, value), code, log in zip(cases, codes, logs):
        fatal = [line for line in log.splitlines() if '[FATAL]' in line]
        if code != 2 or len(fatal) != 1 or name not in fatal[0] or 'Traceback' in log:
            bad.append((node, name, value, code, log[-800:]))
    print(f'{len(cases)} hostile start values over {len(BASE)} nodes: '
          f'{len(cases) - len(bad)} refused with one FATAL line and exit code 2')
    assert not bad, [b[:4] for b in bad]
