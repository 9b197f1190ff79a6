"""
sensor_msgs/Image <-> numpy, through cv_bridge when importable, else the package's converter.

Nodes that take camera frames take them raw (``sensor_msgs/Image`` on the base topic) or, with
``image_transport`` = ``compressed``, as image_transport's compressed plugin publishes them:
``sensor_msgs/CompressedImage`` on ``<base topic>/compressed``, the base topic resolved with the
node's remappings first, as image_transport does (:func:`subscribe_frames`,
:func:`frame_to_rgb`).

cv_bridge is not published as a wheel (and PyPI's ``cv-bridge`` is the ROS 1 one), so on the
venv set-up the package's own converter (:mod:`qcoinf_ros.core.imaging.convert`) is used; on a
robot with ROS 2's cv_bridge installed, that is used instead. Both raise ``ValueError`` for a
malformed message.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CompressedImage, Image

from qcoinf_ros.core.imaging import (
    array_to_image_fields, check_image_size, compressed_size, decode_compressed,
    DEFAULT_MAX_ASPECT, DEFAULT_MAX_PIXELS, DRIVER_ENCODINGS, image_fields_to_array, ImageFields,
    parse_format, to_rgb8)
from qcoinf_ros.ros.params import ParamSpec
from qcoinf_ros.ros.qos import SENSOR

#: How a node takes camera frames: raw Image messages, or image_transport's compressed plugin.
IMAGE_TRANSPORTS = ('raw', 'compressed')
IMAGE_TRANSPORT_PARAM = ParamSpec(
    'image_transport', 'raw', 'raw: sensor_msgs/Image on camera/image_raw; compressed: '
    'sensor_msgs/CompressedImage (jpeg/png, as the image_transport compressed plugin writes '
    'it) on <camera/image_raw as remapped>/compressed.', choices=IMAGE_TRANSPORTS, read_only=True)

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
    ``max_pixels`` or ``max_aspect`` (:func:`qcoinf_ros.core.imaging.check_image_size`), checked
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


def frames_topic(node, base: str, transport: str) -> str:
    """
    Return the topic ``node`` takes frames from over ``transport``.

    ``base`` itself for ``raw``; for ``compressed`` the resolved (expanded and remapped)
    ``base`` plus ``/compressed``, as image_transport names its transport topics.
    """
    if transport == 'raw':
        return base
    if transport == 'compressed':
        return node.resolve_topic_name(base) + '/compressed'
    raise ValueError(f'unsupported image_transport {transport!r} (expected one of '
                     f'{", ".join(IMAGE_TRANSPORTS)})')


def subscribe_frames(node, base: str, transport: str, callback, qos=SENSOR):
    """
    Subscribe ``callback`` to the frames of ``base`` over ``transport``; return it.

    Best effort by default (:data:`~qcoinf_ros.ros.qos.SENSOR`, matching every camera driver);
    the standard ``qos_overrides.<topic>.subscription.*`` start parameters change it (e.g. reliable
    delivery for a soak that must count every frame). A bad override raises ``ValueError``.
    """
    from qcoinf_ros.ros.qos import with_overrides
    kind = Image if transport == 'raw' else CompressedImage
    topic = frames_topic(node, base, transport)
    return with_overrides(node, node.create_subscription, topic, kind, topic, callback, qos)


def frame_size(msg) -> tuple[int, int]:
    """(width, height) of a frame: declared by an Image, read from a CompressedImage's header."""
    if isinstance(msg, CompressedImage):
        return compressed_size(bytes(msg.data), parse_format(msg.format).codec)
    return int(msg.width), int(msg.height)


def frame_to_rgb(msg, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_aspect: float = DEFAULT_MAX_ASPECT):
    """
    Decode an Image or a CompressedImage to an (H, W, 3) uint8 RGB array.

    Sizes beyond ``max_pixels`` / ``max_aspect`` are refused before decoding; everything
    malformed is a ``ValueError`` with the reason.
    """
    if isinstance(msg, CompressedImage):
        return decode_compressed(msg.format, bytes(msg.data), max_pixels, max_aspect)
    return to_rgb8(image_msg_to_array(msg, max_pixels, max_aspect), msg.encoding)
