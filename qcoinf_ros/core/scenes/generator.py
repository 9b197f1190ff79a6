"""
Seeded synthetic scenes: coloured shapes on a noisy background, each with five captions.

The embedded captioning task of the package (a stand-in for MS-COCO that runs offline): every
scene holds one or two shapes (circle, square, triangle; six distinct colours; two sizes) in the
cells of a 3 x 3 grid (jittered inside the cell; two shapes share a row or a column), on a
white, gray or black background with a gradient and pixel noise. Its five reference captions,
like COCO's, word the same content differently: the shapes' size, colour and kind, their
relation ("a small red circle left of a large blue square") or, for a single shape, its place
("in the top left corner"), and the background. Every word in them is decided by what is drawn,
so a captioner has to see the image to get them right (about 50,000 distinct layouts of words).
The shape named first is the left one of a row or the upper one of a column, so which shape a
caption starts with follows from the image too.

A scene is a pure function of ``(seed, split, index)``: ``numpy.random.default_rng`` is seeded
with that triple (a ``SeedSequence``), so scenes are identical across runs and machines, and the
splits (``train``, ``val``, ``test``) never share a seed, an id or an image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw

from qcoinf_ros.core.validation import require_int_in_range, require_nonnegative

__all__ = ['SPLITS', 'COLOURS', 'BACKGROUNDS', 'SHAPES', 'SIZES', 'RELATIONS', 'SceneConfig',
           'SceneObject', 'Scene', 'make_scene', 'iter_scenes', 'scene_id', 'split_of_id',
           'caption_vocabulary', 'NUM_CAPTIONS']

SPLITS = ('train', 'val', 'test')
# Scene ids: split code * ID_STRIDE + index (COCO ids are plain integers).
ID_STRIDE = 10_000_000
NUM_CAPTIONS = 5

# Named object colours (RGB) and background grey levels; objects get a small per-scene jitter.
COLOURS = {
    'red': (220, 30, 30),
    'green': (30, 170, 50),
    'blue': (40, 70, 225),
    'yellow': (240, 215, 30),
    'purple': (145, 45, 185),
    'orange': (250, 135, 20),
}
BACKGROUNDS = {'white': 235, 'gray': 128, 'black': 22}
SHAPES = ('circle', 'square', 'triangle')
# Size word -> radius range as a fraction of the image side; the ranges leave a clear gap and
# the largest shape fits in its cell of the 3 x 3 grid.
SIZES = {'small': (0.065, 0.085), 'large': (0.115, 0.145)}
# Synonyms used by some caption templates, so the five references differ in wording.
SIZE_SYNONYMS = {'small': 'little', 'large': 'big'}
# Relation of the subject to the other object -> (short, long, inverse short) wording.
RELATIONS = {
    'left': ('left of', 'to the left of', 'right of'),
    'right': ('right of', 'to the right of', 'left of'),
    'above': ('above', 'above', 'below'),
    'below': ('below', 'below', 'above'),
}
# Single objects: grid cell (column, row) -> where it is.
PLACES = {
    (0, 0): 'in the top left corner', (1, 0): 'at the top', (2, 0): 'in the top right corner',
    (0, 1): 'on the left', (1, 1): 'in the center', (2, 1): 'on the right',
    (0, 2): 'in the bottom left corner', (1, 2): 'at the bottom',
    (2, 2): 'in the bottom right corner',
}
_SUPERSAMPLE = 4
# Shapes sit in the cells of a GRID x GRID layout (one shape per cell).
GRID = 3


@dataclass(frozen=True)
class SceneConfig:
    """How scenes are drawn: image side, seed, share of two-object scenes, noise level."""

    image_size: int = 96
    seed: int = 0
    two_object_fraction: float = 0.7
    noise_std: float = 6.0
    colour_jitter: int = 15

    def __post_init__(self):
        """Validate every field; raise ``ValueError`` naming the bad value."""
        require_int_in_range('image_size', self.image_size, 32, 1024)
        require_int_in_range('seed', self.seed, 0, 2 ** 32 - 1)
        fraction = require_nonnegative('two_object_fraction', self.two_object_fraction)
        if fraction > 1.0:
            raise ValueError(f'two_object_fraction must be <= 1, got {fraction!r}')
        require_nonnegative('noise_std', self.noise_std)
        require_int_in_range('colour_jitter', self.colour_jitter, 0, 60)


@dataclass(frozen=True)
class SceneObject:
    """One drawn shape: kind, colour and size words, centre and radius in pixels."""

    shape: str
    colour: str
    size: str
    cx: float
    cy: float
    radius: float

    def phrase(self, synonyms: bool = False) -> str:
        """``'small red circle'`` (``'little red circle'`` with ``synonyms``)."""
        size = SIZE_SYNONYMS[self.size] if synonyms else self.size
        return f'{size} {self.colour} {self.shape}'


@dataclass(frozen=True)
class Scene:
    """An image (``H x W x 3`` uint8) with its five reference captions and its layout."""

    image_id: int
    split: str
    image: np.ndarray
    captions: tuple[str, ...]
    objects: tuple[SceneObject, ...]
    background: str
    relation: str | None = None
    place: tuple[int, int] | None = None

    def as_tuple(self) -> tuple[np.ndarray, list[str], int]:
        """``(image, captions, id)``, the form dataset writers (COCO, rosbag) consume."""
        return self.image, list(self.captions), self.image_id


def _check_split(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f'Invalid split: "{split}" (expected one of {SPLITS})')
    return SPLITS.index(split)


def scene_id(split: str, index: int) -> int:
    """Integer id of scene ``index`` of ``split`` (unique across splits)."""
    code = _check_split(split)
    index = require_int_in_range('index', index, 0, ID_STRIDE - 1)
    return code * ID_STRIDE + index


def split_of_id(image_id: int) -> tuple[str, int]:
    """Inverse of :func:`scene_id`: ``(split, index)``."""
    image_id = require_int_in_range('image_id', image_id, 0, len(SPLITS) * ID_STRIDE - 1)
    return SPLITS[image_id // ID_STRIDE], image_id % ID_STRIDE


def caption_vocabulary() -> list[str]:
    """Every word a scene caption can contain, sorted."""
    words = {'a', 'is', 'there', 'and', 'on', 'background', 'with'}
    words.update(COLOURS, BACKGROUNDS, SHAPES, SIZES, SIZE_SYNONYMS.values())
    for wording in list(RELATIONS.values()) + [(p,) for p in PLACES.values()]:
        for text in wording:
            words.update(text.split())
    return sorted(words)


def _captions_one(obj: SceneObject, place: tuple[int, int], background: str) -> tuple[str, ...]:
    where = PLACES[place]
    x, xs = obj.phrase(), obj.phrase(synonyms=True)
    return (f'a {x} {where}',
            f'a {xs} on a {background} background',
            f'there is a {x} {where}',
            f'a {background} background with a {x} {where}',
            f'a {xs} {where} on a {background} background')


def _captions_two(subject: SceneObject, other: SceneObject, relation: str,
                  background: str) -> tuple[str, ...]:
    short, long, inverse = RELATIONS[relation]
    x, y = subject.phrase(), other.phrase()
    xs, ys = subject.phrase(synonyms=True), other.phrase(synonyms=True)
    return (f'a {x} {short} a {y}',
            f'a {xs} is {long} a {ys}',
            f'a {y} {inverse} a {x}',
            f'there is a {x} {short} a {y} on a {background} background',
            f'a {xs} and a {ys} on a {background} background')


def _radius(rng: np.random.Generator, size: str, side: int) -> float:
    low, high = SIZES[size]
    return float(rng.uniform(low, high) * side)


def _centre(rng: np.random.Generator, cell: tuple[int, int], radius: float, side: int):
    """Centre of a shape in grid ``cell`` (column, row), jittered but inside the cell."""
    size = side / GRID
    slack = max(0.0, min(0.04 * side, size / 2 - radius - 1))
    return tuple(float(size * (c + 0.5) + rng.uniform(-slack, slack)) for c in cell)


def _place_two(rng: np.random.Generator, relation: str):
    """Grid cells of subject and other: same row (left / right) or same column (above / below)."""
    line = int(rng.integers(GRID))
    first, second = sorted(int(v) for v in rng.choice(GRID, size=2, replace=False))
    if relation in ('right', 'below'):
        first, second = second, first
    if relation in ('left', 'right'):
        return (first, line), (second, line)
    return (line, first), (line, second)


def _shape_mask(obj: SceneObject, side: int) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of ``obj`` (drawn at 4x, box-averaged)."""
    s = _SUPERSAMPLE
    x0, y0 = (max(int(np.floor(c - obj.radius)) - 1, 0) for c in (obj.cx, obj.cy))
    x1, y1 = (min(int(np.ceil(c + obj.radius)) + 2, side) for c in (obj.cx, obj.cy))
    canvas = Image.new('L', ((x1 - x0) * s, (y1 - y0) * s), 0)
    draw = ImageDraw.Draw(canvas)
    cx, cy, r = (obj.cx - x0) * s, (obj.cy - y0) * s, obj.radius * s
    if obj.shape == 'circle':
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    elif obj.shape == 'square':
        h = 0.85 * r
        draw.rectangle((cx - h, cy - h, cx + h, cy + h), fill=255)
    else:  # an upward equilateral triangle inscribed in the circle of radius r
        angles = np.deg2rad([-90.0, 30.0, 150.0])
        draw.polygon([(cx + r * np.cos(a), cy + r * np.sin(a)) for a in angles], fill=255)
    mask = np.zeros((side, side), dtype=np.float32)
    mask[y0:y1, x0:x1] = np.asarray(canvas.reduce(s), dtype=np.float32) / 255.0
    return mask


