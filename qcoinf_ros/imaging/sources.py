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

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from qcoinf_ros.imaging.convert import check_image_size, DEFAULT_MAX_ASPECT, DEFAULT_MAX_PIXELS

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm', '.pgm', '.tif', '.tiff', '.webp')
SOURCE_KINDS = ('auto', 'device', 'video', 'folder', 'scenes')
# What to tell a user whose camera source fell back to the bundled scenes.
POINT_AT_A_CAMERA = ('point it at a camera with camera_source:=device device_index:=N, or at '
                     'recordings with camera_source:=video|folder camera_path:=PATH')


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


class CaptureSource:
    """``cv2.VideoCapture`` on a device index (V4L2) or a video file."""

    def __init__(self, target: int | str, loop: bool = False):
        if isinstance(target, str) and not Path(target).is_file():
            raise ValueError(f'video file {target!r} does not exist')
        self._target = target
        self._loop = loop and isinstance(target, str)
        self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            what = f'camera device {target}' if isinstance(target, int) else f'video {target!r}'
            raise ValueError(f'cannot open {what} with OpenCV')

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
    """Scenes ``0 .. count-1`` of a split of :mod:`qcoinf_ros.scenes`, deterministic."""

    def __init__(self, split: str = 'test', count: int = 100, loop: bool = True,
                 image_size: int = 96, seed: int = 0):
        from qcoinf_ros.scenes.generator import make_scene, SceneConfig
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

    The size it would have is checked first (:func:`~qcoinf_ros.imaging.convert.
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
                scene_split: str = 'test', scene_count: int = 100, scene_size: int = 96
                ) -> FrameSource:
    """Create a frame source of ``kind`` (one of :data:`SOURCE_KINDS`)."""
    kind, _ = resolve_source(kind, path)
    if kind == 'device':
        return CaptureSource(int(device_index))
    if kind == 'video':
        return CaptureSource(path, loop=loop)
    if kind == 'folder':
        return FolderSource(path, loop=loop)
    if kind == 'scenes':
        return SceneSource(scene_split, scene_count, loop=loop, image_size=scene_size)
    raise ValueError(f'Invalid camera source: "{kind}" (expected one of '
                     f'{", ".join(SOURCE_KINDS)})')
