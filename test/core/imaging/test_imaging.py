"""Round trips and malformed buffers for the package's own Image converter."""

from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
import numpy as np
import pytest

from qcoinf_ros.core.imaging import (
    array_to_image_fields, DRIVER_ENCODINGS, ENCODINGS, image_fields_to_array, ImageFields,
    to_rgb8)

pytestmark = pytest.mark.check


def _array_for(encoding):
    dtype, channels = ENCODINGS[encoding]
    shape = st.tuples(st.integers(1, 9), st.integers(1, 9))
    if channels > 1:
        shape = shape.map(lambda s: (*s, channels))
    elements = st.floats(-1e6, 1e6, width=32) if dtype.kind == 'f' else None
    return hnp.arrays(dtype, shape, elements=elements)


@pytest.mark.parametrize('encoding', sorted(set(ENCODINGS) - set(DRIVER_ENCODINGS)))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_round_trip_every_encoding(encoding, data):
    arr = data.draw(_array_for(encoding))
    fields = array_to_image_fields(arr, encoding)
    assert fields.step * fields.height == len(fields.data)
    np.testing.assert_array_equal(image_fields_to_array(fields), arr)


@settings(max_examples=25, deadline=None)
@given(arr=_array_for('mono16'), pad=st.integers(1, 7))
def test_padded_rows_and_big_endian(arr, pad):
    h, w = arr.shape
    be = arr.astype('>u2').tobytes()
    rows = [be[i * 2 * w:(i + 1) * 2 * w] + b'\xff' * pad for i in range(h)]
    fields = ImageFields(h, w, 'mono16', 2 * w + pad, b''.join(rows), is_bigendian=True)
    np.testing.assert_array_equal(image_fields_to_array(fields), arr)


@pytest.mark.parametrize('fields, needle', [
    (ImageFields(2, 2, 'yuv444', 4, bytes(8)), 'unsupported image encoding'),
    (ImageFields(0, 2, 'mono8', 2, b''), 'zero size'),
    (ImageFields(2, 0, 'mono8', 0, b''), 'zero size'),
    (ImageFields(2, 2, 'rgb8', 5, bytes(10)), 'step 5'),
    (ImageFields(2, 2, 'rgb8', 6, bytes(11)), 'data length 11'),
    (ImageFields(2, 2, 'rgb8', 6, bytes(13)), 'data length 13'),
    (ImageFields(1 << 16, 1, 'mono8', 1, b''), 'exceeds'),
])
def test_malformed_images_raise_clear_errors(fields, needle):
    with pytest.raises(ValueError, match=needle):
        image_fields_to_array(fields)


def test_array_that_does_not_fit_the_encoding_is_rejected():
    with pytest.raises(ValueError, match='does not fit'):
        array_to_image_fields(np.zeros((2, 2), np.uint8), 'rgb8')
    with pytest.raises(ValueError, match='dtype'):
        array_to_image_fields(np.zeros((2, 2, 3), np.float32), 'rgb8')


def test_to_rgb8_channel_orders():
    rgb = np.array([[[10, 20, 30]]], np.uint8)
    assert to_rgb8(rgb, 'rgb8').tolist() == [[[10, 20, 30]]]
    assert to_rgb8(rgb[:, :, ::-1], 'bgr8').tolist() == [[[10, 20, 30]]]
    bgra = np.array([[[30, 20, 10, 255]]], np.uint8)
    assert to_rgb8(bgra, 'bgra8').tolist() == [[[10, 20, 30]]]
    assert to_rgb8(np.array([[7]], np.uint8), 'mono8').tolist() == [[[7, 7, 7]]]
    assert to_rgb8(np.array([[0x1234]], np.uint16), 'mono16').tolist() == [[[0x12] * 3]]
    depth = to_rgb8(np.array([[0.0, 2.0]], np.float32), '32FC1')
    assert depth[0, 0, 0] == 0 and depth[0, 1, 0] == 255


@settings(max_examples=200, deadline=None)
@given(h=st.integers(-2, 20), w=st.integers(-2, 20), step=st.integers(-2, 80),
       encoding=st.sampled_from(sorted(ENCODINGS) + ['bogus']), data=st.binary(max_size=200),
       big=st.booleans())
def test_fuzzed_fields_convert_or_raise_value_error(h, w, step, encoding, data, big):
    try:
        arr = image_fields_to_array(ImageFields(h, w, encoding, step, data, big))
        rgb = to_rgb8(arr, encoding)
    except ValueError:
        return
    # a 4:2:0 frame is its luma rows and half as many chroma rows; every frame decodes to h x w
    assert arr.shape[:2] == ((h * 3 // 2) if encoding in ('nv12', 'nv21') else h, w)
    assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8
