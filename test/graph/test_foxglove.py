"""
``qcoinf foxglove`` as a user sees it: the live graph through a real Foxglove client.

The graph is ``coinference.launch.xml`` (the tiny captioner, the scripted battery and deadline)
as processes over DDS, the bridge is the ``qcoinf foxglove`` command, and the client is
``@foxglove/ws-protocol`` under Node (``test/graph/web/ws_client.mjs``): the channels it is
advertised, their schemas, and the messages it decodes (a caption among them). The browser test
(``test_layout_in_browser``) opens the shipped layout in headless Chromium against the same
bridge (``test/graph/web/viewer/``) and saves a screenshot. The Node packages and Chromium are
installed by ``scripts/setup_web.sh`` (``make env``); where they are missing the tests are
skipped with the reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / 'test' / 'graph' / 'web'
CHROMIUM = os.environ.get('QCOINF_CHROMIUM', '/usr/bin/chromium')


def _web_missing() -> str | None:
    if shutil.which('node') is None:
        return 'node is not installed (scripts/setup_web.sh needs Node.js >= 18)'
    if not (WEB / 'node_modules' / '@foxglove' / 'ws-protocol').is_dir():
        return 'test/graph/web/node_modules missing: run scripts/setup_web.sh (npm ci)'
    return None


@pytest.fixture(scope='module')
def live_view(module_ros_env):
    """Run the graph and ``qcoinf foxglove`` on a free port; yield ``(url, bridge process)``."""
    from qcoinf_ros.core.launching import parse_launch_file
    from qcoinf_ros.ros.processes import LaunchedNodes

    reason = _web_missing()
    if reason:
        pytest.skip(reason)
    env = module_ros_env
    description = parse_launch_file(ROOT / 'launch' / 'coinference.launch.xml',
                                    {'model': 'tiny', 'scenario': 'true'})
    bridge = subprocess.Popen(
        [sys.executable, '-m', 'qcoinf_ros.tools.cli.main', 'foxglove', '--port', '0'],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = bridge.stdout.readline()
        match = re.search(r'ws://[\d.]+:(\d+)', line)
        assert match, line + bridge.stdout.read()
        with LaunchedNodes(description, env=env):
            yield f'ws://127.0.0.1:{match.group(1)}', bridge
    finally:
        if bridge.poll() is None:
            bridge.send_signal(signal.SIGINT)
            try:
                bridge.wait(timeout=15)
            except subprocess.TimeoutExpired:
                bridge.kill()


def test_node_client_sees_channels_schemas_and_a_caption(live_view):
    url, _ = live_view
    out = subprocess.run(['node', 'ws_client.mjs', url, '--timeout', '90', '--frames', '2'],
                         cwd=WEB, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip(), out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps({'channels': result['channels'], 'counts': result['counts'],
                      'caption': result['latest'].get('/qcoinf/caption')}, indent=1))
    assert out.returncode == 0 and result['complete'], result
    assert result['server'] == 'qcoinf_ros' and result['errors'] == []
    channels = {c['topic']: c for c in result['channels']}
    expected = {'/camera/image_raw': ('foxglove.RawImage', 'protobuf'),
                '/qcoinf/caption/annotations': ('foxglove.ImageAnnotations', 'protobuf'),
                '/qcoinf/caption': ('qcoinf.Caption', 'jsonschema'),
                '/qcoinf/plan': ('qcoinf.Plan', 'jsonschema'),
                '/qcoinf/latency': ('qcoinf.Latency', 'jsonschema'),
                '/qcoinf/energy': ('qcoinf.Energy', 'jsonschema'),
                '/battery_state': ('qcoinf.Battery', 'jsonschema'),
                '/diagnostics': ('diagnostic_msgs/msg/DiagnosticArray', 'jsonschema')}
    assert {t: (c['schemaName'], c['schemaEncoding']) for t, c in channels.items()} == expected
    latest = result['latest']
    caption = latest['/qcoinf/caption']['text']
    assert caption.strip()
    annotation = latest['/qcoinf/caption/annotations']['texts'][0]
    assert annotation['text'].strip() and annotation['font_size'] >= 4
    image = latest['/camera/image_raw']
    assert image['width'] > 0 and image['encoding'] in ('rgb8', 'bgr8')
    assert int(image['data'].strip('<> bytes')) == image['step'] * image['height']
    plan = latest['/qcoinf/plan']
    assert 1 <= plan['bit_width'] <= 16 and plan['f_ghz'] > 0 and plan['deadline_s'] > 0
    assert latest['/qcoinf/latency']['end_to_end_s'] > 0
    assert 0 <= latest['/battery_state']['percent'] <= 100
    assert any(s['name'].endswith(': planner')
               for s in latest['/diagnostics']['status']) or result['counts']['/diagnostics']


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return (f"{CHROMIUM} missing: scripts/setup_web.sh installs Debian's chromium as root "
                '(apt-get install chromium), or set QCOINF_CHROMIUM')
    if not (WEB / 'node_modules' / 'playwright-core').is_dir():
        return 'test/graph/web/node_modules missing: run scripts/setup_web.sh (npm ci)'
    return None


def test_layout_in_browser(live_view, tmp_path):
    reason = _browser_missing()
    if reason:
        pytest.skip(reason)
    url, bridge = live_view
    shot = Path(os.environ.get('QCOINF_SCREENSHOT', tmp_path / 'foxglove_layout.png'))
    out = subprocess.run(
        ['node', 'browser_check.mjs', url,
         '--layout', str(ROOT / 'config' / 'foxglove_layout.json'),
         '--chromium', CHROMIUM, '--screenshot', str(shot), '--timeout', '90'],
        cwd=WEB, capture_output=True, text=True, timeout=150)
    print(out.stdout[-3000:], out.stderr[-3000:])
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result['caption'].strip() and result['caption'] in result['pageText']
    assert result['imageDrawn'] and set(result['panels']) >= {
        'Image!qcoinf', 'Plot!bits', 'Plot!latency', 'DiagnosticSummary!qcoinf'}
    assert all(n > 0 for n in result['plotPoints'].values()), result['plotPoints']
    assert shot.stat().st_size > 10_000
    time.sleep(0)  # the bridge keeps running for the next client
    assert bridge.poll() is None


def test_bridge_stops_cleanly_on_sigint(live_view):
    _, bridge = live_view
    bridge.send_signal(signal.SIGINT)
    out, _ = bridge.communicate(timeout=20)
    assert bridge.returncode == 0, out
    assert 'qcoinf foxglove: stopped after' in out and 'Traceback' not in out
    assert 'qcoinf/caption' in out.rsplit('subscribed:', 1)[1]


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_launch_foxglove_true_starts_the_node_with_the_launch_remapping(ros_env):
    """
    ``foxglove:=true`` adds ``foxglove_node`` to the launched graph, on the port asked.

    The frames travel on a camera driver's absolute topic (``image_topic:=/front/image_raw``):
    the node reads them where the launch file's remapping sends the agent, so the Node client
    receives frames and a caption; SIGINT at the end exits every node 0 (the server closed).
    """
    from qcoinf_ros.core.launching import parse_launch_file
    from qcoinf_ros.ros.processes import LaunchedNodes, wait_for

    reason = _web_missing()
    if reason:
        pytest.skip(reason)
    port = _free_port()
    off = parse_launch_file(ROOT / 'launch' / 'coinference.launch.xml', {'model': 'tiny'})
    assert 'foxglove_node' not in [n.executable for n in off.nodes]  # off by default
    description = parse_launch_file(
        ROOT / 'launch' / 'coinference.launch.xml',
        {'model': 'tiny', 'scenario': 'true', 'foxglove': 'true', 'foxglove_port': str(port),
         'image_topic': '/front/image_raw'})
    assert [n.executable for n in description.nodes].count('foxglove_node') == 1
    with LaunchedNodes(description, env=ros_env) as graph:
        assert wait_for(lambda: 'ws://' in graph['foxglove_node'].output
                        or graph['foxglove_node'].returncode is not None, 60)
        out = subprocess.run(['node', 'ws_client.mjs', f'ws://127.0.0.1:{port}', '--timeout',
                              '90', '--frames', '1'],
                             cwd=WEB, capture_output=True, text=True, timeout=120)
        log = graph['foxglove_node'].output
        codes = graph.stop()
    assert out.stdout.strip(), out.stderr + log
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert out.returncode == 0 and result['complete'], (result, log)
    assert result['latest']['/qcoinf/caption']['text'].strip()
    assert result['latest']['/camera/image_raw']['width'] > 0
    assert f'ws://127.0.0.1:{port}' in log
    assert codes['foxglove_node'] == 0, log


def test_foxglove_node_on_a_port_in_use_exits_2_with_the_reason(start_node):
    import socket
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = start_node('foxglove_node', ['-p', f'port:={port}'])
        code = proc.wait(60)
    assert code == 2, proc.output
    assert f'cannot listen on 127.0.0.1:{port}' in proc.output
    assert 'Traceback' not in proc.output
