"""
Fuzzing the wire codecs: the embedding payload and the frequency-profile JSON.

Valid payloads are built from random embeddings and then damaged (bit flips, truncation, spliced
bytes) or rewritten field by field (metadata values, tensor dtypes, shapes and offsets replaced
by arbitrary JSON). The decoders must return a valid result or raise ``ValueError``, within the
watchdog's time limit, for every input. ``QCOINF_FUZZ_EXAMPLES=N`` runs longer (fuzz_support).
"""

import json
import struct

from fuzz_support import bounded, fuzz_settings
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp
import numpy as np
import pytest

from qcoinf_ros.core.codec import COMPRESSIONS, decode_embedding, EmbeddingMeta, encode_embedding
from qcoinf_ros.core.codec.plan import decode_profile, encode_profile, ProfileMessage

EMBEDDINGS = hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                        elements=st.floats(-1e6, 1e6, width=32))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() |
    st.text(max_size=12) | st.sampled_from(['[' * 5000, '{"a":' * 3000, '1e999', 'NaN']),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12)
ST_DTYPES = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8',
             'BOOL', 'F8_E4M3', 'F8_E5M2', 'C64', 'XYZ']


def _payload(data) -> bytes:
    x = data.draw(EMBEDDINGS, label='embedding')
    meta = EmbeddingMeta(data.draw(st.text(min_size=1, max_size=8), label='model_id'),
                         data.draw(st.integers(1, 16)), data.draw(st.sampled_from(COMPRESSIONS)),
                         data.draw(st.floats(0, 10)))
    try:
        return encode_embedding(x, meta)
    except ValueError:  # fp16 of a value beyond its range: refused (see below)
        return encode_embedding(x, EmbeddingMeta(meta.model_id, meta.bit_width))


@fuzz_settings(100)
@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=2, max_side=5),
                    elements=st.floats(width=32, allow_nan=False, allow_infinity=False)),
       compression=st.sampled_from(COMPRESSIONS))
def test_whatever_the_encoder_accepts_decodes(x, compression):
    """
    Regressions: what the encoder wrote once decoded as inf, which the decoder refuses.

    fp16 wrote values beyond +-65504 as inf; int8 of an embedding reaching the float32 maximum
    stored a scale rounded up, so 127 x scale overflowed.
    """
    try:
        payload = encode_embedding(x, EmbeddingMeta('m', 4, compression))
    except ValueError as exc:
        assert compression == 'fp16' and 'fp16 range' in str(exc)
        assert np.max(np.abs(x)) > np.finfo(np.float16).max
        return
    assert _decode_checked(payload, 'a fresh payload') is not None


def _split(payload: bytes) -> tuple[dict, bytes]:
    n = int.from_bytes(payload[:8], 'little')
    return json.loads(payload[8:8 + n]), payload[8 + n:]


