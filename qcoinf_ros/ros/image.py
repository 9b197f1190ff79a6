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

from qcoinf_ros.imaging import array_to_image_fields, image_fields_to_array, ImageFields


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


def image_msg_to_array(msg: Image) -> np.ndarray:
    """Return the image as an array in its own encoding's channel order."""
    if _BRIDGE is not None:
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
