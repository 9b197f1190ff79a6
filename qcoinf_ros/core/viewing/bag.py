"""
A recorded bag as an MCAP file with the Foxglove view's channels (``qcoinf bag mcap``).

Every message of the graph's topics in the bag goes through the same :class:`~qcoinf_ros.
viewing.GraphModel` as the live bridge, logged at its recorded time, so the file opens in
Foxglove or Lichtblick with the shipped layout (``config/foxglove_layout.json``, also attached
to the file). Bad messages are counted and left out, as the bridge drops them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
import time

from qcoinf_ros.core.bags.cdr import check_message
from qcoinf_ros.core.bags.storage import BagReader
from qcoinf_ros.core.resources import share_file
from qcoinf_ros.core.validation import drop_class_of
from qcoinf_ros.core.viewing.model import GraphModel, SOURCE_TOPICS, view_topics
from qcoinf_ros.core.viewing.sdk import open_mcap, ViewChannels

LAYOUT = 'config/foxglove_layout.json'


@dataclass
class McapResult:
    """What was written: records per channel, messages read and dropped (per class)."""

    path: str
    records: Counter = field(default_factory=Counter)
    read: int = 0
    dropped: Counter = field(default_factory=Counter)
    first_drop: dict[str, str] = field(default_factory=dict)


def source_kinds(topics, namespace: str = '/', image: str = 'raw') -> dict[str, str]:
    """Return the bag's topics the view reads -> their kind, for a graph in ``namespace``."""
    ns = '/' + namespace.strip('/') if namespace.strip('/') else ''
    skip = {'raw': {'compressed_image'}, 'compressed': {'image'},
            'none': {'image', 'compressed_image'}}[image]
    wanted = {(name if name.startswith('/') else f'{ns}/{name}'): kind
              for name, kind in SOURCE_TOPICS.items() if kind not in skip}
    return {t: wanted[t] for t in topics if t in wanted}


def write_mcap(reader: BagReader, out: str | Path, namespace: str = '/', image: str = 'raw',
               overwrite: bool = False) -> McapResult:
    """Write the view of the bag ``reader`` reads into the MCAP file ``out``."""
    kinds = source_kinds([t.spec.name for t in reader.info.topics], namespace, image)
    channels = ViewChannels(view_topics(image))
    model = GraphModel()
    result = McapResult(str(out))
    with open_mcap(channels, str(out), allow_overwrite=overwrite) as writer:
        now = time.time_ns()
        writer.attach(log_time=reader.info.start_ns or now, create_time=now,
                      name='foxglove_layout.json', media_type='application/json',
                      data=Path(share_file(LAYOUT)).read_bytes())
        for message in reader.messages(sorted(kinds)):
            result.read += 1
            try:
                msg = check_message(message.data, message.msgtype)
                records = model.on_message(kinds[message.topic], msg, message.timestamp)
            except ValueError as exc:
                cls = drop_class_of(exc, 'view.message')
                result.dropped[cls] += 1
                result.first_drop.setdefault(cls, f'{message.topic}: {exc}'[:240])
                continue
            for topic, log_time, record in records:
                channels.log(topic, log_time, record)
                result.records[topic] += 1
    channels.close()
    return result
