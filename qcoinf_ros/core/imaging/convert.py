"""
The package's own ``sensor_msgs/Image`` converter, used where cv_bridge is not importable.

It works on the message's fields (:class:`ImageFields`), not on the message class, so it is pure
and testable without ROS. Supported encodings (:data:`ENCODINGS`) are the common camera ones:
``mono8, mono16, rgb8, bgr8, rgba8, bgra8, 8UC1, 8UC3, 8UC4, 16UC1, 32FC1``, and what camera
drivers (usb_cam, v4l2_camera, gscam, Isaac ROS) publish without converting: packed YUV 4:2:2
``yuv422_yuy2`` (YUYV) and ``uyvy`` / ``yuv422`` (UYVY, ROS's name), semi-planar YUV 4:2:0
``nv12`` / ``nv21`` (``step`` = the luma row; ``height`` x 3/2 rows in all), and the Bayer
mosaics ``bayer_rggb8, bayer_bggr8, bayer_gbrg8, bayer_grbg8``. YUV is BT.601 limited range, as
V4L2 cameras send it, decoded by OpenCV's own conversions (:func:`to_rgb8`). Rows may be padded
(``step`` > width x pixel size) and 16/32-bit data may be big-endian, as the message allows.
Malformed buffers raise ``ValueError`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcoinf_ros.core.validation import InputError

# encoding -> (numpy dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    'mono8': (np.dtype(np.uint8), 1), '8UC1': (np.dtype(np.uint8), 1),
    'mono16': (np.dtype(np.uint16), 1), '16UC1': (np.dtype(np.uint16), 1),
    'rgb8': (np.dtype(np.uint8), 3), 'bgr8': (np.dtype(np.uint8), 3),
    '8UC3': (np.dtype(np.uint8), 3),
    'rgba8': (np.dtype(np.uint8), 4), 'bgra8': (np.dtype(np.uint8), 4),
    '8UC4': (np.dtype(np.uint8), 4),
    '32FC1': (np.dtype(np.float32), 1),
    # packed YUV 4:2:2: two bytes a pixel (as an (H, W, 2) array)
    'yuv422_yuy2': (np.dtype(np.uint8), 2), 'uyvy': (np.dtype(np.uint8), 2),
    'yuv422': (np.dtype(np.uint8), 2),
    # semi-planar YUV 4:2:0: a luma plane then interleaved chroma (an (H * 3 / 2, W) array)
    'nv12': (np.dtype(np.uint8), 1), 'nv21': (np.dtype(np.uint8), 1),
    # Bayer mosaics: one byte a pixel, the colour by position
    'bayer_rggb8': (np.dtype(np.uint8), 1), 'bayer_bggr8': (np.dtype(np.uint8), 1),
    'bayer_gbrg8': (np.dtype(np.uint8), 1), 'bayer_grbg8': (np.dtype(np.uint8), 1),
}
#: The camera-driver encodings: read and decoded to RGB (:func:`to_rgb8`), never written.
DRIVER_ENCODINGS = ('yuv422_yuy2', 'uyvy', 'yuv422', 'nv12', 'nv21', 'bayer_rggb8',
                    'bayer_bggr8', 'bayer_gbrg8', 'bayer_grbg8')
#: Encodings whose array is not one value per pixel and channel: decoded by :func:`to_rgb8`.
PLANAR_420 = ('nv12', 'nv21')
#: OpenCV's conversion to RGB for the camera-driver encodings. OpenCV names a Bayer pattern by
#: the second row's second and third pixels, so ROS's ``bayer_rggb8`` is OpenCV's ``BayerBG``
#: (cv_bridge maps them the same way).
_TO_RGB = {
    'yuv422_yuy2': 'COLOR_YUV2RGB_YUYV', 'uyvy': 'COLOR_YUV2RGB_UYVY',
    'yuv422': 'COLOR_YUV2RGB_UYVY', 'nv12': 'COLOR_YUV2RGB_NV12', 'nv21': 'COLOR_YUV2RGB_NV21',
    'bayer_rggb8': 'COLOR_BayerBG2RGB', 'bayer_bggr8': 'COLOR_BayerRG2RGB',
    'bayer_gbrg8': 'COLOR_BayerGR2RGB', 'bayer_grbg8': 'COLOR_BayerGB2RGB',
}
_MAX_SIDE = 1 << 15


@dataclass(frozen=True)
class ImageFields:
    """The payload fields of a ``sensor_msgs/Image``."""

    height: int
    width: int
    encoding: str
    step: int
    data: bytes
    is_bigendian: bool = False


def _layout(encoding: str) -> tuple[np.dtype, int]:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise InputError('image.encoding', (
            f'unsupported image encoding {encoding!r} '
            f'(supported: {", ".join(ENCODINGS)})')) from None


#: Default bounds of :func:`check_image_size`: a 4K frame, and 8:1 (a wide panorama).
DEFAULT_MAX_PIXELS = 3840 * 2160
DEFAULT_MAX_ASPECT = 8.0


def check_image_size(width, height, max_pixels: int = DEFAULT_MAX_PIXELS,
                     max_aspect: float = DEFAULT_MAX_ASPECT) -> None:
    """
    Raise ``ValueError`` unless a ``width`` x ``height`` frame is worth processing.

    Called on the message's declared size, before its data is touched: resizing to a model's
    input or enlarging for display multiplies the pixels by the aspect ratio (a valid 1x32768
    frame resized for the agent cost 7.5 s and ~3 GB, a 1x8192 frame enlarged x480 for the
    monitor 5-11 GB), so both the pixel count and the aspect ratio are bounded.
    """
    w, h = int(width), int(height)
    if w <= 0 or h <= 0:
        raise InputError('image.zero_size', f'image has zero size ({w}x{h})')
    if w * h > max_pixels:
        raise InputError('image.size', (
            f'image {w}x{h} has {w * h} pixels, more than {max_pixels} '
            '(max_image_pixels)'))
    aspect = max(w, h) / min(w, h)
    if aspect > max_aspect:
        raise InputError('image.size', (
            f'image {w}x{h} has an aspect ratio of {aspect:.4g}:1, more than '
            f'{max_aspect:g}:1 (max_image_aspect)'))


def image_fields_to_array(img: ImageFields) -> np.ndarray:
    """Return the image as an (H, W) or (H, W, C) array in the encoding's own channel order."""
    dtype, channels = _layout(img.encoding)
    h, w, step = int(img.height), int(img.width), int(img.step)
    if h <= 0 or w <= 0:
        raise InputError('image.zero_size', f'image has zero size ({w}x{h})')
    if h > _MAX_SIDE or w > _MAX_SIDE:
        raise InputError('image.size', f'image size {w}x{h} exceeds {_MAX_SIDE} pixels per side')
    row = w * channels * dtype.itemsize
    if step < row:
        raise InputError('image.data', (
            f'step {step} is smaller than a row of {w} {img.encoding} pixels '
            f'({row} bytes)'))
    if img.encoding in ('yuv422_yuy2', 'uyvy', 'yuv422') and w % 2:
        raise InputError('image.subsampled_size', (
            f'{img.encoding} needs an even width (two pixels share their chroma), '
            f'got {w}'))
    if img.encoding in PLANAR_420:
        if w % 2 or h % 2:
            raise InputError('image.subsampled_size', (
                f'{img.encoding} needs an even width and height, got {w}x{h}'))
        h = h * 3 // 2  # the luma rows, then half as many rows of interleaved chroma
    data = bytes(img.data)
    if len(data) != step * h:
        raise InputError('image.data', (
            f'data length {len(data)} does not match step x height = {step * h}'
            + (' (x 3/2 rows for 4:2:0)' if img.encoding in PLANAR_420 else '')))
    typed = dtype if dtype.itemsize == 1 else \
        dtype.newbyteorder('>') if img.is_bigendian else dtype.newbyteorder('<')
    rows = np.frombuffer(data, dtype=np.uint8).reshape(h, step)[:, :row]
    arr = np.ascontiguousarray(rows).view(typed).reshape((h, w, channels) if channels > 1
                                                         else (h, w))
    return arr.astype(dtype, copy=False) if typed != dtype else arr.copy()


