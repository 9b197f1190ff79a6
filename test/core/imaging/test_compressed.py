"""
sensor_msgs/CompressedImage frames as image_transport's compressed plugin writes them.

Files are made with OpenCV's own ``imencode`` from a known image in the channel order the
``format`` string names (the plugin stores colour frames BGR and says ``compressed bgr8``), so
a channel order read the wrong way round fails: the image is strongly red on the left and blue
on the right.
"""

import struct
import zlib

import cv2
from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

from qcoinf_ros.core.imaging import (
    compressed_size, decode_compressed, encode_compressed, parse_format)

pytestmark = pytest.mark.check

H, W = 48, 64
RGB = np.zeros((H, W, 3), np.uint8)
RGB[:, :W // 2] = (220, 40, 30)   # red
RGB[:, W // 2:] = (20, 60, 230)   # blue


def _imencode(pixels, ext, *params):
    ok, buf = cv2.imencode(ext, pixels, list(params))
    assert ok
    return buf.tobytes()


def _close(a, b, tol):
    """Equal within ``tol`` away from the red/blue edge (JPEG subsamples chroma across it)."""
    assert a.shape == b.shape and a.dtype == np.uint8
    away = np.r_[0:W // 2 - 8, W // 2 + 8:W] if a.ndim == 3 and a.shape[1] == W else slice(None)
    assert np.abs(a[:, away].astype(int) - b[:, away].astype(int)).max() <= tol


@pytest.mark.parametrize('codec, tol', [('jpeg', 12), ('png', 0)])
def test_the_plugins_own_format_round_trips(codec, tol):
    fmt, data = encode_compressed(RGB, codec)
    assert fmt == f'rgb8; {codec} compressed bgr8'
    _close(decode_compressed(fmt, data), RGB, tol)


@pytest.mark.parametrize('fmt, pixels', [
    ('rgb8; jpeg compressed bgr8', 'bgr'),   # what the plugin writes for an rgb8 camera
    ('bgr8; jpeg compressed bgr8', 'bgr'),
    ('bgra8; png compressed bgr8', 'bgr'),
    ('rgb8; png compressed rgb8', 'rgb'),    # a colour source, not bgr: the pixels are RGB
    ('jpeg', 'bgr'),                          # old writers: the codec only, BGR pixels
    ('png', 'bgr'),
])
def test_channel_order_follows_the_format(fmt, pixels):
    ext = '.jpg' if 'jpeg' in fmt else '.png'
    stored = RGB if pixels == 'rgb' else RGB[:, :, ::-1]
    rgb = decode_compressed(fmt, _imencode(np.ascontiguousarray(stored), ext))
    _close(rgb, RGB, 12)


def test_grey_frames_become_three_equal_channels():
    grey = RGB[:, :, 1].copy()
    fmt, data = encode_compressed(grey, 'jpeg')
    assert fmt == 'rgb8; jpeg compressed mono8'
    rgb = decode_compressed('mono8; jpeg compressed mono8', data)
    assert rgb.shape == (H, W, 3)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    _close(rgb[..., 0], grey, 8)


def test_sixteen_bit_png_keeps_its_high_byte():
    depth = (np.arange(H * W, dtype=np.uint16).reshape(H, W) * 17)
    rgb = decode_compressed('mono16; png compressed mono16', _imencode(depth, '.png'))
    assert (rgb[..., 0] == (depth >> 8).astype(np.uint8)).all()


def test_alpha_is_dropped():
    bgra = np.dstack([RGB[:, :, ::-1], np.full((H, W), 128, np.uint8)])
    _close(decode_compressed('bgra8; png compressed bgra8', _imencode(bgra, '.png')), RGB, 0)


def test_progressive_jpeg_size_is_read_from_its_frame_header():
    data = _imencode(RGB[:, :, ::-1].copy(), '.jpg', cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    assert compressed_size(data, 'jpeg') == (W, H)
    _close(decode_compressed('jpeg', data), RGB, 12)


def test_size_comes_from_the_header_after_app_segments():
    data = _imencode(RGB, '.jpg')
    exif = b'\xff\xe1' + struct.pack('>H', 2 + 5000) + b'E' * 5000
    assert compressed_size(data[:2] + exif + data[2:], 'jpeg') == (W, H)


def _png_header(width, height):
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    chunk = b'IHDR' + ihdr
    return (b'\x89PNG\r\n\x1a\n' + struct.pack('>I', len(ihdr)) + chunk
            + struct.pack('>I', zlib.crc32(chunk)))


def test_a_huge_declared_size_is_refused_before_decoding():
    bomb = _png_header(40000, 40000) + b'\0' * 100
    with pytest.raises(ValueError, match='pixels'):
        decode_compressed('rgb8; png compressed bgr8', bomb)
    with pytest.raises(ValueError, match='aspect'):
        decode_compressed('rgb8; png compressed bgr8', _png_header(4000, 10) + b'\0' * 100)


@pytest.mark.parametrize('fmt, data, reason', [
    ('16UC1; compressedDepth png', _imencode(RGB, '.png'), 'compressedDepth'),
    ('rgb8; tiff compressed bgr8', b'II*\0', 'unsupported CompressedImage format'),
    ('theora', b'x', 'unsupported CompressedImage format'),
    ('rgb8; jpeg compressed bgr8', b'', 'no data'),
    ('rgb8; jpeg compressed bgr8', _imencode(RGB, '.png'), 'not a JPEG'),
    ('rgb8; png compressed bgr8', _imencode(RGB, '.jpg'), 'not a PNG'),
    ('rgb8; jpeg compressed bgr8', _imencode(RGB, '.jpg')[:400], 'truncated'),
    ('rgb8; png compressed bgr8', _imencode(RGB, '.png')[:-20], 'truncated'),
    ('x' * 300, b'x', 'not a format string'),
])
def test_bad_frames_are_a_value_error_with_the_reason(fmt, data, reason):
    with pytest.raises(ValueError, match=reason):
        decode_compressed(fmt, data)


def test_a_corrupt_body_is_refused():
    data = bytearray(_imencode(RGB, '.png'))
    data[60:80] = b'\x55' * 20  # inside the IDAT chunk: its CRC no longer matches
    with pytest.raises(ValueError):
        decode_compressed('png', bytes(data))


def test_parse_format_names_what_it_reads():
    parsed = parse_format('rgb8; jpeg compressed bgr8')
    assert (parsed.source_encoding, parsed.codec, parsed.order) == ('rgb8', 'jpeg', 'bgr')
    assert parse_format('mono8; png compressed ').codec == 'png'


SEED = encode_compressed(RGB, 'jpeg', quality=80)[1]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(SEED) - 1), st.integers(0, 255)), max_size=8),
       st.integers(1, len(SEED)))
def test_mutated_jpegs_decode_to_their_header_size_or_raise_value_error(edits, cut):
    data = bytearray(SEED[:cut])
    for at, value in edits:
        if at < len(data):
            data[at] = value
    try:
        rgb = decode_compressed('rgb8; jpeg compressed bgr8', bytes(data))
    except ValueError:
        return
    assert rgb.dtype == np.uint8 and rgb.shape[2] == 3
    assert rgb.shape[1::-1] == compressed_size(bytes(data), 'jpeg')
