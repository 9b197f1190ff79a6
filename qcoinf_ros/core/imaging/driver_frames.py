"""
Frames as camera drivers send them, made from an RGB image: for bags and tests of the robot path.

The inverse of what :func:`~qcoinf_ros.core.imaging.convert.to_rgb8` decodes: packed YUV 4:2:2
(``yuv422_yuy2`` = YUYV, ``uyvy`` / ``yuv422`` = UYVY) and semi-planar 4:2:0 (``nv12``,
``nv21``) in BT.601 limited range as V4L2 cameras send them (chroma of the left pixel of each
pair, and of each 2 x 2 block through OpenCV's ``COLOR_RGB2YUV_I420``), and the Bayer mosaics,
each pixel keeping the one colour of its place in the pattern.
"""

from __future__ import annotations

import numpy as np

from qcoinf_ros.core.imaging.convert import DRIVER_ENCODINGS, ImageFields

#: Colour of each place of the 2 x 2 Bayer tile, row by row.
BAYER_PATTERNS = {'bayer_rggb8': 'RGGB', 'bayer_bggr8': 'BGGR', 'bayer_gbrg8': 'GBRG',
                  'bayer_grbg8': 'GRBG'}


def _yuv_bt601_limited(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return np.clip(np.rint(np.stack([y, u, v], -1)), 0, 255).astype(np.uint8)


def driver_frame(rgb: np.ndarray, encoding: str) -> ImageFields:
    """
    Return an (H, W, 3) uint8 RGB image as a camera driver publishes it in ``encoding``.

    ``ValueError`` for an encoding outside :data:`~qcoinf_ros.core.imaging.DRIVER_ENCODINGS`, a
    frame that is not uint8 RGB, or an odd side the encoding cannot hold.
    """
    arr = np.asarray(rgb)
    if encoding not in DRIVER_ENCODINGS:
        raise ValueError(f'{encoding!r} is not a camera-driver encoding (one of '
                         f'{", ".join(DRIVER_ENCODINGS)})')
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f'expected an (H, W, 3) uint8 RGB frame, got {arr.dtype} {arr.shape}')
    h, w = arr.shape[:2]
    if w % 2 or (encoding in ('nv12', 'nv21') and h % 2):
        raise ValueError(f'{encoding} needs an even width'
                         + (' and height' if encoding in ('nv12', 'nv21') else '')
                         + f', got {w}x{h}')
    if encoding in BAYER_PATTERNS:
        pattern, channel = BAYER_PATTERNS[encoding], {'R': 0, 'G': 1, 'B': 2}
        mosaic = np.empty((h, w), np.uint8)
        for dy in (0, 1):
            for dx in (0, 1):
                mosaic[dy::2, dx::2] = arr[dy::2, dx::2, channel[pattern[2 * dy + dx]]]
        return ImageFields(h, w, encoding, w, mosaic.tobytes())
    if encoding in ('nv12', 'nv21'):
        import cv2
        i420 = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2YUV_I420).reshape(-1)
        y, u, v = i420[:h * w], i420[h * w:h * w * 5 // 4], i420[h * w * 5 // 4:]
        chroma = np.empty(h * w // 2, np.uint8)
        chroma[0::2], chroma[1::2] = (u, v) if encoding == 'nv12' else (v, u)
        return ImageFields(h, w, encoding, w, y.tobytes() + chroma.tobytes())
    yuv = _yuv_bt601_limited(arr)
    luma, u, v = yuv[..., 0], yuv[:, 0::2, 1], yuv[:, 0::2, 2]
    out = np.empty((h, w * 2), np.uint8)
    y0, y1 = luma[:, 0::2], luma[:, 1::2]
    parts = (y0, u, y1, v) if encoding == 'yuv422_yuy2' else (u, y0, v, y1)
    for k, part in enumerate(parts):
        out[:, k::4] = part
    return ImageFields(h, w, encoding, w * 2, out.tobytes())
