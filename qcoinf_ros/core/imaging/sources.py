"""
Frame sources for the camera node.

A V4L2 device, a video file, a folder of images, or the package's scene generator (the
embedded captioning task). ``auto`` (the default) picks from the path: a folder of images, a
video file, or, with no path, the bundled scenes (:func:`resolve_source` says which, and why).

Each source yields RGB ``uint8`` arrays of shape (H, W, 3). OpenCV does the capture and
decoding. Bad configuration (missing file, unreadable device, empty folder) raises
``ValueError`` with the reason; a source that runs dry returns ``None`` from :meth:`read` unless
it loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from qcoinf_ros.core.imaging.convert import (
    check_image_size, DEFAULT_MAX_ASPECT, DEFAULT_MAX_PIXELS)

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm', '.pgm', '.tif', '.tiff', '.webp')
SOURCE_KINDS = ('auto', 'device', 'video', 'folder', 'scenes')
# What to tell a user whose camera source fell back to the bundled scenes.
POINT_AT_A_CAMERA = ('point it at a camera with camera_source:=device camera_device:=/dev/videoN '
                     '(or device_index:=N), or at recordings with camera_source:=video|folder '
                     'camera_path:=PATH')


class FrameSource(Protocol):
    """Something the camera node can read RGB frames from."""

    def read(self) -> np.ndarray | None:
        ...

    def close(self) -> None:
        ...


def _bgr_to_rgb(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


@dataclass(frozen=True)
class CaptureSettings:
    """
    What to ask a V4L2 device for: frame size, rate and pixel format (0 / '' = its default).

    ``pixel_format`` is a V4L2 FourCC such as ``MJPG`` (most USB cameras' only format at full
    size and rate), ``YUYV``, ``UYVY``, ``NV12`` or ``GREY``. A driver may give something
    else; :meth:`CaptureSource.negotiated` says what it gave.
    """

    width: int = 0
    height: int = 0
    fps: float = 0.0
    pixel_format: str = ''

    def __post_init__(self):
        if self.width < 0 or self.height < 0 or self.fps < 0:
            raise ValueError(f'capture width, height and fps must be >= 0, got '
                             f'{self.width}x{self.height} at {self.fps}')
        if self.pixel_format and (len(self.pixel_format) != 4
                                  or not self.pixel_format.isascii()
                                  or not self.pixel_format.isprintable()):
            raise ValueError(f'pixel_format {self.pixel_format!r} is not a FourCC (four '
                             'printable ASCII characters, e.g. MJPG or YUYV)')


def _fourcc_code(text: str) -> int:
    """V4L2's (and OpenCV's) FourCC: the four characters, little-endian."""
    return sum(ord(c) << (8 * i) for i, c in enumerate(text))


def _fourcc_text(code: float) -> str:
    value = int(code)
    return ''.join(chr((value >> (8 * i)) & 0xFF) for i in range(4)).strip('\0 ')


def device_target(index: int, path: str = '') -> int | str:
    """
    Return the V4L2 device to open: ``path`` when given, else the index.

    ``path`` is ``/dev/videoN`` or a udev link such as ``/dev/v4l/by-id/...``; ``ValueError``
    for one that is not there.
    """
    if not path:
        if not 0 <= int(index) <= 255:
            raise ValueError(f'device_index {index!r} is outside 0..255')
        return int(index)
    if not Path(path).exists():
        raise ValueError(f'camera device {path!r} does not exist (ls /dev/video* lists the '
                         'devices; v4l2-ctl --list-devices names them)')
    return str(path)


class CaptureSource:
    """``cv2.VideoCapture`` on a V4L2 device (index or path) or a video file."""

    def __init__(self, target: int | str, loop: bool = False, device: bool = False,
                 settings: CaptureSettings | None = None):
        if not device and isinstance(target, str) and not Path(target).is_file():
            raise ValueError(f'video file {target!r} does not exist')
        self._target = target
        self._loop = loop and not device and isinstance(target, str)
        if device:  # V4L2 by name: a path is otherwise read as a file or a GStreamer pipeline
            self._cap = cv2.VideoCapture(target, cv2.CAP_V4L2)
        else:
            self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            what = (f'camera device {target}' if device or isinstance(target, int)
                    else f'video {target!r}')
            raise ValueError(f'cannot open {what} with OpenCV')
        self.requested = settings or CaptureSettings()
        self._apply(self.requested)

    def _apply(self, want: CaptureSettings) -> None:
        # the FourCC first: a driver's sizes and rates depend on the pixel format
        if want.pixel_format:
            self._cap.set(cv2.CAP_PROP_FOURCC, _fourcc_code(want.pixel_format))
        if want.width:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, want.width)
        if want.height:
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, want.height)
        if want.fps:
            self._cap.set(cv2.CAP_PROP_FPS, want.fps)

    def negotiated(self) -> CaptureSettings:
        """Return what the device (or file) delivers: size, rate and pixel format, as reported."""
        fps = float(self._cap.get(cv2.CAP_PROP_FPS))
        return CaptureSettings(
            width=max(int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), 0),
            height=max(int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), 0),
            fps=fps if fps > 0 and fps == fps else 0.0,
            pixel_format=_fourcc_text(self._cap.get(cv2.CAP_PROP_FOURCC)))

    def mismatches(self) -> list[str]:
        """Return the requested settings the device did not take ('width 640 (got 320)')."""
        got, want, out = self.negotiated(), self.requested, []
        for name in ('width', 'height', 'fps', 'pixel_format'):
            asked, have = getattr(want, name), getattr(got, name)
            if asked and (abs(asked - have) > 0.5 if name == 'fps' else asked != have):
                out.append(f'{name} {asked} (got {have or "unknown"})')
        return out

    def read(self) -> np.ndarray | None:
        ok, frame = self._cap.read()
        if not ok and self._loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read()
        return _bgr_to_rgb(frame) if ok else None

    def close(self) -> None:
        self._cap.release()


class FolderSource:
    """The images of a folder, in file-name order; undecodable files raise ``ValueError``."""

    def __init__(self, folder: str | Path, loop: bool = True):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ValueError(f'image folder {str(self.folder)!r} does not exist')
        self.files = sorted(p for p in self.folder.iterdir()
                            if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise ValueError(f'image folder {str(self.folder)!r} holds no images '
                             f'({", ".join(IMAGE_SUFFIXES)})')
        self._loop = loop
        self._index = 0

    def read(self) -> np.ndarray | None:
        if self._index >= len(self.files):
            if not self._loop:
                return None
            self._index = 0
        path = self.files[self._index]
        self._index += 1
        frame = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if frame is None:
            raise ValueError(f'cannot decode image {str(path)!r}')
        if frame.dtype != np.uint8:
            frame = cv2.convertScaleAbs(frame, alpha=255.0 / max(float(frame.max()), 1.0))
        return _bgr_to_rgb(frame)

    def close(self) -> None:
        pass


class SceneSource:
    """Scenes ``0 .. count-1`` of a split of :mod:`qcoinf_ros.core.scenes`, deterministic."""

    def __init__(self, split: str = 'test', count: int = 100, loop: bool = True,
                 image_size: int = 96, seed: int = 0):
        from qcoinf_ros.core.scenes.generator import make_scene, SceneConfig
        self._config = SceneConfig(image_size=image_size, seed=seed)
        make_scene(split, 0, self._config)  # validates the split
        if count < 1:
            raise ValueError(f'scene count must be >= 1, got {count!r}')
        self._make, self.split, self.count, self._loop = make_scene, split, count, loop
        self.index = 0

    def read(self) -> np.ndarray | None:
        if self.index >= self.count:
            if not self._loop:
                return None
            self.index = 0
        scene = self._make(self.split, self.index, self._config)
        self.index += 1
        return scene.image

    def close(self) -> None:
        pass


def resize_rgb(frame: np.ndarray, width: int, height: int,
               max_pixels: int = DEFAULT_MAX_PIXELS,
               max_aspect: float = DEFAULT_MAX_ASPECT) -> np.ndarray:
    """
    Resize to ``width`` x ``height`` (0 keeps that side, or its aspect); area interpolation.

    The size it would have is checked first (:func:`~qcoinf_ros.core.imaging.convert.
    check_image_size`): ``ValueError`` rather than a frame of more than ``max_pixels`` (8192 x
    8192 from a 96-pixel scene was 200 MB a frame) or beyond ``max_aspect``.
    """
    h, w = frame.shape[:2]
    if width > 0 or height > 0:
        width = width if width > 0 else max(round(w * height / h), 1)
        height = height if height > 0 else max(round(h * width / w), 1)
    else:
        width, height = w, h
    check_image_size(width, height, max_pixels, max_aspect)
    if frame.shape[1::-1] == (width, height):
        return frame
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)


def resolve_source(kind: str, path: str = '') -> tuple[str, str]:
    """
    Return the concrete source kind for ``kind`` and ``path``, and a note for the log ('' if none).

    Only ``auto`` is resolved: a directory is a ``folder``, any other path a ``video``, and no
    path at all the bundled ``scenes`` (with a note saying so and how to point it at a camera).
    """
    if kind != 'auto':
        return kind, ''
    if not path:
        return 'scenes', ('camera: no camera configured (source auto, no path): publishing the '
                          'bundled scenes; ' + POINT_AT_A_CAMERA)
    return ('folder' if Path(path).expanduser().is_dir() else 'video'), ''


def make_source(kind: str, *, device_index: int = 0, path: str = '', loop: bool = True,
                scene_split: str = 'test', scene_count: int = 100, scene_size: int = 96,
                device_path: str = '', capture: CaptureSettings | None = None
                ) -> FrameSource:
    """Create a frame source of ``kind`` (one of :data:`SOURCE_KINDS`)."""
    kind, _ = resolve_source(kind, path)
    if kind == 'device':
        return CaptureSource(device_target(device_index, device_path), device=True,
                             settings=capture)
    if kind == 'video':
        return CaptureSource(path, loop=loop)
    if kind == 'folder':
        return FolderSource(path, loop=loop)
    if kind == 'scenes':
        return SceneSource(scene_split, scene_count, loop=loop, image_size=scene_size)
    raise ValueError(f'Invalid camera source: "{kind}" (expected one of '
                     f'{", ".join(SOURCE_KINDS)})')
