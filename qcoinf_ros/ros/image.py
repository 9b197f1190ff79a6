"""
sensor_msgs/Image <-> numpy, through cv_bridge when importable, else the package's converter.

cv_bridge is not published as a wheel (and PyPI's ``cv-bridge`` is the ROS 1 one), so on the
venv set-up the package's own converter (:mod:`qcoinf_ros.imaging.convert`) is used; on a robot
with ROS 2's cv_bridge installed, that is used instead. Both raise ``ValueError`` for a
malformed message.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import Image

from qcoinf_ros.imaging import (
    array_to_image_fields, check_image_size, DEFAULT_MAX_ASPECT, DEFAULT_MAX_PIXELS,
    DRIVER_ENCODINGS, image_fields_to_array, ImageFields)
from qcoinf_ros.ros.params import ParamSpec

#: The parameters of every node that takes camera frames (:func:`image_msg_to_array`).
IMAGE_LIMIT_PARAMS = [
    ParamSpec('max_image_pixels', DEFAULT_MAX_PIXELS, 'Frames with more pixels are dropped '
              'before they are decoded (default: 4K).', low=1, high=1 << 30),
    ParamSpec('max_image_aspect', DEFAULT_MAX_ASPECT, 'Frames whose longer side exceeds the '
              'shorter one this many times are dropped before they are decoded (resizing them '
              'multiplies their pixels).', low=1.0, high=1e6),
]


#: Camera-driver encodings decoded by the package's converter also where cv_bridge exists
#: (cv_bridge's passthrough differs between versions for them; one decoder, pinned by tests).
OWN_ENCODINGS = DRIVER_ENCODINGS


def _load_bridge():
    try:
        from cv_bridge import CvBridge
        return CvBridge()
    except Exception:  # noqa: BLE001 - missing, or the ROS 1 package that breaks on numpy 2
        return None


_BRIDGE = _load_bridge()


def converter_name() -> str:
    """Return which converter is in use: ``cv_bridge`` or ``qcoinf_ros``."""
    return 'cv_bridge' if _BRIDGE is not None else 'qcoinf_ros'


def source_of(msg, info=None):
    """
    Key of the publisher of ``msg``: its GID from the message info, else its ``frame_id``.

    rclpy passes the message info (a dict with ``publisher_gid``) to a callback that takes two
    arguments; where the middleware gives no GID the frame id stands in.
    """
    try:
        gid = info['publisher_gid']
        return ('gid', bytes(gid['data']))
    except (TypeError, KeyError, ValueError):
        return ('frame_id', str(msg.header.frame_id)[:256])


def image_msg_to_array(msg: Image, max_pixels: int = DEFAULT_MAX_PIXELS,
                       max_aspect: float = DEFAULT_MAX_ASPECT) -> np.ndarray:
    """
    Return the image as an array in its own encoding's channel order.

    ``ValueError`` for a malformed message, and for one whose declared size is beyond
    ``max_pixels`` or ``max_aspect`` (:func:`qcoinf_ros.imaging.check_image_size`), checked
    before the data is touched.
    """
    check_image_size(msg.width, msg.height, max_pixels, max_aspect)
    if _BRIDGE is not None and msg.encoding not in OWN_ENCODINGS:
        try:
            return _BRIDGE.imgmsg_to_cv2(msg, desired_encoding='passthrough')
        except Exception as exc:  # noqa: BLE001 - CvBridgeError and friends
            raise ValueError(f'malformed image: {exc}') from None
    return image_fields_to_array(ImageFields(
        height=msg.height, width=msg.width, encoding=msg.encoding, step=msg.step,
        data=bytes(msg.data), is_bigendian=bool(msg.is_bigendian)))


def array_to_image_msg(array: np.ndarray, encoding: str) -> Image:
    """Return an Image message (header left for the caller) holding ``array``."""
    if _BRIDGE is not None:
        return _BRIDGE.cv2_to_imgmsg(np.ascontiguousarray(array), encoding=encoding)
    fields = array_to_image_fields(array, encoding)
    msg = Image()
    msg.height, msg.width, msg.encoding = fields.height, fields.width, fields.encoding
    msg.step, msg.is_bigendian, msg.data = fields.step, int(fields.is_bigendian), fields.data
    return msg
