"""
``qcoinf dds-profile LOCAL PEER [--out FILE]``: the Fast DDS profile for two hosts on one link.

Prints (or writes) the profile of the host with address LOCAL
(:mod:`qcoinf_ros.ros.dds_profile`, which renders ``config/fastdds_two_hosts.xml.in``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from qcoinf_ros.ros.dds_profile import two_hosts_profile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='qcoinf dds-profile',
                                     description=__doc__.strip().splitlines()[0])
    parser.add_argument('local', help="this host's address on the link")
    parser.add_argument('peer', help="the other host's address on the link")
    parser.add_argument('--max-participants', type=int, default=8,
                        help='ROS 2 processes per host reachable by discovery (default 8)')
    parser.add_argument('--out', help='write the profile here instead of printing it')
    args = parser.parse_args(argv)
    try:
        text = two_hosts_profile(args.local, args.peer, args.max_participants)
    except ValueError as exc:
        parser.error(str(exc))
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
