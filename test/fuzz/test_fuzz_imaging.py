"""
Fuzzing the image converter (``sensor_msgs/Image`` fields -> arrays -> RGB for a model).

Valid images of every supported encoding are built from random arrays and one or more of their
fields is then changed: the encoding (another one, or arbitrary text), the size (up to the
uint32 limit), the step, the data length, the byte order. The converter must return an array
that fits the fields or raise ``ValueError``, within the watchdog's time limit; ``to_rgb8`` must
then give an ``(H, W, 3)`` uint8 image. The same runs through a real ``sensor_msgs/msg/Image``
(the path the agent encoder takes).
"""

import dataclasses

from fuzz_support import bounded, fuzz_settings
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp
import numpy as np

from qcoinf_ros.core.imaging import array_to_image_fields, image_fields_to_array, to_rgb8
from qcoinf_ros.core.imaging.convert import DRIVER_ENCODINGS, ENCODINGS

U32 = 2**32 - 1


def _valid_fields(data):
    # built from arrays: the encodings the converter writes (the mutations reach the others)
    encoding = data.draw(st.sampled_from(sorted(set(ENCODINGS) - set(DRIVER_ENCODINGS))),
                         label='encoding')
    dtype, channels = ENCODINGS[encoding]
    shape = (data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9))) + \
        ((channels,) if channels > 1 else ())
    arr = data.draw(hnp.arrays(dtype, shape), label='pixels')
    return array_to_image_fields(arr, encoding)


def _mutate(fields, data):
    changes = {}
    for name in data.draw(st.lists(st.sampled_from(
            ['encoding', 'height', 'width', 'step', 'data', 'is_bigendian']), min_size=1,
            max_size=3, unique=True), label='fields'):
        if name == 'encoding':
            changes[name] = data.draw(st.sampled_from(sorted(ENCODINGS)) |
                                      st.text(max_size=10), label=name)
        elif name in ('height', 'width', 'step'):
            value = getattr(fields, name)
            changes[name] = data.draw(
                st.integers(0, 3 * value + 3) | st.sampled_from([0, 1, U32, U32 // 2 + 1]) |
                st.integers(0, U32), label=name)
        elif name == 'data':
            raw = fields.data
            cut = data.draw(st.integers(0, len(raw)), label='cut')
            changes[name] = raw[:cut] + data.draw(st.binary(max_size=24), label='extra')
        else:
            changes[name] = not fields.is_bigendian
    return dataclasses.replace(fields, **changes)


def _check(fields, what):
    with bounded(what):
        try:
            arr = image_fields_to_array(fields)
        except ValueError:
            return None
        with np.errstate(all='raise'):  # no overflow or NaN cast on the way to RGB
            rgb = to_rgb8(arr, fields.encoding)
    dtype, channels = ENCODINGS[fields.encoding]
    assert arr.dtype == dtype
    assert arr.shape == ((fields.height, fields.width, channels) if channels > 1
                         else (fields.height, fields.width))
    assert rgb.shape == (fields.height, fields.width, 3) and rgb.dtype == np.uint8
    return arr


@fuzz_settings(300)
@given(data=st.data())
def test_mutated_image_fields_convert_or_raise_value_error(data):
    fields = _mutate(_valid_fields(data), data)
    _check(fields, f'{fields.encoding!r} {fields.width}x{fields.height} step {fields.step} '
                   f'data {len(fields.data)} B')


@fuzz_settings(100)
@given(data=st.data())
def test_unmutated_images_round_trip(data):
    """The mutation test's starting points are valid: they convert back to the same pixels."""
    fields = _valid_fields(data)
    arr = _check(fields, 'a valid image')
    assert arr is not None
    assert array_to_image_fields(arr, fields.encoding) == fields


@fuzz_settings(150)
@given(data=st.data())
def test_mutated_image_messages_convert_or_raise_value_error(data):
    from sensor_msgs.msg import Image

    from qcoinf_ros.ros.image import image_msg_to_array

    fields = _mutate(_valid_fields(data), data)
    msg = Image(height=fields.height, width=fields.width, encoding=fields.encoding,
                step=fields.step, is_bigendian=int(fields.is_bigendian), data=fields.data)
    with bounded(f'Image message {fields.encoding!r} {fields.width}x{fields.height}'):
        try:
            arr = image_msg_to_array(msg)
        except ValueError:
            return
    assert arr.shape[:2] == (fields.height, fields.width)


def test_depth_image_spanning_the_float32_range_scales_without_overflow():
    """Regression: (max - min) of float32 depths overflowed to inf and the pixels became NaN."""
    f32 = np.finfo(np.float32)
    depth = np.array([[f32.min, 0.0, f32.max]], np.float32)
    with np.errstate(all='raise'):  # an overflow or NaN cast raises FloatingPointError
        rgb = to_rgb8(depth, '32FC1')
    assert rgb[0, :, 0].tolist() == [0, 127, 255]
