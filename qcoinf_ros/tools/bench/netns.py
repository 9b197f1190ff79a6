"""
Two "hosts" on one Linux machine: network namespaces joined by a tc-shaped veth link.

:class:`TwoHosts` creates the namespaces ``<tag>a`` (agent) and ``<tag>s`` (server), the veth
pair between them with one address each, and shapes both directions: ``netem`` (rate, delay,
loss) where the kernel has it, else ``tbf`` (rate only; delay and loss are then left out and
:attr:`TwoHosts.shaping` says so). Everything is removed on exit. Needs root
(:func:`netns_unavailable` says why not).

A feature of the tools, not test infrastructure: ``qcoinf bench link`` runs the split over
:class:`TwoHosts`, ``qcoinf bench failover --fault cut`` cuts the link with :class:`HostLink`;
the graph tests (``test/graph/test_two_hosts.py``, ``test_faults.py``, ``test_server_loss.py``)
reuse these same classes to exercise what the tools do, and nothing here exists only for them.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import random
import shutil
import subprocess
import time
import uuid

from qcoinf_ros.core.validation import require_nonnegative, require_positive
from qcoinf_ros.ros.processes import NodeProcess

__all__ = ['HostLink', 'LinkShape', 'TwoHosts', 'NetnsNodeProcess', 'netns_unavailable']

ETC_NETNS = Path('/etc/netns')


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(['ip', *args], capture_output=True, text=True, check=check, timeout=30)


def netns_unavailable() -> str | None:
    """Return why network namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return 'needs root (ip netns add, veth pairs, tc)'
    for tool in ('ip', 'tc'):
        if shutil.which(tool) is None:
            return f'`{tool}` (iproute2) is not installed'
    name = f'qcoinfprobe{os.getpid()}'
    made = _ip('netns', 'add', name, check=False)
    if made.returncode != 0:
        return f'cannot create a network namespace: {made.stderr.strip()}'
    _ip('netns', 'del', name, check=False)
    return None


@dataclass(frozen=True)
class LinkShape:
    """The link between the hosts, each direction: rate [bit/s], one-way delay [s], loss [0, 1)."""

    rate_bps: float
    delay_s: float = 0.0
    loss: float = 0.0

    def __post_init__(self):
        require_positive('rate_bps', self.rate_bps)
        require_nonnegative('delay_s', self.delay_s)
        if not 0.0 <= require_nonnegative('loss', self.loss) < 1.0:
            raise ValueError(f'loss must be in [0, 1), got {self.loss!r}')


