"""
What camera drivers publish without converting: packed YUV 4:2:2, semi-planar 4:2:0, Bayer.

Frames are made from a known RGB image the way a camera makes them — YUV by BT.601 limited range
(OpenCV's own ``COLOR_RGB2YUV_I420`` for the 4:2:0 planes, the same matrix for 4:2:2), Bayer by
sampling each pixel's colour at its place in the pattern — and must decode back to that image.
Images are constant over 2 x 2 blocks (chroma subsampling then loses nothing) and Bayer frames
are one colour (demosaicing is then exact), so a swapped chroma order or Bayer pattern fails.
"""

import cv2
import numpy as np
import pytest

from qcoinf_ros.core.imaging import image_fields_to_array, ImageFields, to_rgb8

pytestmark = pytest.mark.check

RNG = np.random.default_rng(7)
BLOCKS = np.repeat(np.repeat(RNG.integers(30, 226, (6, 8, 3), dtype=np.uint8), 2, 0), 2, 1)


def _yuv_bt601_limited(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return np.clip(np.rint(np.stack([y, u, v], -1)), 0, 255).astype(np.uint8)


def _packed_422(rgb: np.ndarray, order: str) -> bytes:
    yuv = _yuv_bt601_limited(rgb)
    y, u, v = yuv[..., 0], yuv[:, 0::2, 1], yuv[:, 0::2, 2]
    out = np.empty((rgb.shape[0], rgb.shape[1] * 2), np.uint8)
    y0, y1 = y[:, 0::2], y[:, 1::2]
    parts = {'yuyv': (y0, u, y1, v), 'uyvy': (u, y0, v, y1)}[order]
    for k, part in enumerate(parts):
        out[:, k::4] = part
    return out.tobytes()


def _semi_planar_420(rgb: np.ndarray, order: str) -> bytes:
    h, w = rgb.shape[:2]
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).reshape(-1)
    y, u, v = i420[:h * w], i420[h * w:h * w * 5 // 4], i420[h * w * 5 // 4:]
    chroma = np.empty(h * w // 2, np.uint8)
    chroma[0::2], chroma[1::2] = (u, v) if order == 'nv12' else (v, u)
    return y.tobytes() + chroma.tobytes()


def _decode(encoding, width, height, step, data):
    arr = image_fields_to_array(ImageFields(height, width, encoding, step, data))
    return to_rgb8(arr, encoding)


@pytest.mark.parametrize('encoding, order', [('yuv422_yuy2', 'yuyv'), ('uyvy', 'uyvy'),
                                             ('yuv422', 'uyvy')])
def test_packed_yuv422_decodes_to_the_image(encoding, order):
    h, w = BLOCKS.shape[:2]
    rgb = _decode(encoding, w, h, w * 2, _packed_422(BLOCKS, order))
    assert rgb.shape == BLOCKS.shape and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - BLOCKS).max() <= 3


@pytest.mark.parametrize('encoding', ['nv12', 'nv21'])
def test_semi_planar_yuv420_decodes_to_the_image(encoding):
    h, w = BLOCKS.shape[:2]
    rgb = _decode(encoding, w, h, w, _semi_planar_420(BLOCKS, encoding))
    assert rgb.shape == BLOCKS.shape
    assert np.abs(rgb.astype(int) - BLOCKS).max() <= 3


def test_swapped_chroma_is_not_the_image():
    # the check above can fail: nv21 bytes read as nv12 give other colours
    h, w = BLOCKS.shape[:2]
    wrong = _decode('nv12', w, h, w, _semi_planar_420(BLOCKS, 'nv21'))
    assert np.abs(wrong.astype(int) - BLOCKS).max() > 20


PATTERNS = {'bayer_rggb8': 'RGGB', 'bayer_bggr8': 'BGGR', 'bayer_gbrg8': 'GBRG',
            'bayer_grbg8': 'GRBG'}


@pytest.mark.parametrize('encoding', sorted(PATTERNS))
@pytest.mark.parametrize('colour', [(200, 40, 10), (10, 220, 30), (20, 50, 230)])
def test_bayer_mosaics_decode_to_their_colour(encoding, colour):
    h, w = 8, 10
    pattern = PATTERNS[encoding]
    channel = {'R': 0, 'G': 1, 'B': 2}
    mosaic = np.empty((h, w), np.uint8)
    for dy in (0, 1):
        for dx in (0, 1):
            mosaic[dy::2, dx::2] = colour[channel[pattern[2 * dy + dx]]]
    rgb = _decode(encoding, w, h, w, mosaic.tobytes())
    assert rgb.shape == (h, w, 3)
    assert tuple(rgb[h // 2, w // 2]) == colour


@pytest.mark.parametrize('encoding, width, height, step, size, reason', [
    ('yuv422_yuy2', 5, 4, 10, 40, 'even width'),
    ('nv12', 4, 3, 4, 18, 'even width and height'),
    ('nv12', 4, 4, 4, 16, r'x 3/2 rows for 4:2:0'),
    ('uyvy', 4, 4, 6, 24, 'step 6 is smaller'),
    ('bayer_rggb8', 4, 4, 4, 15, 'data length 15'),
])
def test_malformed_driver_frames_are_refused_with_the_reason(encoding, width, height, step,
                                                             size, reason):
    with pytest.raises(ValueError, match=reason):
        image_fields_to_array(ImageFields(height, width, encoding, step, bytes(size)))


@pytest.mark.parametrize('encoding, make', [
    ('yuv422_yuy2', lambda: _packed_422(BLOCKS, 'yuyv')),
    ('uyvy', lambda: _packed_422(BLOCKS, 'uyvy')),
    ('yuv422', lambda: _packed_422(BLOCKS, 'uyvy')),
    ('nv12', lambda: _semi_planar_420(BLOCKS, 'nv12')),
    ('nv21', lambda: _semi_planar_420(BLOCKS, 'nv21')),
])
def test_the_packages_driver_frames_are_the_cameras_bytes(encoding, make):
    # the writer used for the robot bags makes exactly the bytes made above, independently
    from qcoinf_ros.core.imaging.driver_frames import driver_frame
    fields = driver_frame(BLOCKS, encoding)
    assert fields.data == make()
    assert (fields.height, fields.width) == BLOCKS.shape[:2]


@pytest.mark.parametrize('encoding', sorted(PATTERNS))
def test_the_packages_bayer_frames_keep_the_patterns_colour(encoding):
    from qcoinf_ros.core.imaging.driver_frames import driver_frame
    h, w = BLOCKS.shape[:2]
    mosaic = np.frombuffer(driver_frame(BLOCKS, encoding).data, np.uint8).reshape(h, w)
    channel = {'R': 0, 'G': 1, 'B': 2}
    for dy in (0, 1):
        for dx in (0, 1):
            want = BLOCKS[dy::2, dx::2, channel[PATTERNS[encoding][2 * dy + dx]]]
            assert (mosaic[dy::2, dx::2] == want).all()


def test_driver_frames_refuse_what_a_camera_cannot_send():
    from qcoinf_ros.core.imaging.driver_frames import driver_frame
    with pytest.raises(ValueError, match='not a camera-driver encoding'):
        driver_frame(BLOCKS, 'rgb8')
    with pytest.raises(ValueError, match='even width'):
        driver_frame(BLOCKS[:, :5], 'uyvy')
    with pytest.raises(ValueError, match='uint8 RGB'):
        driver_frame(BLOCKS[..., 0], 'nv12')
