"""Tests of the scene generator: determinism, captions checked against pixels, splits, COCO."""

import json
import re

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

from qcoinf_ros.core.scenes.coco import load_coco, write_coco, write_scene_split
from qcoinf_ros.core.scenes.generator import (
    BACKGROUNDS, caption_vocabulary, COLOURS, iter_scenes, make_scene, NUM_CAPTIONS, scene_id,
    SceneConfig, SHAPES, SIZES, split_of_id, SPLITS)

WORD = r'(\w+)'
OBJECT = rf'{WORD} {WORD} {WORD}'
TWO = re.compile(rf'^a {OBJECT} (left of|right of|above|below) a {OBJECT}$')
ONE = re.compile(rf'^a {OBJECT} (.+)$')
BACKGROUND = re.compile(r'on a (\w+) background')


def test_same_seed_same_scene_and_different_seeds_differ():
    first = [make_scene('train', i) for i in range(5)]
    again = [make_scene('train', i) for i in range(5)]
    for a, b in zip(first, again):
        assert np.array_equal(a.image, b.image) and a.captions == b.captions
    other_seed = make_scene('train', 0, SceneConfig(seed=1))
    assert not np.array_equal(first[0].image, other_seed.image)
    assert not np.array_equal(first[0].image, first[1].image)
    assert list(iter_scenes('train', 2, start=3))[1][2] == first[4].image_id


def _colour_regions(image):
    """Pixels whose RGB is within 50 of a palette colour, grouped by that colour (>= 15 px)."""
    names = list(COLOURS)
    palette = np.array([COLOURS[n] for n in names], dtype=np.float64)
    dist = np.linalg.norm(image[:, :, None, :].astype(np.float64) - palette, axis=-1)
    nearest = dist.argmin(-1)
    close = dist.min(-1) < 50
    regions = {}
    for k, name in enumerate(names):
        ys, xs = np.nonzero(close & (nearest == k))
        if len(xs) >= 15:
            regions[name] = (xs, ys)
    return regions


def _measure(xs, ys, side):
    """Shape, size word and centre of a pixel region, from the pixels alone."""
    width, height = np.ptp(xs) + 1, np.ptp(ys) + 1
    fill = len(xs) / (width * height)  # of the bounding box: 1/2, pi/4 or 1
    shape = min({'triangle': 0.5, 'circle': np.pi / 4, 'square': 1.0}.items(),
                key=lambda item: abs(item[1] - fill))[0]
    # Area of a shape of circumradius r: 3 sqrt(3) / 4 r^2, pi r^2, (1.7 r)^2.
    area_factor = {'triangle': 3 * np.sqrt(3) / 4, 'circle': np.pi, 'square': 1.7 ** 2}[shape]
    radius = np.sqrt(len(xs) / area_factor)
    gap = (SIZES['small'][1] + SIZES['large'][0]) / 2
    size = 'small' if radius < gap * side else 'large'
    return shape, size, (xs.mean(), ys.mean())


def test_captions_describe_the_pixels():
    """Colours, shapes, sizes, relation, place and background read from the image."""
    side = SceneConfig().image_size
    background_words = list(BACKGROUNDS)
    for index in range(60):
        scene = make_scene('val', index)
        image = scene.image
        regions = _colour_regions(image)
        corners = np.concatenate([image[:3, :3].reshape(-1, 3), image[-3:, -3:].reshape(-1, 3)])
        level = np.median(corners)
        seen_bg = min(background_words, key=lambda w: abs(BACKGROUNDS[w] - level))
        assert {m.group(1) for c in scene.captions for m in BACKGROUND.finditer(c)} == {seen_bg}
        canonical = scene.captions[0]
        two = TWO.match(canonical)
        if two:
            size1, colour1, shape1, relation, size2, colour2, shape2 = two.groups()
            assert set(regions) == {colour1, colour2}, (index, canonical, set(regions))
            m1, m2 = (_measure(*regions[c], side) for c in (colour1, colour2))
            assert (m1[:2], m2[:2]) == ((shape1, size1), (shape2, size2)), (index, canonical)
            dx, dy = np.subtract(m2[2], m1[2])
            expected = {'left of': dx > abs(dy), 'right of': -dx > abs(dy),
                        'above': dy > abs(dx), 'below': -dy > abs(dx)}
            assert expected[relation], (index, canonical, dx, dy)
        else:
            size, colour, shape, where = ONE.match(canonical).groups()
            assert set(regions) == {colour}, (index, canonical, set(regions))
            got_shape, got_size, (cx, cy) = _measure(*regions[colour], side)
            assert (got_shape, got_size) == (shape, size), (index, canonical)
            column = 'left' if cx < side / 3 else 'right' if cx > side * 2 / 3 else None
            row = 'top' if cy < side / 3 else 'bottom' if cy > side * 2 / 3 else None
            words = set(where.split())
            assert (column in words) if column else not words & {'left', 'right'}, canonical
            assert (row in words) if row else not words & {'top', 'bottom'}, canonical


