"""
``sensor_msgs/CompressedImage`` frames as image_transport's ``compressed`` plugin writes them.

A robot's bags hold ``image_raw/compressed`` rather than raw frames. The plugin
(compressed_image_transport) writes ``format`` as ``"<encoding>; <codec> compressed <target>"``:
the source image's encoding, ``jpeg`` or ``png``, and the encoding of the pixels inside the
file — ``bgr8`` (or ``bgr16``) for colour sources, ``mono8`` / ``mono16`` for grey ones (e.g.
``"rgb8; jpeg compressed bgr8"``, ``"mono8; png compressed mono8"``). Its decoder reads the
pixels as BGR when the target says ``bgr``, as RGB when a colour source names another target,
and, for an old ``format`` without ``;`` (just ``"jpeg"``), as BGR or grey by their channels;
:func:`parse_format` follows those rules. ``compressedDepth`` (depth maps, a different plugin)
is refused.

:func:`decode_compressed` reads the size from the file's header (PNG ``IHDR``, JPEG ``SOFn``)
and checks it (:func:`~qcoinf_ros.core.imaging.convert.check_image_size`) before decoding, so a
small message that would decompress to a huge frame is refused unread. Everything malformed is
a ``ValueError`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
import struct

import numpy as np

from qcoinf_ros.core.imaging.convert import (
    check_image_size, DEFAULT_MAX_ASPECT, DEFAULT_MAX_PIXELS)
from qcoinf_ros.core.validation import InputError

#: The codecs of the compressed plugin this package decodes (and writes, for tests and bags).
CODECS = ('jpeg', 'png')
_PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
# JPEG start-of-frame markers: C0..CF except DHT (C4), JPG (C8) and DAC (CC)
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_MAX_FORMAT = 256


@dataclass(frozen=True)
class CompressedFormat:
    """What a ``format`` string says: source encoding, codec, and the pixels' channel order."""

    source_encoding: str  # '' for an old format without ';'
    codec: str            # 'jpeg' or 'png'
    order: str            # 'bgr' or 'rgb' for colour pixels (grey ones have no order)


def _is_colour(encoding: str) -> bool:
    """sensor_msgs::image_encodings::isColor: rgb/bgr/rgba/bgra of 8 or 16 bits."""
    return encoding in ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'rgb16', 'bgr16', 'rgba16', 'bgra16')


def parse_format(text: str) -> CompressedFormat:
    """
    Parse a ``CompressedImage.format`` string; ``ValueError`` for one this package cannot read.

    Accepts the compressed plugin's ``"<enc>; <codec> compressed [<target>]"`` and the bare
    codec names older writers use (``"jpeg"``, ``"jpg"``, ``"png"``).
    """
    text = str(text)
    if len(text) > _MAX_FORMAT:
        raise InputError('image.format', (
            f'CompressedImage format of {len(text)} characters is not a format '
            f'string (at most {_MAX_FORMAT})'))
    if 'compresseddepth' in text.lower():
        raise InputError('image.format', (
            f'CompressedImage format {text!r} is a compressedDepth depth map, not '
            'a camera frame'))
    if ';' not in text:
        codec = text.strip().lower()
        codec = 'jpeg' if codec == 'jpg' else codec
        if codec not in CODECS:
            raise InputError('image.format', (
                f'unsupported CompressedImage format {text!r} (expected '
                '"<encoding>; jpeg|png compressed <encoding>" or jpeg/png)'))
        return CompressedFormat('', codec, 'bgr')
    source, _, rest = text.partition(';')
    source, words = source.strip(), rest.split()
    if len(words) < 2 or words[1] != 'compressed' or words[0].lower() not in CODECS + ('jpg',):
        raise InputError('image.format', (
            f'unsupported CompressedImage format {text!r} (expected '
            '"<encoding>; jpeg|png compressed <encoding>")'))
    codec = 'jpeg' if words[0].lower() in ('jpeg', 'jpg') else 'png'
    # the subscriber's rule: "compressed bgr" anywhere after ';' means BGR pixels; otherwise a
    # colour source's pixels are RGB
    bgr = 'compressed bgr' in rest or not _is_colour(source)
    return CompressedFormat(source, codec, 'bgr' if bgr else 'rgb')


def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 24 or data[12:16] != b'IHDR':
        raise InputError('image.compressed', 'PNG data has no IHDR header')
    width, height = struct.unpack('>II', data[16:24])
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise InputError('image.compressed', f'JPEG data is corrupt (no marker at byte {i})')
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            break
        length = struct.unpack('>H', data[i + 2:i + 4])[0]
        if length < 2:
            raise InputError('image.compressed', (
                f'JPEG data is corrupt (segment length {length} at byte {i})'))
        if marker in _SOF:
            if i + 9 > n:
                break
            height, width = struct.unpack('>HH', data[i + 5:i + 9])
            return width, height
        i += 2 + length
    raise InputError('image.compressed', 'JPEG data has no frame header (SOF)')


