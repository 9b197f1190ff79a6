"""
The agent's embedding: its values as ``Embedding`` carries them; the older CompressedImage payload.

The values as ``qcoinf_ros/msg/Embedding`` carries them, and the self-describing payload that
older releases carried in ``sensor_msgs/CompressedImage``.

``qcoinf/embedding`` is an ``Embedding`` message (:func:`pack_values`, :func:`unpack_values`);
the payload below is what bags recorded before it hold, read by :func:`payload_values` to
convert them (``qcoinf_ros.core.bags.legacy``).

The message's ``format`` field names the codec (:data:`FORMAT`) and ``data`` holds a safetensors
file with one tensor, ``embedding``, and string metadata: the model id, the bit-width the agent
ran at, the agent's measured encode time, the shape, and the compression applied to the
embedding itself:

* ``none`` — float32 as produced by the encoder (exact round trip);
* ``fp16`` — IEEE half precision (relative error <= 2^-11 for normal values);
* ``int8`` — symmetric per-tensor linear quantization, ``x ~ q * scale`` with
  ``scale = max(max|x| / 127, FLT_MIN)`` (absolute error <= scale / 2; the floor at the
  smallest normal float32 keeps the stored scale non-zero for subnormal embeddings).

Decoding validates everything it reads and raises ``ValueError`` with the reason for a corrupt,
truncated or inconsistent payload, so a node can log it once and drop the message.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import math

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load, save as st_save

from qcoinf_ros.core.codec.json_text import loads_bounded
from qcoinf_ros.core.validation import require_int_in_range

#: Value of ``CompressedImage.format`` for this codec (versioned).
FORMAT = 'qcoinf/embedding;v1'
COMPRESSIONS = ('none', 'fp16', 'int8')
_FP16_MAX = float(np.finfo(np.float16).max)
_FP32_MAX = float(np.finfo(np.float32).max)
#: Longest safetensors JSON header accepted (the codec's own is < 1 kB).
MAX_HEADER_BYTES = 65536
_MAX_ELEMENTS = 1 << 28  # 256 Mi floats: far above any real embedding, guards allocations


@dataclass(frozen=True)
class EmbeddingMeta:
    """What the edge decoder needs to know about an embedding besides its values."""

    model_id: str
    bit_width: int
    compression: str = 'none'
    agent_latency_s: float = 0.0  # measured time of the agent's encode (paper eq. (4) term)
    #: The agent captioned this frame itself (local mode, the edge server lost): a decoder
    #: does not caption it again. Written only when true (older payloads read as false).
    captioned: bool = False
    #: A probe of a lost edge server (local mode): captioned on the robot too; a decoder
    #: answers it on ``qcoinf/probe_answer`` (the round trip says the server is back) and
    #: publishes no caption. Written only when true; implies ``captioned``.
    probe: bool = False

    def __post_init__(self):
        for name in ('captioned', 'probe'):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f'{name} must be a bool, got {getattr(self, name)!r}')
        if self.probe and not self.captioned:
            raise ValueError('probe must be captioned: the robot captions a probed frame')
        if not isinstance(self.model_id, str) or not self.model_id:
            raise ValueError(f'model_id must be a non-empty string, got {self.model_id!r}')
        require_int_in_range('bit_width', self.bit_width, 1, 64)
        if isinstance(self.agent_latency_s, bool) or \
                not isinstance(self.agent_latency_s, (int, float)) or \
                not math.isfinite(self.agent_latency_s) or self.agent_latency_s < 0:
            raise ValueError(f'agent_latency_s must be a finite number >= 0, got '
                             f'{self.agent_latency_s!r}')
        if self.compression not in COMPRESSIONS:
            raise ValueError(
                f'Invalid embedding compression: "{self.compression}" '
                f'(expected one of {", ".join(COMPRESSIONS)})')


def encode_embedding(embedding, meta: EmbeddingMeta) -> bytes:
    """
    Serialize a float embedding (numpy array or torch tensor) with its metadata.

    Raises ``ValueError`` for an empty, non-float or non-finite embedding, and for ``fp16``
    when a value lies outside the half-precision range (it would decode as inf).
    """
    x = _finite_float_array(embedding)
    header = {
        'codec': FORMAT, 'model_id': meta.model_id, 'bit_width': str(int(meta.bit_width)),
        'compression': meta.compression, 'shape': json.dumps(list(x.shape)),
        'agent_latency_s': repr(float(meta.agent_latency_s)),
    }
    for name in ('captioned', 'probe'):
        if getattr(meta, name):
            header[name] = 'true'
    coded, scale = _coded(x, meta.compression)
    tensors = {'embedding': coded}
    if meta.compression == 'int8':
        tensors['scale'] = np.array([scale], dtype=np.float32)
    return st_save(tensors, metadata=header)


def _finite_float_array(embedding) -> np.ndarray:
    if hasattr(embedding, 'detach'):  # torch tensor, without importing torch here
        embedding = embedding.detach().cpu().numpy()
    x = np.asarray(embedding)
    if x.dtype.kind != 'f':
        raise ValueError(f'embedding must be a float array, got dtype {x.dtype}')
    if x.size == 0:
        raise ValueError(f'embedding must not be empty, got shape {x.shape}')
    if not np.all(np.isfinite(x)):
        raise ValueError('embedding must be finite (it contains NaN or inf)')
    return np.ascontiguousarray(x, dtype=np.float32)


def _coded(x: np.ndarray, compression: str) -> tuple[np.ndarray, float]:
    """Return ``x`` (finite float32) coded as ``compression`` says, and the int8 scale (else 1)."""
    if compression == 'none':
        return x, 1.0
    if compression == 'fp16':
        peak = float(np.max(np.abs(x)))
        if peak > _FP16_MAX:  # would become inf, which the decoder rightly refuses
            raise ValueError(f'embedding value {peak:g} exceeds the fp16 range (+-{_FP16_MAX:g});'
                             ' use compression none or int8')
        return x.astype(np.float16), 1.0
    if compression != 'int8':
        raise ValueError(f'Invalid embedding compression: "{compression}" '
                         f'(expected one of {", ".join(COMPRESSIONS)})')
    peak = float(np.max(np.abs(x)))
    scale = np.float32(max(peak / 127.0, float(np.finfo(np.float32).tiny)))
    if float(scale) * 127.0 > _FP32_MAX:  # rounded up past float32 max: 127 q -> inf
        scale = np.nextafter(scale, np.float32(0))
    q = np.clip(np.rint(x.astype(np.float64) / float(scale)), -127, 127).astype(np.int8)
    return q, float(scale)


#: Little-endian element type of each compression in ``Embedding.data``.
_WIRE: dict[str, np.dtype] = {'none': np.dtype('<f4'), 'fp16': np.dtype('<f2'),
                              'int8': np.dtype('i1')}


def pack_values(embedding, compression: str) -> tuple[bytes, tuple[int, ...], float]:
    """
    Code an embedding for ``qcoinf_ros/msg/Embedding``: ``(data, shape, scale)``.

    ``data`` holds the values row-major, little-endian, in the compression's element type
    (float32, float16, or int8 codes with ``x ~ q * scale``); ``scale`` is 1.0 but for int8.
    ``ValueError`` as :func:`encode_embedding` raises it.
    """
    x = _finite_float_array(embedding)
    coded, scale = _coded(x, compression)
    return coded.astype(_WIRE[compression]).tobytes(), tuple(int(d) for d in x.shape), scale


def unpack_values(data, shape, compression: str, scale) -> np.ndarray:
    """
    Inverse of :func:`pack_values`: the float32 embedding of an ``Embedding`` message's values.

    ``ValueError`` with the reason for an unknown compression, an implausible shape, a data
    size that does not match it, a bad int8 scale or non-finite values; no other exception.
    """
    if compression not in _WIRE:
        raise ValueError(f'Invalid embedding compression: "{str(compression)[:40]}" '
                         f'(expected one of {", ".join(COMPRESSIONS)})')
    try:
        shape = tuple(int(d) for d in shape)
        data = bytes(data)
        scale = float(scale)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f'corrupt embedding message: {exc!r:.200}') from None
    if not shape or len(shape) > 32 or any(d < 0 for d in shape) or \
            math.prod(shape) > _MAX_ELEMENTS:
        raise ValueError(f'implausible embedding shape {shape!r:.200}')
    wire = _WIRE[compression]
    size = math.prod(shape) * wire.itemsize
    if len(data) != size:
        raise ValueError(f'embedding data of {len(data)} bytes does not match its shape {shape} '
                         f'of {compression} values ({size} bytes)')
    values = np.frombuffer(data, wire).reshape(shape)
    if compression == 'int8':
        if not math.isfinite(scale) or not scale > 0:
            raise ValueError(f'int8 embedding has no valid scale (got {scale!r})')
        out = values.astype(np.float32) * np.float32(scale)
    else:
        out = values.astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise ValueError('decoded embedding contains NaN or inf')
    return out


def payload_values(payload: bytes) -> tuple[bytes, tuple[int, ...], float, EmbeddingMeta]:
    """
    Return the values of a ``qcoinf/embedding;v1`` payload (old bags) as ``Embedding`` has them.

    Return ``(data, shape, scale, meta)`` as :func:`pack_values` codes the same embedding: the
    codes as they were sent (int8 codes and scale unchanged, no re-rounding). ``ValueError``
    as :func:`decode_embedding` raises it.
    """
    out, meta = decode_embedding(payload)
    tensors = st_load(bytes(payload))  # decode_embedding checked it
    scale = float(tensors['scale'][0]) if meta.compression == 'int8' else 1.0
    return (tensors['embedding'].astype(_WIRE[meta.compression]).tobytes(),
            tuple(int(d) for d in out.shape), scale, meta)


def decode_embedding(payload: bytes) -> tuple[np.ndarray, EmbeddingMeta]:
    """
    Inverse of :func:`encode_embedding`: return the float32 embedding and its metadata.

    Raises ``ValueError`` with the reason for anything that is not a valid payload of this
    codec (truncated, corrupt, inconsistent with its metadata, implausibly large, non-finite);
    no other exception escapes for any input bytes (``test/fuzz/test_fuzz_codec.py``).
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise ValueError(f'payload must be bytes, got {type(payload).__name__}')
    payload = bytes(payload)
    header = _read_metadata(payload)
    if header.get('codec') != FORMAT:
        raise ValueError(f'not a {FORMAT} payload (codec {header.get("codec")!r})')
    try:
        dims = loads_bounded(header['shape'], what='embedding shape', max_bytes=1024)
        if not isinstance(dims, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) for d in dims):
            raise TypeError(f'shape must be a list of integers, got {header["shape"]!r:.80}')
        shape = tuple(dims)
        marks = {name: header.get(name, 'false') for name in ('captioned', 'probe')}
        for name, value in marks.items():
            if value not in ('true', 'false'):
                raise TypeError(f'{name} must be true or false, got {value!r:.80}')
        meta = EmbeddingMeta(header['model_id'], int(header['bit_width']), header['compression'],
                             float(header['agent_latency_s']), marks['captioned'] == 'true',
                             marks['probe'] == 'true')
    except (KeyError, TypeError, OverflowError, ValueError) as exc:
        raise ValueError(f'corrupt embedding metadata: {exc!r:.200}') from None
    if len(shape) > 32 or any(d < 0 for d in shape) or math.prod(shape) > _MAX_ELEMENTS:
        raise ValueError(f'implausible embedding shape {shape!r:.200}')
    try:
        tensors = st_load(payload)
    except (SafetensorError, ValueError, OverflowError, KeyError, TypeError) as exc:
        # KeyError/TypeError: a tensor dtype numpy has no equivalent for (BF16, F8_*)
        raise ValueError(f'corrupt embedding payload: {exc!r:.200}') from None
    want = {'none': np.float32, 'fp16': np.float16, 'int8': np.int8}[meta.compression]
    data = tensors.get('embedding')
    if data is None or data.dtype != want or data.shape != shape:
        got = None if data is None else (data.dtype, data.shape)
        raise ValueError(f'embedding tensor does not match its metadata: expected '
                         f'{np.dtype(want)} {shape}, got {got}')
    if meta.compression == 'int8':
        scale = tensors.get('scale')
        if scale is None or scale.shape != (1,) or not np.isfinite(scale[0]) or scale[0] <= 0:
            raise ValueError('int8 embedding payload has no valid scale')
        out = data.astype(np.float32) * scale[0]
    else:
        out = data.astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise ValueError('decoded embedding contains NaN or inf')
    return out, meta


def _read_metadata(payload: bytes) -> dict[str, str]:
    # safetensors layout: u64 little-endian header length, then a JSON header.
    if len(payload) < 8:
        raise ValueError(f'embedding payload truncated ({len(payload)} bytes)')
    n = int.from_bytes(payload[:8], 'little')
    if n > MAX_HEADER_BYTES:  # refused before it is read: the codec's own header is < 1 kB
        raise ValueError(f'embedding header of {n} bytes exceeds {MAX_HEADER_BYTES}')
    if n > len(payload) - 8:
        raise ValueError(f'embedding payload truncated (header of {n} bytes, '
                         f'{len(payload) - 8} available)')
    header = loads_bounded(payload[8:8 + n], what='embedding header',
                           max_bytes=MAX_HEADER_BYTES)
    meta = header.get('__metadata__') if isinstance(header, dict) else None
    if not isinstance(meta, dict):
        raise ValueError('embedding payload carries no metadata')
    return meta
