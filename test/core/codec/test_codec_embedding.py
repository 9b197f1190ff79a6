"""Round trips and corrupt input for the embedding wire format."""

from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
import numpy as np
import pytest

from qcoinf_ros.core.codec import decode_embedding, EmbeddingMeta, encode_embedding, FORMAT

pytestmark = pytest.mark.check

FLOATS = hnp.arrays(
    np.float32, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=12),
    elements=st.floats(-1e4, 1e4, width=32))


@settings(max_examples=60, deadline=None)
@given(x=FLOATS, bits=st.integers(1, 16))
def test_lossless_round_trip_is_exact(x, bits):
    payload = encode_embedding(x, EmbeddingMeta('git-tiny', bits, agent_latency_s=0.0123))
    y, meta = decode_embedding(payload)
    assert meta == EmbeddingMeta('git-tiny', bits, 'none', 0.0123)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, x)


@settings(max_examples=60, deadline=None)
@given(x=FLOATS)
def test_fp16_round_trip_within_half_precision(x):
    y, meta = decode_embedding(encode_embedding(x, EmbeddingMeta('m', 8, 'fp16')))
    assert meta.compression == 'fp16'
    np.testing.assert_allclose(y, x, rtol=2.0 ** -11, atol=2.0 ** -24)


@settings(max_examples=60, deadline=None)
@given(x=FLOATS)
def test_int8_round_trip_within_half_a_step(x):
    y, _ = decode_embedding(encode_embedding(x, EmbeddingMeta('m', 8, 'int8')))
    step = max(float(np.max(np.abs(x))) / 127.0, float(np.finfo(np.float32).tiny))
    assert np.max(np.abs(y.astype(np.float64) - x)) <= step / 2 * (1 + 1e-5)


def test_int8_of_subnormal_values_keeps_a_valid_scale():
    x = np.array([1e-45, -1e-45, 0.0], np.float32)
    y, _ = decode_embedding(encode_embedding(x, EmbeddingMeta('m', 8, 'int8')))
    assert np.max(np.abs(y - x)) <= np.finfo(np.float32).tiny


def test_compressed_payloads_are_smaller():
    x = np.random.default_rng(0).standard_normal((1, 197, 64)).astype(np.float32)
    sizes = {c: len(encode_embedding(x, EmbeddingMeta('m', 8, c)))
             for c in ('none', 'fp16', 'int8')}
    assert sizes['int8'] < sizes['fp16'] < sizes['none']
    assert sizes['none'] >= x.nbytes


def test_torch_tensor_is_accepted():
    torch = pytest.importorskip('torch')
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    y, _ = decode_embedding(encode_embedding(x, EmbeddingMeta('m', 4)))
    np.testing.assert_array_equal(y, x.numpy())


@pytest.mark.parametrize('x, needle', [
    (np.zeros((2, 3), dtype=np.int32), 'float'),
    (np.zeros((0, 3), dtype=np.float32), 'empty'),
    (np.array([1.0, np.nan], dtype=np.float32), 'finite'),
])
def test_bad_embeddings_are_rejected(x, needle):
    with pytest.raises(ValueError, match=needle):
        encode_embedding(x, EmbeddingMeta('m', 8))


@pytest.mark.parametrize('kwargs, needle', [
    ({'model_id': '', 'bit_width': 8}, 'model_id'),
    ({'model_id': 'm', 'bit_width': 0}, 'bit_width'),
    ({'model_id': 'm', 'bit_width': 8, 'compression': 'zstd'}, 'Invalid embedding compression'),
    ({'model_id': 'm', 'bit_width': 8, 'agent_latency_s': -1.0}, 'agent_latency_s'),
    ({'model_id': 'm', 'bit_width': 8, 'agent_latency_s': float('nan')}, 'agent_latency_s'),
    ({'model_id': 'm', 'bit_width': 8, 'captioned': 'yes'}, 'captioned'),
    ({'model_id': 'm', 'bit_width': 8, 'probe': 1}, 'probe must be a bool'),
    ({'model_id': 'm', 'bit_width': 8, 'probe': True}, 'probe must be captioned'),
])
def test_bad_metadata_is_rejected(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        EmbeddingMeta(**kwargs)


def test_the_captioned_mark_round_trips_and_is_absent_unless_set():
    x = np.ones((2, 3), np.float32)
    plain = encode_embedding(x, EmbeddingMeta('m', 4))
    marked = encode_embedding(x, EmbeddingMeta('m', 4, captioned=True))
    assert b'captioned' not in plain  # the payload of a split frame is what it always was
    assert decode_embedding(plain)[1].captioned is False
    assert decode_embedding(marked)[1] == EmbeddingMeta('m', 4, captioned=True)
    forged = marked.replace(b'"captioned":"true"', b'"captioned":"yes!"')  # same length
    assert forged != marked
    with pytest.raises(ValueError, match='captioned must be true or false'):
        decode_embedding(forged)
    probe = encode_embedding(x, EmbeddingMeta('m', 4, captioned=True, probe=True))
    assert b'probe' not in marked
    assert decode_embedding(probe)[1] == EmbeddingMeta('m', 4, captioned=True, probe=True)
    # a forged mark is refused (EmbeddingMeta itself refuses a probe not captioned, above)
    unmarked = probe.replace(b'"captioned":"true"', b'"captioned":"fals"')
    with pytest.raises(ValueError, match='captioned must be true or false'):
        decode_embedding(unmarked)


def test_every_truncation_is_a_clear_error():
    payload = encode_embedding(np.ones((4, 5), np.float32), EmbeddingMeta('m', 3, 'int8'))
    for cut in range(len(payload)):
        with pytest.raises(ValueError):
            decode_embedding(payload[:cut])


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_payloads_decode_or_raise_value_error(data):
    payload = bytearray(encode_embedding(np.linspace(-1, 1, 12, dtype=np.float32),
                                         EmbeddingMeta('m', 5, data.draw(st.sampled_from(
                                             ['none', 'fp16', 'int8'])))))
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(payload) - 1))
        payload[i] = data.draw(st.integers(0, 255))
    try:
        y, meta = decode_embedding(bytes(payload))
    except ValueError:
        return
    assert y.dtype == np.float32 and np.all(np.isfinite(y)) and meta.bit_width >= 1


@settings(max_examples=200, deadline=None)
@given(blob=st.binary(max_size=256))
def test_random_bytes_raise_value_error(blob):
    with pytest.raises(ValueError):
        decode_embedding(blob)


def test_foreign_codec_and_wrong_type_are_rejected():
    from safetensors.numpy import save
    foreign = save({'embedding': np.ones(3, np.float32)}, metadata={'codec': 'other'})
    with pytest.raises(ValueError, match=FORMAT):
        decode_embedding(foreign)
    with pytest.raises(ValueError, match='bytes'):
        decode_embedding('not bytes')


def test_a_huge_header_is_refused_before_it_is_parsed(monkeypatch):
    """A 100 MB JSON header was parsed whole before being rejected (1.6 GB peak)."""
    import json as json_module

    from qcoinf_ros.core.codec import embedding as codec
    body = json_module.dumps({'__metadata__': {'pad': 'x' * (4 << 20)}}).encode()
    payload = len(body).to_bytes(8, 'little') + body + b'\0' * 16

    def parse(*_a, **_k):
        raise AssertionError('the header was parsed')
    monkeypatch.setattr(codec, 'loads_bounded', parse)
    with pytest.raises(ValueError, match=f'embedding header of {len(body)} bytes exceeds 65536'):
        decode_embedding(payload)
