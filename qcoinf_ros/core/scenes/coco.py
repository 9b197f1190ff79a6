"""
COCO-format caption datasets: write scenes as one, read any (scenes or MS-COCO) back.

The annotation file follows the MS-COCO captions layout: ``images`` (``id``, ``file_name``,
``width``, ``height``) and ``annotations`` (``id``, ``image_id``, ``caption``), plus ``info``.
Images are PNG files in one folder. A dataset in memory is a list of ``(image, captions, id)``
with ``image`` an ``H x W x 3`` uint8 RGB array, the same triple :func:`iter_scenes` yields.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from qcoinf_ros.core.scenes.generator import iter_scenes, SceneConfig
from qcoinf_ros.core.validation import require_int_in_range

__all__ = ['write_coco', 'write_scene_split', 'load_coco', 'Sample']

Sample = tuple[np.ndarray, list[str], int]


def write_coco(samples: Iterable[Sample], annotations: str | os.PathLike,
               images_dir: str | os.PathLike, description: str = '') -> int:
    """
    Write ``(image, captions, id)`` samples as PNG files plus a COCO captions JSON file.

    Images are named ``<id as 12 digits>.png`` (COCO's naming). Returns the number of images.
    """
    annotations, images_dir = Path(annotations), Path(images_dir)
    images_dir.mkdir(parents=True, exist_ok=True)
    images, anns, seen = [], [], set()
    for image, captions, image_id in samples:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f'image {image_id} must be an H x W x 3 uint8 array, got dtype '
                             f'{image.dtype} and shape {image.shape}')
        image_id = int(image_id)
        if image_id in seen:
            raise ValueError(f'duplicate image id {image_id}')
        seen.add(image_id)
        name = f'{image_id:012d}.png'
        Image.fromarray(image).save(images_dir / name)
        images.append({'id': image_id, 'file_name': name, 'width': int(image.shape[1]),
                       'height': int(image.shape[0])})
        for caption in captions:
            anns.append({'id': len(anns) + 1, 'image_id': image_id, 'caption': str(caption)})
    data = {'info': {'description': description or 'qcoinf_ros captions'},
            'images': images, 'annotations': anns}
    annotations.parent.mkdir(parents=True, exist_ok=True)
    annotations.write_text(json.dumps(data))
    return len(images)


def write_scene_split(out_dir: str | os.PathLike, split: str = 'test', count: int = 500,
                      config: SceneConfig = SceneConfig()) -> tuple[Path, Path]:
    """
    Write ``count`` scenes of ``split`` under ``out_dir``; return (annotation file, image dir).

    Layout: ``out_dir/annotations/captions_<split>.json`` and ``out_dir/<split>/*.png``.
    """
    out = Path(out_dir)
    annotations = out / 'annotations' / f'captions_{split}.json'
    images_dir = out / split
    write_coco(iter_scenes(split, count, config), annotations, images_dir,
               description=f'qcoinf_ros scenes, split {split}, seed {config.seed}, '
                           f'{config.image_size}x{config.image_size}')
    return annotations, images_dir


def load_coco(annotations: str | os.PathLike, images_dir: str | os.PathLike,
              count: int | None = None) -> list[Sample]:
    """
    Read a COCO captions file and its images: ``[(image, captions, id)]`` sorted by id.

    ``count`` keeps the first images (by id). Images without a caption are skipped. Raise
    ``ValueError`` naming the problem for a missing or malformed file or image.
    """
    annotations, images_dir = Path(annotations), Path(images_dir)
    try:
        data = json.loads(annotations.read_text())
        files = {int(img['id']): str(img['file_name']) for img in data['images']}
        captions: dict[int, list[str]] = {}
        for ann in data['annotations']:
            captions.setdefault(int(ann['image_id']), []).append(str(ann['caption']))
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f'cannot read COCO annotations {str(annotations)!r}: {exc}') from exc
    unknown = sorted(set(captions) - set(files))
    if unknown:
        raise ValueError(f'annotations refer to image ids missing from "images": {unknown[:5]}')
    ids = sorted(i for i in files if i in captions)
    if count is not None:
        ids = ids[:require_int_in_range('count', count, 1)]
    samples = []
    for image_id in ids:
        path = images_dir / files[image_id]
        try:
            with Image.open(path) as img:
                image = np.asarray(img.convert('RGB'))
        except OSError as exc:
            raise ValueError(f'cannot read image {str(path)!r}: {exc}') from exc
        samples.append((image, captions[image_id], image_id))
    return samples