def test_five_distinct_references_over_the_vocabulary():
    vocabulary = set(caption_vocabulary())
    for image, captions, _ in iter_scenes('test', 30):
        assert image.shape == (96, 96, 3) and image.dtype == np.uint8
        assert len(captions) == NUM_CAPTIONS == len(set(captions))
        assert all(set(c.split()) <= vocabulary for c in captions)
    assert set(COLOURS) | set(SHAPES) | set(BACKGROUNDS) <= vocabulary


@settings(max_examples=25, deadline=None)
@given(split=st.sampled_from(SPLITS), index=st.integers(0, 10 ** 6),
       seed=st.integers(0, 2 ** 32 - 1), size=st.sampled_from([32, 48, 64, 96]))
def test_any_scene_is_well_formed(split, index, seed, size):
    scene = make_scene(split, index, SceneConfig(image_size=size, seed=seed))
    assert scene.image.shape == (size, size, 3)
    assert split_of_id(scene.image_id) == (split, index)
    assert len(scene.objects) in (1, 2) and len(scene.captions) == NUM_CAPTIONS
    for obj in scene.objects:
        assert obj.radius <= obj.cx <= size - obj.radius
        assert obj.radius <= obj.cy <= size - obj.radius


def test_splits_are_disjoint():
    ids, images = {}, {}
    for split in SPLITS:
        scenes = list(iter_scenes(split, 150))
        ids[split] = {i for _, _, i in scenes}
        images[split] = {img.tobytes() for img, _, _ in scenes}
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not ids[a] & ids[b] and not images[a] & images[b]
    assert scene_id('val', 7) != scene_id('test', 7)


def test_bad_input_raises():
    with pytest.raises(ValueError, match='Invalid split'):
        make_scene('holdout', 0)
    with pytest.raises(ValueError, match='index'):
        make_scene('train', -1)
    with pytest.raises(ValueError, match='image_size'):
        SceneConfig(image_size=8)
    with pytest.raises(ValueError, match='two_object_fraction'):
        SceneConfig(two_object_fraction=1.5)
    with pytest.raises(ValueError, match='config'):
        make_scene('train', 0, config={'seed': 1})


def test_coco_export_round_trip(tmp_path):
    annotations, images_dir = write_scene_split(tmp_path, 'val', 6)
    data = json.loads(annotations.read_text())
    image_ids = {img['id'] for img in data['images']}
    assert len(data['images']) == 6 and len(data['annotations']) == 6 * NUM_CAPTIONS
    assert {a['image_id'] for a in data['annotations']} == image_ids
    assert len({a['id'] for a in data['annotations']}) == len(data['annotations'])
    assert all((images_dir / img['file_name']).is_file() for img in data['images'])
    loaded = load_coco(annotations, images_dir)
    for (image, captions, image_id), scene in zip(loaded, iter_scenes('val', 6)):
        assert image_id == scene[2] and captions == scene[1]
        assert np.array_equal(image, scene[0])  # PNG is lossless
    assert [s[2] for s in load_coco(annotations, images_dir, count=2)] == sorted(image_ids)[:2]


def test_coco_errors(tmp_path):
    with pytest.raises(ValueError, match='cannot read COCO'):
        load_coco(tmp_path / 'missing.json', tmp_path)
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match='duplicate'):
        write_coco([(image, ['x'], 1), (image, ['y'], 1)], tmp_path / 'a.json', tmp_path)
    with pytest.raises(ValueError, match='uint8'):
        write_coco([(image.astype(float), ['x'], 1)], tmp_path / 'a.json', tmp_path)
    (tmp_path / 'bad.json').write_text(json.dumps(
        {'images': [], 'annotations': [{'image_id': 3, 'caption': 'x'}]}))
    with pytest.raises(ValueError, match='missing'):
        load_coco(tmp_path / 'bad.json', tmp_path)
    write_coco([(image, ['x'], 5)], tmp_path / 'ok.json', tmp_path / 'img')
    (tmp_path / 'img' / '000000000005.png').unlink()
    with pytest.raises(ValueError, match='cannot read image'):
        load_coco(tmp_path / 'ok.json', tmp_path / 'img')