def compressed_size(data: bytes, codec: str) -> tuple[int, int]:
    """Return (width, height) from a PNG or JPEG file's header, without decoding it."""
    data = bytes(data[:1 << 20]) if codec == 'jpeg' else bytes(data[:24])
    if codec == 'png':
        if not data.startswith(_PNG_MAGIC):
            raise InputError('image.compressed', (
                'data of a png CompressedImage is not a PNG file'))
        return _png_size(data)
    if codec == 'jpeg':
        if not data.startswith(b'\xff\xd8'):
            raise InputError('image.compressed', (
                'data of a jpeg CompressedImage is not a JPEG file'))
        return _jpeg_size(data)
    raise ValueError(f'unsupported codec {codec!r} (expected one of {", ".join(CODECS)})')


def _check_complete(data: bytes, codec: str) -> None:
    """
    Refuse a file cut short: a decoder fills a truncated JPEG's missing rows with grey.

    A JPEG ends with its EOI marker (``FF D9``; writers may pad with zeros), a PNG with its
    ``IEND`` chunk.
    """
    if codec == 'jpeg' and not data.rstrip(b'\0').endswith(b'\xff\xd9'):
        raise InputError('image.compressed', (
            f'the {len(data)}-byte jpeg data is truncated (no end-of-image marker)'))
    if codec == 'png' and data[-8:-4] != b'IEND':
        raise InputError('image.compressed', (
            f'the {len(data)}-byte png data is truncated (no IEND chunk)'))


def decode_compressed(fmt: str, data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS,
                      max_aspect: float = DEFAULT_MAX_ASPECT) -> np.ndarray:
    """
    Decode a CompressedImage (``format`` and ``data``) to an (H, W, 3) uint8 RGB array.

    The size in the file's header is checked against ``max_pixels`` and ``max_aspect``
    before anything is decoded; 16-bit pixels keep their high byte; an alpha channel is
    dropped.
    """
    parsed = parse_format(fmt)
    raw = bytes(data)
    if not raw:
        raise InputError('image.empty', 'CompressedImage has no data')
    width, height = compressed_size(raw, parsed.codec)
    check_image_size(width, height, max_pixels, max_aspect)
    _check_complete(raw, parsed.codec)
    import cv2
    image = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError('image.compressed', (
            f'cannot decode the {len(raw)}-byte {parsed.codec} data '
            f'({width}x{height} in its header): truncated or corrupt'))
    if image.shape[1::-1] != (width, height):
        raise InputError('image.size', (
            f'{parsed.codec} data decodes to {image.shape[1]}x{image.shape[0]}, '
            f'its header says {width}x{height}'))
    if image.dtype == np.uint16:
        image = (image // 256).astype(np.uint8)  # the high byte
    elif image.dtype != np.uint8:
        raise InputError('image.compressed', (
            f'{parsed.codec} data holds {image.dtype} pixels (expected 8 or 16 '
            'bits)'))
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        image = image[:, :, :3]
    if parsed.order == 'rgb':
        return np.ascontiguousarray(image)
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2RGB)


def encode_compressed(rgb: np.ndarray, codec: str = 'jpeg', quality: int = 95,
                      source_encoding: str = 'rgb8') -> tuple[str, bytes]:
    """
    Compress an (H, W, 3) uint8 RGB (or (H, W) grey) frame as the compressed plugin does.

    Returns ``(format, data)``: colour pixels are stored BGR and the format says so
    (``"rgb8; jpeg compressed bgr8"``), grey ones ``mono8``.
    """
    import cv2
    if codec not in CODECS:
        raise ValueError(f'unsupported codec {codec!r} (expected one of {", ".join(CODECS)})')
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ValueError(f'expected an (H, W, 3) or (H, W) uint8 frame, got {arr.dtype} '
                         f'{arr.shape}')
    if not 1 <= int(quality) <= 100:
        raise ValueError(f'jpeg quality {quality!r} is outside 1..100')
    grey = arr.ndim == 2
    pixels = arr if grey else cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if codec == 'jpeg' else []
    ok, buf = cv2.imencode('.jpg' if codec == 'jpeg' else '.png', pixels, params)
    if not ok:
        raise ValueError(f'OpenCV could not encode a {arr.shape} frame as {codec}')
    target = 'mono8' if grey else 'bgr8'
    return f'{source_encoding}; {codec} compressed {target}', buf.tobytes()