def array_to_image_fields(array: np.ndarray, encoding: str) -> ImageFields:
    """Inverse of :func:`image_fields_to_array` (little-endian, unpadded rows)."""
    if encoding in DRIVER_ENCODINGS:
        raise ValueError(f'{encoding!r} frames are read (from camera drivers), not written')
    dtype, channels = _layout(encoding)
    arr = np.asarray(array)
    expected_ndim = 2 if channels == 1 else 3
    if arr.ndim == 3 and channels == 1 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != expected_ndim or (channels > 1 and arr.shape[2] != channels):
        raise ValueError(f'array of shape {arr.shape} does not fit encoding {encoding!r} '
                         f'({channels} channel(s))')
    if arr.dtype != dtype:
        raise ValueError(f'array dtype {arr.dtype} does not fit encoding {encoding!r} ({dtype})')
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f'image has zero size ({arr.shape[1]}x{arr.shape[0]})')
    arr = np.ascontiguousarray(arr.astype(dtype.newbyteorder('<'), copy=False))
    h, w = arr.shape[:2]
    return ImageFields(height=h, width=w, encoding=encoding,
                       step=w * channels * dtype.itemsize, data=arr.tobytes(),
                       is_bigendian=False)


def to_rgb8(array: np.ndarray, encoding: str) -> np.ndarray:
    """Convert an image array of ``encoding`` to an (H, W, 3) uint8 RGB array for a model."""
    dtype, channels = _layout(encoding)
    arr = np.asarray(array)
    if encoding in _TO_RGB:
        import cv2
        try:
            return cv2.cvtColor(np.ascontiguousarray(arr), getattr(cv2, _TO_RGB[encoding]))
        except cv2.error as exc:  # e.g. a mosaic too small to demosaic
            reason = str(exc).strip().splitlines()[-1][:200]
            raise InputError('image.data', (
                f'cannot decode a {arr.shape} {encoding} frame: {reason}')) from None
    if encoding in ('rgb8', '8UC3'):
        return arr
    if encoding == 'bgr8':
        return arr[:, :, ::-1].copy()
    if encoding in ('rgba8', '8UC4'):
        return arr[:, :, :3].copy()
    if encoding == 'bgra8':
        return arr[:, :, 2::-1].copy()
    if encoding in ('mono16', '16UC1'):
        arr = (arr >> 8).astype(np.uint8)
    elif encoding == '32FC1':
        # float64: the range of float32 values (up to 2 x 3.4e38) overflows float32
        finite = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(finite.min()), float(finite.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        arr = np.clip((finite - lo) * scale, 0, 255).astype(np.uint8)
    return np.repeat(arr[:, :, None], 3, axis=2)
