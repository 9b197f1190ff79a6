"""
A bag of the graph's outputs (plans, embeddings, captions, latencies, diagnostics), for tests.

Used by ``test/core/bags/test_bag_report.py`` and ``test/graph/test_monitor_cli.py`` (the test
folder is on ``sys.path`` through its ``conftest.py``).
"""

import numpy as np

from qcoinf_ros.core import qos
from qcoinf_ros.core.bags import TopicSpec, write_bag
from qcoinf_ros.core.bags.cdr import build, header, serialize
from qcoinf_ros.core.codec import EmbeddingMeta, encode_embedding, FORMAT
from qcoinf_ros.core.codec.caption import CaptionRecord
from qcoinf_ros.core.codec.fields import caption_fields
from qcoinf_ros.core.codec.plan import encode_profile, ProfileMessage
from qcoinf_ros.core.status_names import FREQUENCY_ACTUATOR, PLANNER, status_name

T0 = 3_000_000_000_000
S = 1_000_000_000
LAT, STR, U8 = 'geometry_msgs/msg/Vector3Stamped', 'std_msgs/msg/String', 'std_msgs/msg/UInt8'
EMB, DIAG = 'sensor_msgs/msg/CompressedImage', 'diagnostic_msgs/msg/DiagnosticArray'
CAPTION = 'qcoinf_ros/msg/Caption'


def _plan(bits, joules):
    return encode_profile(ProfileMessage('continuous', 1e9, 5e9, bits, True,
                                         predicted_delay_s=0.5, predicted_energy_j=joules))


def _status(name, **values):
    return build('diagnostic_msgs/msg/DiagnosticStatus', name=name, message='ok',
                 values=[build('diagnostic_msgs/msg/KeyValue', key=k, value=str(v))
                         for k, v in values.items()])


def output_bag(path, namespace='', legacy_names=True, typed_captions=False):
    """
    10 frames at 1 Hz: plan b=8 (0.4 J) until 5 s, then b=6 (0.3 J); E0 0.35 J from 5 s.

    ``legacy_names``: the statuses are named as before the fleet-readable names (``qcoinf:
    planner``, a bag recorded then). Otherwise they are ``<ns>/planner_node: planner`` and a
    second robot (``/robot9``, outside the namespace) publishes other values at the same times.
    ``typed_captions``: the captions are ``qcoinf_ros/msg/Caption`` (the frame's header and its
    latencies, as the nodes publish them today), not the JSON-era String of a bag before 0.2.
    """
    ns = f'/{namespace}' if namespace else ''
    if legacy_names:
        planner, actuator, other = 'qcoinf: planner', 'qcoinf: frequency actuator', None
    else:
        planner = status_name(f'{ns}/planner_node', PLANNER)
        actuator = status_name(f'{ns}/frequency_actuator_node', FREQUENCY_ACTUATOR)
        other = (status_name('/robot9/planner_node', PLANNER),
                 status_name('/robot9/frequency_actuator_node', FREQUENCY_ACTUATOR))
    rng = np.random.default_rng(1)
    e2e = rng.uniform(0.1, 0.3, 10)
    msgs = [(f'{ns}/qcoinf/bit_width', T0, serialize(build(U8, data=8), U8)),
            (f'{ns}/qcoinf/frequency_profile', T0,
             serialize(build(STR, data=_plan(8, 0.4)), STR)),
            (f'{ns}/qcoinf/bit_width', T0 + 5 * S, serialize(build(U8, data=6), U8)),
            (f'{ns}/qcoinf/frequency_profile', T0 + 5 * S,
             serialize(build(STR, data=_plan(6, 0.3)), STR)),
            ('/diagnostics', T0 + 1, serialize(build(DIAG, status=[
                _status(planner, E0_J=1.0)]), DIAG)),
            ('/diagnostics', T0 + 5 * S + 1, serialize(build(DIAG, status=[
                _status(planner, E0_J=0.35),
                _status(actuator, energy_per_inference_J=0.31,
                        energy_source='measured (rapl)')]), DIAG))]
    if other is not None:  # robot9's statuses, each after ours: were they read, they'd win
        msgs += [('/diagnostics', T0 + k * S + 2, serialize(build(DIAG, status=[
            _status(other[0], E0_J=0.01)]), DIAG)) for k in (0, 5)]
        msgs.append(('/diagnostics', T0 + 5 * S + 3, serialize(build(DIAG, status=[
            _status(other[1], energy_per_inference_J=9.9, energy_source='robot9')]), DIAG)))
    for k in range(10):
        t = T0 + k * S + S // 2
        bits = 8 if k < 5 else 6
        payload = encode_embedding(np.ones((4, 8), np.float32), EmbeddingMeta('m', bits))
        msgs.append((f'{ns}/qcoinf/embedding', t, serialize(
            build(EMB, header=header(t), format=FORMAT, data=np.frombuffer(payload, np.uint8)),
            EMB)))
        if typed_captions:
            record = CaptionRecord(f'c{k}', bit_width=bits, tokens=2, latency_s=float(e2e[k]),
                                   encode_s=0.01, decode_s=0.05)
            msgs.append((f'{ns}/qcoinf/caption', t + 10, serialize(
                build(CAPTION, header=header(t), **caption_fields(record)), CAPTION)))
        else:
            msgs.append((f'{ns}/qcoinf/caption', t + 10,
                         serialize(build(STR, data=f'c{k}'), STR)))
        vector = build('geometry_msgs/msg/Vector3', x=float(e2e[k]), y=0.01, z=0.05)
        msgs.append((f'{ns}/qcoinf/latency', t + 11, serialize(
            build(LAT, header=header(t), vector=vector), LAT)))
    types = {'bit_width': U8, 'frequency_profile': STR, 'embedding': EMB,
             'caption': CAPTION if typed_captions else STR, 'latency': LAT}
    topics = [TopicSpec(f'{ns}/qcoinf/{k}', v, (qos.LATCHED,)) for k, v in types.items()]
    topics.append(TopicSpec('/diagnostics', DIAG, (qos.DEFAULT,)))
    write_bag(path, topics, sorted(msgs, key=lambda m: m[1]))
    return e2e
