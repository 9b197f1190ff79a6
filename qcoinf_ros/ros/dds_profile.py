"""
Fast DDS profile for agent and server on two hosts joined by one link (no rclpy).

Renders ``config/fastdds_two_hosts.xml.in``: UDPv4 only, bound to the host's link address,
unicast discovery to that host and its peer. ``qcoinf dds-profile LOCAL PEER [--out FILE]``
prints (or writes) the profile of the host with address LOCAL.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from qcoinf_ros.core.resources import share_file
from qcoinf_ros.core.validation import require_int_in_range

__all__ = ['two_hosts_profile', 'two_hosts_env', 'TEMPLATE']

TEMPLATE = 'config/fastdds_two_hosts.xml.in'


def _ipv4(name: str, value) -> str:
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        raise ValueError(f'{name} must be an IPv4 address, got {value!r}') from None


def two_hosts_profile(local_address: str, peer_address: str, max_participants: int = 8) -> str:
    """Return the profile XML of the host at ``local_address`` talking to ``peer_address``."""
    local = _ipv4('local_address', local_address)
    peer = _ipv4('peer_address', peer_address)
    if local == peer:
        raise ValueError(f'peer_address must differ from local_address, got {peer!r} twice')
    count = require_int_in_range('max_participants', max_participants, 1, 100)
    text = share_file(TEMPLATE).read_text()
    for key, value in (('LOCAL_ADDRESS', local), ('PEER_ADDRESS', peer),
                       ('MAX_PARTICIPANTS', str(count))):
        text = text.replace(f'@{key}@', value)
    return text


def two_hosts_env(base: dict[str, str], profile_file: str | Path, domain_id: int
                  ) -> dict[str, str]:
    """Return ``base`` set up for a rendered two-hosts profile (discovery left to it)."""
    env = dict(base)
    env['RMW_IMPLEMENTATION'] = 'rmw_fastrtps_cpp'
    env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(profile_file)
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'SYSTEM_DEFAULT'
    env.pop('ROS_STATIC_PEERS', None)
    env['ROS_DOMAIN_ID'] = str(require_int_in_range('domain_id', domain_id, 0, 232))
    env.setdefault('PYTHONUNBUFFERED', '1')
    return env