def _join(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack('<Q', len(raw)) + raw + body


def _decode_checked(payload: bytes, what: str):
    """Decode under the watchdog; on success the result must be a valid embedding."""
    with bounded(what):
        try:
            out, meta = decode_embedding(payload)
        except ValueError:
            return None
    assert out.dtype == np.float32 and out.size > 0 and np.all(np.isfinite(out))
    assert isinstance(meta, EmbeddingMeta) and meta.compression in COMPRESSIONS
    return out, meta


@fuzz_settings(150)
@given(data=st.data())
def test_damaged_embedding_payloads_decode_or_raise_value_error(data):
    payload = bytearray(_payload(data))
    kind = data.draw(st.sampled_from(['flip', 'truncate', 'splice', 'length']), label='kind')
    if kind == 'flip':
        for pos in data.draw(st.lists(st.integers(0, len(payload) * 8 - 1), min_size=1,
                                      max_size=8), label='bits'):
            payload[pos // 8] ^= 1 << (pos % 8)
    elif kind == 'truncate':
        payload = payload[:data.draw(st.integers(0, len(payload) - 1), label='keep')]
    elif kind == 'splice':
        at = data.draw(st.integers(0, len(payload)), label='at')
        cut = data.draw(st.integers(0, 16), label='cut')
        payload[at:at + cut] = data.draw(st.binary(max_size=32), label='insert')
    else:  # the u64 header length itself
        payload[:8] = struct.pack('<Q', data.draw(st.integers(0, 2**64 - 1), label='n'))
    _decode_checked(bytes(payload), f'{kind} mutation')


@fuzz_settings(200)
@given(data=st.data())
def test_rewritten_embedding_headers_decode_or_raise_value_error(data):
    header, body = _split(_payload(data))
    field = data.draw(st.sampled_from(
        ['codec', 'model_id', 'bit_width', 'compression', 'shape', 'agent_latency_s', 'dtype',
         'tensor_shape', 'offsets', 'drop', 'metadata']), label='field')
    meta = header['__metadata__']
    if field in meta:
        meta[field] = data.draw(JSON | st.text(max_size=20), label='value')
        if data.draw(st.booleans(), label='as text'):
            meta[field] = json.dumps(meta[field], allow_nan=True)
    elif field == 'dtype':
        header['embedding']['dtype'] = data.draw(st.sampled_from(ST_DTYPES), label='dtype')
    elif field == 'tensor_shape':
        header['embedding']['shape'] = data.draw(
            st.lists(st.integers(-2, 2**40), max_size=4) | JSON, label='shape')
    elif field == 'offsets':
        header['embedding']['data_offsets'] = data.draw(
            st.lists(st.integers(-2, 2**40), max_size=3) | JSON, label='offsets')
    elif field == 'drop':
        del header[data.draw(st.sampled_from(sorted(header)), label='key')]
    else:
        header['__metadata__'] = data.draw(JSON, label='metadata')
    _decode_checked(_join(header, body), f'header field {field}')


@fuzz_settings(100)
@given(blob=st.binary(max_size=512) | st.builds(lambda h, b: struct.pack('<Q', len(h)) + h + b,
                                                st.binary(max_size=64), st.binary(max_size=64)))
def test_random_bytes_raise_value_error(blob):
    _decode_checked(blob, f'{len(blob)} random bytes')


def test_int8_of_the_float32_maximum_decodes():
    x = np.array([np.finfo(np.float32).max, -1.0, 0.0], np.float32)
    y, _ = decode_embedding(encode_embedding(x, EmbeddingMeta('m', 8, 'int8')))
    assert np.all(np.isfinite(y)) and y[0] == pytest.approx(float(x[0]), rel=1e-6)


def test_regressions_found_by_fuzzing():
    """Inputs that once escaped as OverflowError, RecursionError or KeyError."""
    header, body = _split(encode_embedding(np.ones(3, np.float32), EmbeddingMeta('m', 8)))
    for shape in ('[1e300]', '[Infinity]', '[4294967296, 4294967296]', '[' * 1000,
                  '[' + '9' * 400 + ']'):
        header['__metadata__']['shape'] = shape
        with pytest.raises(ValueError, match='shape|metadata'):
            decode_embedding(_join(header, body))
    deep = b'[' * 60_000
    with pytest.raises(ValueError, match='embedding header nests 60000 deep'):
        decode_embedding(struct.pack('<Q', len(deep)) + deep)
    header, body = _split(encode_embedding(np.ones(3, np.float32), EmbeddingMeta('m', 8)))
    header['embedding']['dtype'] = 'BF16'  # safetensors knows it, numpy does not
    header['embedding']['data_offsets'] = [0, 6]
    with pytest.raises(ValueError, match='corrupt embedding payload'):
        decode_embedding(_join(header, body[:6]))
    with pytest.raises(ValueError, match='more than 4096'):
        decode_profile('[' * 100_000)
    with pytest.raises(ValueError, match='nests 1000 deep'):
        decode_profile('[' * 1000)


def test_a_huge_header_is_refused_before_it_is_parsed():
    """Issue 14: a 100 MB JSON header was parsed in full (1.6 GB peak) before its rejection."""
    import tracemalloc
    header = b'{"__metadata__": {"codec": "x", "pad": "' + b'a' * 100_000_000 + b'"}}'
    payload = struct.pack('<Q', len(header)) + header
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r'header of 100000\d+ bytes exceeds 65536'):
            decode_embedding(payload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(payload), peak  # the copy into bytes at most: nothing parsed


PROFILE = ProfileMessage('medium', 1e9, 5e9, 6, True, 2, 0.4, 1.7)


@fuzz_settings(200)
@given(data=st.data())
def test_profile_fields_decode_or_raise_value_error(data):
    fields = json.loads(encode_profile(PROFILE))
    for key in data.draw(st.lists(st.sampled_from(sorted(fields) + ['extra']), min_size=1,
                                  max_size=3, unique=True), label='keys'):
        if key != 'extra' and data.draw(st.booleans(), label=f'drop {key}'):
            del fields[key]
        else:
            fields[key] = data.draw(JSON, label=key)
    text = json.dumps(fields, allow_nan=True)
    with bounded(f'profile {text[:80]!r}'):
        try:
            msg = decode_profile(text)
        except ValueError:
            return
    assert msg.f > 0 and msg.f_server > 0 and 1 <= msg.bit_width <= 64
    assert isinstance(msg.feasible, bool) and isinstance(msg.name, str) and msg.name


@fuzz_settings(100)
@given(text=st.text(max_size=200) | JSON.map(json.dumps) | st.binary(max_size=64))
def test_random_profile_text_raises_value_error(text):
    with bounded(f'profile text {text[:80]!r}'):
        try:
            decode_profile(text)
        except ValueError:
            pass
