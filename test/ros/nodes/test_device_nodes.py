"""
The decoder's and the agent's ``device`` and ``dtype`` (issue 17), in this process.

On a CPU machine: a device the machine lacks refuses the configure transition with the reason
and the node keeps running unconfigured; a typo in the device stops the node; the server part in
bfloat16 on the CPU captions through the node's real decode path and its measured cost says
where and in what precision. The same on a GPU carries the ``gpu`` marker.
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


def _params(**values):
    from rclpy.parameter import Parameter
    values = {'model': 'tiny', 'threads': 1, **values}
    return [Parameter(k, value=v) for k, v in values.items()]


@pytest.mark.parametrize('node', ['edge_decoder_node', 'agent_encoder_node'])
def test_a_device_the_machine_lacks_leaves_the_node_running_unconfigured(context, node):
    from rclpy.lifecycle import TransitionCallbackReturn

    from qcoinf_ros.ros.nodes.agent_encoder_node import AgentEncoderNode
    from qcoinf_ros.ros.nodes.edge_decoder_node import EdgeDecoderNode
    cls = EdgeDecoderNode if node == 'edge_decoder_node' else AgentEncoderNode
    made = cls(context=context, parameter_overrides=_params(device='cuda:99', calibrate='never'))
    try:  # no GPU: "no CUDA device"; a GPU machine: "has N CUDA device(s)"
        assert "device 'cuda:99'" in made._error and made._error_may_pass, made._error
        assert made._split is None
        # the transition can be asked for again (a GPU whose memory another process held)
        assert made.trigger_configure() == TransitionCallbackReturn.FAILURE
    finally:
        made.destroy_node()


def test_a_device_typo_stops_the_node_with_the_reason(context):
    from qcoinf_ros.ros.nodes.edge_decoder_node import EdgeDecoderNode
    with pytest.raises(ValueError, match=r'cannot configure: device must be cpu, cuda, cuda:N '
                                         r"or auto .*, got 'gpu0'"):
        EdgeDecoderNode(context=context, parameter_overrides=_params(device='gpu0'))


@pytest.mark.gpu
def test_a_lut_agent_on_a_gpu_is_refused(context):
    from qcoinf_ros.ros.nodes.agent_encoder_node import AgentEncoderNode
    with pytest.raises(ValueError, match='kernel "lut" runs on the CPU only'):
        AgentEncoderNode(context=context, parameter_overrides=_params(device='cuda',
                                                                      kernel='lut'))


def _captions_through_the_node(context, spin_until, listen, tmp_path, **params):
    """Encode three scenes with the tiny agent, caption them through the decoder node."""
    from std_msgs.msg import Header

    from qcoinf_ros.core.codec import EmbeddingMeta
    from qcoinf_ros.core.models.registry import load_split
    from qcoinf_ros.core.scenes.generator import make_scene
    from qcoinf_ros.msg import AgentCost, Caption
    from qcoinf_ros.ros.messages import cost_from_msg, embedding_msg
    from qcoinf_ros.ros.nodes.edge_decoder_node import EdgeDecoderNode
    from qcoinf_ros.ros.qos import LATCHED, reliable

    agent = load_split('tiny', parts=('agent',))
    decoder = EdgeDecoderNode(context=context, parameter_overrides=_params(
        max_new_tokens=8, calibrate='always', calibration_repeats=1, calibration_budget=60.0,
        cost_cache_dir=str(tmp_path / 'cost'), max_stamp_age=0.0, **params))
    captions = listen(Caption, 'qcoinf/caption', reliable(10), lambda m: m.text)
    costs = listen(AgentCost, 'qcoinf/server_cost', LATCHED, cost_from_msg)
    spin_until.add(decoder)
    try:
        deadline = time.monotonic() + 60.0
        for index in range(3):
            embedding = agent.encode(agent.preprocess(make_scene('test', index).image))[0]
            msg = embedding_msg(embedding.numpy(), EmbeddingMeta(agent.model_id, 8),
                                Header(frame_id=f'camera{index}'))
            decoder._on_embedding(0, msg)
            deadline = time.monotonic() + 60.0
            spin_until(lambda: len(captions) > index, timeout=60.0)
        spin_until(lambda: costs, timeout=max(0.0, deadline - time.monotonic()))
        return list(captions), list(costs), decoder._split.server_module  # as of now
    finally:
        spin_until.remove(decoder)
        decoder.destroy_node()


def _names_an_object(captions):
    """Whether each caption names a colour and shape of its scene (bf16 may swap synonyms)."""
    from qcoinf_ros.core.scenes.generator import make_scene
    return [any(f'{o.colour} {o.shape}' in caption for o in make_scene('test', i).objects)
            for i, caption in enumerate(captions)]


def test_the_server_part_in_bfloat16_on_the_cpu_captions_and_says_so(context, spin_until, listen,
                                                                     tmp_path):
    import torch
    harness = (context, spin_until, listen)
    reference, _, _ = _captions_through_the_node(*harness, tmp_path / 'fp32')
    captions, costs, module = _captions_through_the_node(*harness, tmp_path / 'bf16',
                                                         dtype='bfloat16', max_batch=2)
    assert all(p.dtype is torch.bfloat16 for p in module.parameters())
    assert len(captions) == len(reference) == 3, captions
    assert all(_names_an_object(reference)) and all(_names_an_object(captions)), \
        (captions, reference)
    assert costs and (costs[-1].device, costs[-1].dtype) == ('cpu', 'bfloat16')
    assert len(costs[-1].seconds) == 2  # the caption time per batch size 1..max_batch
    assert not costs[-1].cached


@pytest.mark.gpu
def test_the_server_part_on_cuda_in_float16_captions_like_the_cpu(context, spin_until, listen,
                                                                  tmp_path):
    import torch
    harness = (context, spin_until, listen)
    reference, _, _ = _captions_through_the_node(*harness, tmp_path / 'cpu')
    captions, costs, module = _captions_through_the_node(*harness, tmp_path / 'gpu',
                                                         device='cuda', dtype='float16')
    assert all(p.device.type == 'cuda' and p.dtype is torch.float16
               for p in module.parameters())
    assert all(_names_an_object(captions)), (captions, reference)
    assert costs and costs[-1].device == 'cuda:0' and costs[-1].dtype == 'float16'


@pytest.mark.gpu
def test_the_agent_on_cuda_runs_the_reference_there_and_measures_its_cost(context, tmp_path):
    from qcoinf_ros.ros.nodes.agent_encoder_node import AgentEncoderNode
    agent = AgentEncoderNode(context=context, parameter_overrides=_params(
        device='cuda', calibration_repeats=1, calibrate='always',
        cost_cache_dir=str(tmp_path)))
    try:
        runtime = agent._runtime
        assert runtime.kernel == 'reference' and runtime.device == 'cuda:0'
        assert agent._cost.isa == 'cuda' and agent._cost.device == 'cuda:0'
        assert len(agent._cost.seconds) == 8
    finally:
        agent.destroy_node()


class MimicMeter:
    """A GPU energy counter that gains 0.9 J per read (a batch is two reads)."""

    def __init__(self):
        self.joules, self.closed = 10.0, False

    def read(self):
        from qcoinf_ros.core.actuation.backends import EnergyReading
        self.joules += 0.9
        return EnergyReading(self.joules, time.monotonic(), 'nvml')

    def close(self):
        self.closed = True


def test_the_decoder_attributes_the_gpu_energy_of_a_batch_to_its_captions(context):
    import numpy as np
    from std_msgs.msg import Header

    from qcoinf_ros.core.codec import EmbeddingMeta
    from qcoinf_ros.ros.messages import embedding_msg
    from qcoinf_ros.ros.nodes.edge_decoder_node import EdgeDecoderNode
    decoder = EdgeDecoderNode(context=context, parameter_overrides=_params(
        calibrate='never', max_new_tokens=3, max_stamp_age=0.0, max_batch=2))
    try:
        assert decoder._meter is None  # on the CPU: no counter, energy n/a
        decoder._stop_worker()
        decoder._meter = meter = MimicMeter()  # as on a GPU with NVML
        for frame_id in ('a', 'b'):
            msg = embedding_msg(np.zeros(decoder._split.embedding_shape, np.float32),
                                EmbeddingMeta(decoder._split.model_id, 8),
                                Header(frame_id=frame_id))
            decoder._on_embedding(0, msg)
        batch = decoder._queue.take(2, 0.0, timeout=1.0)
        assert len(batch) == 2
        decoder._decode(batch)
        assert decoder._energy == [pytest.approx(0.45)]  # 0.9 J over two captions
        decoder.trigger_deactivate()
        decoder.trigger_cleanup()
        assert meter.closed and decoder._energy == []
    finally:
        decoder.destroy_node()