class TwoHosts:
    """
    Agent and server namespaces joined by a shaped veth link (a context manager).

    ``tag`` names the namespaces and links (unique per run, e.g. with the pid); the addresses
    are ``10.<a>.<b>.1`` (agent) and ``.2`` (server) in a /30 chosen from the pid.
    """

    def __init__(self, shape: LinkShape, tag: str | None = None):
        self.shape = shape
        self.tag = tag or f'qc{os.getpid() % 100000}'
        if len(self.tag) > 10 or not self.tag.isalnum():
            raise ValueError(f'tag must be 1-10 letters/digits (interface names), got {tag!r}')
        self.agent_ns, self.server_ns = f'{self.tag}a', f'{self.tag}s'
        self.agent_if, self.server_if = f'{self.tag}va', f'{self.tag}vs'
        block = os.getpid() % 16384
        prefix = f'10.{200 + block // 256 % 50}.{block % 256}'
        self.agent_ip, self.server_ip = f'{prefix}.1', f'{prefix}.2'
        self.shaping = ''
        self._made: list[str] = []

    def __enter__(self) -> TwoHosts:
        try:
            for ns in (self.agent_ns, self.server_ns):
                _ip('netns', 'add', ns)
                self._made.append(ns)
                _ip('-n', ns, 'link', 'set', 'lo', 'up')
                # `ip netns exec` bind-mounts /etc/netns/<ns>/* over /etc: a machine id of its
                # own makes DDS see another host (Fast DDS would otherwise treat the peer as
                # local and reach it through shared memory or loopback, not over the link)
                etc = ETC_NETNS / ns
                etc.mkdir(parents=True, exist_ok=True)
                (etc / 'machine-id').write_text(uuid.uuid4().hex + '\n')
            _ip('link', 'add', self.agent_if, 'netns', self.agent_ns, 'type', 'veth', 'peer',
                'name', self.server_if, 'netns', self.server_ns)
            for ns, dev, addr in ((self.agent_ns, self.agent_if, self.agent_ip),
                                  (self.server_ns, self.server_if, self.server_ip)):
                _ip('-n', ns, 'addr', 'add', f'{addr}/30', 'dev', dev)
                _ip('-n', ns, 'link', 'set', dev, 'up')
            self.shaping = self._shape()
            self._wait_up()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_up(self, timeout: float = 10.0) -> None:
        # DDS lists the interfaces once at start: wait for both ends to carry (operstate up)
        end = time.monotonic() + timeout
        for ns, dev in ((self.agent_ns, self.agent_if), (self.server_ns, self.server_if)):
            while 'state UP' not in _ip('-n', ns, 'link', 'show', dev).stdout:
                if time.monotonic() > end:
                    raise ValueError(f'link {dev} in {ns} did not come up in {timeout} s')
                time.sleep(0.05)

    def _tc(self, ns: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(['ip', 'netns', 'exec', ns, 'tc', *args], capture_output=True,
                              text=True, timeout=30)

    def _shape(self) -> str:
        s = self.shape
        rate = f'{s.rate_bps:.0f}bit'
        ends = ((self.agent_ns, self.agent_if), (self.server_ns, self.server_if))
        if s.delay_s or s.loss:
            netem = ['qdisc', 'add', 'dev', '', 'root', 'netem', 'rate', rate,
                     'delay', f'{1e3 * s.delay_s:g}ms', 'loss', f'{100 * s.loss:g}%',
                     'limit', '10000']
            results = [self._tc(ns, *[a or dev for a in netem]) for ns, dev in ends]
            if all(r.returncode == 0 for r in results):
                return (f'netem rate {s.rate_bps / 1e6:g} Mbit/s, delay {1e3 * s.delay_s:g} '
                        f'ms, loss {100 * s.loss:g}% (each direction)')
            why = next(r.stderr.strip() for r in results if r.returncode)
            for ns, dev in ends:
                self._tc(ns, 'qdisc', 'del', 'dev', dev, 'root')
            note = f'; netem unavailable ({why}): delay and loss left out'
        else:
            note = ''
        # a bucket of a few frames (the rate holds from the first packets on) and a queue of
        # one second of traffic (bursts of fragments wait instead of being dropped)
        for ns, dev in ends:
            result = self._tc(ns, 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', rate,
                              'burst', '8192', 'latency', '1s')
            if result.returncode != 0:
                raise ValueError(f'cannot shape {dev} with tbf: {result.stderr.strip()}')
        return f'tbf rate {s.rate_bps / 1e6:g} Mbit/s (each direction){note}'

    def close(self) -> None:
        """Delete the namespaces (their veth ends go with them)."""
        while self._made:
            ns = self._made.pop()
            _ip('netns', 'del', ns, check=False)
            shutil.rmtree(ETC_NETNS / ns, ignore_errors=True)

    def __exit__(self, *exc) -> None:
        self.close()

    def prefix(self, side: str) -> list[str]:
        """Return the command prefix that runs a program on ``side`` (agent or server)."""
        if side not in ('agent', 'server'):
            raise ValueError(f"side must be 'agent' or 'server', got {side!r}")
        return ['ip', 'netns', 'exec', self.agent_ns if side == 'agent' else self.server_ns]

    def addresses(self, side: str) -> tuple[str, str]:
        """Return (this side's address, the other side's address) on the link."""
        self.prefix(side)
        pair = (self.agent_ip, self.server_ip)
        return pair if side == 'agent' else pair[::-1]

    def tx_bytes(self, side: str) -> int:
        """Return the bytes sent so far by ``side`` over the link (its veth counter)."""
        ns, dev = ((self.agent_ns, self.agent_if) if side == 'agent'
                   else (self.server_ns, self.server_if))
        out = subprocess.run([*self.prefix(side), 'cat', f'/sys/class/net/{dev}/statistics/'
                              'tx_bytes'], capture_output=True, text=True, timeout=30)
        return int(out.stdout.strip() or 0)


class NetnsNodeProcess(NodeProcess):
    """A :class:`NodeProcess` run inside a network namespace (``ip netns exec``)."""

    def __init__(self, prefix: list[str], executable: str, ros_args: list[str] | None = None,
                 env: dict[str, str] | None = None, name: str = '',
                 command: list[str] | None = None):
        super().__init__(executable, ros_args, env=env, name=name, prefix=prefix,
                         command=command)


_HOST_LINK_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns="http://www.eprosima.com"><profiles>
  <transport_descriptors>
    <transport_descriptor><transport_id>shm</transport_id><type>SHM</type>
      <segment_size>16777216</segment_size><maxMessageSize>16777216</maxMessageSize>
    </transport_descriptor>
    <transport_descriptor><transport_id>udp</transport_id><type>UDPv4</type>
      <interfaceWhiteList><address>127.0.0.1</address><address>{address}</address>
      </interfaceWhiteList>
    </transport_descriptor>
  </transport_descriptors>
  <participant profile_name="qcoinf_link" is_default_profile="true"><rtps>
    <useBuiltinTransports>false</useBuiltinTransports>
    <userTransports>{transports}</userTransports>
  </rtps></participant>
</profiles></dds>
"""


class HostLink:
    """
    A "robot" network namespace joined to this one (the server side) by a veth pair.

    Unlike :class:`TwoHosts` the server side is this namespace, so a test's own node on
    loopback sees the server's topics.
    The robot's processes use UDP only (shared memory would bypass the link); the server's use
    shared memory and UDP on loopback and on the veth, discovering each other through static
    peers. ``down()`` / ``up()`` take the link down and bring it back, as a lost Wi-Fi would.
    """

    def __init__(self, folder: Path):
        tag = f'{os.getpid() % 100000}'
        self.netns, self.host_if, self.robot_if = f'qcoinf_robot_{tag}', f'qfh{tag}', f'qfr{tag}'
        used = subprocess.run(['ip', '-o', '-4', 'addr'], capture_output=True, text=True).stdout
        while True:
            net = f'10.{random.randint(200, 254)}.{random.randint(0, 255)}'
            if f' {net}.' not in used:
                break
        self.host_ip, self.robot_ip = f'{net}.1', f'{net}.2'
        inside = ['ip', 'netns', 'exec', self.netns]
        try:
            for cmd in (['ip', 'netns', 'add', self.netns],
                        ['ip', 'link', 'add', self.host_if, 'type', 'veth', 'peer', 'name',
                         self.robot_if],
                        ['ip', 'link', 'set', self.robot_if, 'netns', self.netns],
                        ['ip', 'addr', 'add', f'{self.host_ip}/30', 'dev', self.host_if],
                        ['ip', 'link', 'set', self.host_if, 'up'],
                        inside + ['ip', 'addr', 'add', f'{self.robot_ip}/30', 'dev',
                                  self.robot_if],
                        inside + ['ip', 'link', 'set', self.robot_if, 'up'],
                        inside + ['ip', 'link', 'set', 'lo', 'up']):
                subprocess.run(cmd, check=True, capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            self.close()
            raise
        self.prefix = inside
        self._profiles = {}
        sides = (('robot', self.robot_ip, ['udp']), ('server', self.host_ip, ['shm', 'udp']))
        for side, address, transports in sides:
            path = folder / f'{side}.xml'
            path.write_text(_HOST_LINK_PROFILE.format(address=address, transports=''.join(
                f'<transport_id>{t}</transport_id>' for t in transports)))
            self._profiles[side] = path

    def env(self, base: dict[str, str], side: str) -> dict[str, str]:
        """Return ``base`` set up for the DDS of ``side`` ('robot' or 'server')."""
        peer = self.host_ip if side == 'robot' else self.robot_ip
        return dict(base, FASTDDS_DEFAULT_PROFILES_FILE=str(self._profiles[side]),
                    ROS_STATIC_PEERS=peer)

    def down(self) -> None:
        subprocess.run(['ip', 'link', 'set', self.host_if, 'down'], check=True, timeout=10)

    def up(self) -> None:
        subprocess.run(['ip', 'link', 'set', self.host_if, 'up'], check=True, timeout=10)

    def close(self) -> None:
        """Delete the namespace and the veth pair (each step may already be undone)."""
        for cmd in (['ip', 'link', 'del', self.host_if], ['ip', 'netns', 'del', self.netns]):
            subprocess.run(cmd, capture_output=True, timeout=10)
