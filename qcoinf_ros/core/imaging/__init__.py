"""Image buffers: Image fields and CompressedImage files <-> numpy arrays, without cv_bridge."""

from qcoinf_ros.core.imaging.compressed import (
    CODECS, compressed_size, decode_compressed, encode_compressed, parse_format)
from qcoinf_ros.core.imaging.convert import (
    array_to_image_fields, check_image_size, DEFAULT_MAX_ASPECT, DEFAULT_MAX_PIXELS,
    DRIVER_ENCODINGS, ENCODINGS,
    image_fields_to_array, ImageFields, to_rgb8)

__all__ = ['array_to_image_fields', 'check_image_size', 'CODECS', 'compressed_size',
           'decode_compressed', 'DEFAULT_MAX_ASPECT', 'encode_compressed', 'parse_format',
           'DEFAULT_MAX_PIXELS', 'DRIVER_ENCODINGS', 'ENCODINGS', 'image_fields_to_array',
           'ImageFields', 'to_rgb8']