def _render(rng: np.random.Generator, objects, background: str, config: SceneConfig):
    side = config.image_size
    level = (BACKGROUNDS[background] + rng.uniform(-10, 10, size=3)).astype(np.float32)
    # A linear gradient in a random direction, up to +-14 grey levels.
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.linspace(-1.0, 1.0, side, dtype=np.float32)
    cos, sin = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    gradient = cos * ramp[None, :] + sin * ramp[:, None]
    image = level[None, None, :] + np.float32(14.0) * gradient[:, :, None]
    for obj in objects:
        colour = np.array(COLOURS[obj.colour], dtype=np.float32)
        colour += rng.integers(-config.colour_jitter, config.colour_jitter + 1, size=3)
        alpha = _shape_mask(obj, side)[:, :, None]
        image = image * (1.0 - alpha) + np.clip(colour, 0, 255) * alpha
    image = image + config.noise_std * rng.standard_normal(image.shape, dtype=np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def make_scene(split: str, index: int, config: SceneConfig = SceneConfig()) -> Scene:
    """Scene ``index`` of ``split``: a pure function of ``(config.seed, split, index)``."""
    if not isinstance(config, SceneConfig):
        raise ValueError(f'config must be a SceneConfig, got {type(config).__name__}')
    image_id = scene_id(split, index)
    rng = np.random.default_rng([config.seed, _check_split(split), int(index)])
    side = config.image_size
    background = str(rng.choice(list(BACKGROUNDS)))
    count = 2 if rng.random() < config.two_object_fraction else 1
    colours = rng.choice(list(COLOURS), size=count, replace=False)
    shapes = rng.choice(SHAPES, size=count)
    sizes = rng.choice(list(SIZES), size=count)
    radii = [_radius(rng, str(s), side) for s in sizes]
    if count == 1:
        relation = None
        place = (int(rng.integers(GRID)), int(rng.integers(GRID)))
        cells = (place,)
    else:
        # The shape named first is the left (or upper) one: like the words, their order follows
        # from the image, so the five references cover every correct reading.
        relation = str(rng.choice(['left', 'above']))
        place = None
        cells = _place_two(rng, relation)
    objects = tuple(SceneObject(str(shapes[i]), str(colours[i]), str(sizes[i]),
                                *_centre(rng, cells[i], radii[i], side), radii[i])
                    for i in range(count))
    if count == 1:
        captions = _captions_one(objects[0], place, background)
    else:
        captions = _captions_two(objects[0], objects[1], relation, background)
    image = _render(rng, objects, background, config)
    return Scene(image_id, split, image, captions, objects, background, relation, place)


def iter_scenes(split: str, count: int, config: SceneConfig = SceneConfig(),
                start: int = 0) -> Iterator[tuple[np.ndarray, list[str], int]]:
    """Yield ``(image, captions, id)`` for scenes ``start .. start + count - 1`` of ``split``."""
    count = require_int_in_range('count', count, 0)
    start = require_int_in_range('start', start, 0)
    for index in range(start, start + count):
        yield make_scene(split, index, config).as_tuple()
