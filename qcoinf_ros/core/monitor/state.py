"""
What the monitors know about the running graph: the dashboard model, fed message by message.

:class:`MonitorState` is shared by the RViz monitor node (markers, annotated image) and the
terminal dashboard (``qcoinf monitor``): the nodes only convert ROS messages to plain values
and call its ``on_*`` methods with the arrival time. :class:`CaptionPairer` puts each caption
back with its camera frame: the edge decoder publishes the caption (no header) and then, with
the frame's header, its latency, so the n-th caption belongs to the n-th latency message.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import itertools
import math

from qcoinf_ros.core.codec.plan import decode_profile, ProfileMessage
from qcoinf_ros.core.stats import Summary
from qcoinf_ros.core.status_names import (
    find_status, FREQUENCY_ACTUATOR, normalize_namespace, PLANNER)
from qcoinf_ros.core.validation import physical_quantity_reason

OK, WARN, ERROR, STALE = 0, 1, 2, 3
LEVEL_NAMES = {OK: 'OK', WARN: 'WARN', ERROR: 'ERROR', STALE: 'STALE'}


@dataclass(frozen=True)
class Status:
    """One ``/diagnostics`` status as last received."""

    level: int
    message: str
    values: dict
    time: float


#: Longest text kept from a message (a caption, a status name, message, key or value).
MAX_TEXT = 2000
#: Values kept per ``/diagnostics`` status.
MAX_VALUES = 64
#: Largest latency taken [s] (end-to-end, encode, decode): an hour. A frame captioned later is
#: a broken clock or junk, not a latency; it would swamp the percentiles (1e308 s was taken).
MAX_LATENCY_S = 3600.0


def _clip(text, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _finite(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


class MonitorState:
    """
    Rates, latency, plan, budgets, captions and statuses of the graph, as last seen.

    Times are seconds of any monotonic clock (the caller's ``now``); rates are counted over the
    last ``window_s`` seconds, latency percentiles over the last ``latency_window`` frames.
    Statuses are kept by name (every robot's); the budget and energy shown are those of the
    planner and actuator in ``namespace`` (None: of any namespace), matched by task, also under
    the legacy ``qcoinf: <task>`` names; two of them in scope (two robots' planners and no
    namespace) show as unknown rather than one or a mix of both.
    """

    def __init__(self, window_s: float = 5.0, latency_window: int = 200,
                 caption_history: int = 8, max_statuses: int = 64,
                 namespace: str | None = None):
        if not (isinstance(window_s, (int, float)) and math.isfinite(window_s) and
                window_s > 0):
            raise ValueError(f'window_s must be a finite number > 0, got {window_s!r}')
        for name, value in (('latency_window', latency_window),
                            ('caption_history', caption_history),
                            ('max_statuses', max_statuses)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be an integer >= 1, got {value!r}')
        self.window_s = float(window_s)
        self.namespace = None if namespace is None else normalize_namespace(namespace)
        self._arrivals: dict[str, deque] = {}
        self.counts: dict[str, int] = {}
        self.last_seen: dict[str, float] = {}
        self.latency: deque = deque(maxlen=latency_window)
        self.captions: deque = deque(maxlen=caption_history)  # (time, text)
        self.plan: ProfileMessage | None = None
        self.bit_width: int | None = None
        self.frame_bit_width: int | None = None
        self.deadline: float | None = None
        self.battery: float | None = None
        self.statuses: dict[str, Status] = {}  # least recently updated first
        self.max_statuses = max_statuses
        self.rejected = 0
        self.last_rejection = ''  # why the last rejected input was rejected

    # -- inputs ----------------------------------------------------------------------------
    def _reject(self, reason: str) -> None:
        self.rejected += 1
        self.last_rejection = reason

    def tick(self, topic: str, now: float) -> None:
        """Count one message of ``topic`` arriving at ``now`` (for its rate)."""
        arrivals = self._arrivals.setdefault(topic, deque())
        arrivals.append(now)
        while arrivals and arrivals[0] < now - self.window_s:
            arrivals.popleft()
        self.counts[topic] = self.counts.get(topic, 0) + 1
        self.last_seen[topic] = now

    def on_caption(self, text: str, now: float) -> None:
        self.captions.append((now, _clip(text, MAX_TEXT)))

    def on_latency(self, end_to_end: float, encode: float, decode: float, now: float) -> None:
        """Take one frame's latencies [s]: each finite, >= 0 and <= :data:`MAX_LATENCY_S`."""
        values = (_finite(end_to_end), _finite(encode), _finite(decode))
        if any(v is None or not 0.0 <= v <= MAX_LATENCY_S for v in values):
            self._reject(f'latency values must be finite numbers of seconds in [0, '
                         f'{MAX_LATENCY_S:g}] (end-to-end, encode, decode), got '
                         f'{(end_to_end, encode, decode)!r}')
            return
        self.latency.append(values)

    def on_bit_width(self, bits: int, now: float) -> None:
        self.bit_width = int(bits)

    def on_frame_bit_width(self, bits: int, now: float) -> None:
        """Take the bit-width an embedding was really encoded at (its payload metadata)."""
        self.frame_bit_width = int(bits)

    def on_profile(self, profile: ProfileMessage | str, now: float) -> bool:
        """
        Take a ``qcoinf/frequency_profile``; return False if it is malformed.

        A :class:`ProfileMessage` (read from a ``FrequencyProfile`` message), or the JSON text
        that older releases published (bags).
        """
        if isinstance(profile, ProfileMessage):
            self.plan = profile
            return True
        try:
            self.plan = decode_profile(profile)
        except ValueError as exc:
            self._reject(f'malformed frequency profile: {exc}')
            return False
        return True

    def on_deadline(self, seconds: float, now: float) -> None:
        reason = physical_quantity_reason(seconds)
        if reason is not None:
            self._reject(f'deadline T0 [s] {reason}')
            return
        value = float(seconds)
        self.deadline = value

    def on_battery(self, percentage: float, now: float) -> None:
        value = _finite(percentage)
        if value is None or not 0.0 <= value <= 1.0:
            self._reject(f'battery percentage must be in [0, 1], got {percentage!r}')
            return
        self.battery = value

    def on_status(self, name: str, level: int, message: str, values: dict, now: float) -> None:
        """
        Take one ``/diagnostics`` status (level 0 OK .. 3 STALE; values as strings). Bounded.

        At most ``max_statuses`` names (the least recently updated is forgotten), the first
        :data:`MAX_VALUES` values of each, every text cut to :data:`MAX_TEXT` characters.
        """
        name = _clip(name, MAX_TEXT)
        kept = {_clip(k, MAX_TEXT): _clip(v, MAX_TEXT)
                for k, v in itertools.islice(dict(values).items(), MAX_VALUES)}
        self.statuses.pop(name, None)
        self.statuses[name] = Status(int(level), _clip(message, MAX_TEXT), kept, now)
        while len(self.statuses) > self.max_statuses:
            del self.statuses[next(iter(self.statuses))]

    # -- derived ---------------------------------------------------------------------------
    def rate(self, topic: str, now: float) -> float:
        """Messages per second of ``topic`` over the last ``window_s`` seconds."""
        arrivals = self._arrivals.get(topic)
        if not arrivals:
            return 0.0
        recent = [t for t in arrivals if t >= now - self.window_s]
        if len(recent) < 2:
            return len(recent) / self.window_s
        span = max(now - recent[0], recent[-1] - recent[0])
        return (len(recent) - 1) / span if span > 0 else 0.0

    def latency_stats(self, which: int = 0) -> Summary | None:
        """Summary of end-to-end (0), agent encode (1) or server decode (2) latency [s]."""
        return Summary.of(v[which] for v in self.latency)

    @property
    def caption(self) -> str | None:
        return self.captions[-1][1] if self.captions else None

    def task_status(self, task: str) -> Status | None:
        """Return the status of ``task`` in this state's namespace; None if none or several."""
        found = find_status(self.statuses, task, self.namespace)
        return None if found is None else found[1]

    def _status_value(self, task: str, key: str) -> float | None:
        entry = self.task_status(task)
        return None if entry is None else _finite(entry.values.get(key))

    @property
    def energy_budget(self) -> float | None:
        """E0 [J] in force, from the planner's diagnostics."""
        return self._status_value(PLANNER, 'E0_J')

    @property
    def energy_per_inference(self) -> tuple[float, str] | None:
        """(J, label): the actuator's measured/predicted value, else the plan's prediction."""
        value = self._status_value(FREQUENCY_ACTUATOR, 'energy_per_inference_J')
        actuator = self.task_status(FREQUENCY_ACTUATOR)
        if value is not None and actuator is not None:
            return value, actuator.values.get('energy_source', '?')
        if self.plan is not None and math.isfinite(self.plan.predicted_energy_j):
            return self.plan.predicted_energy_j, 'predicted (plan)'
        return None

    def operating_point(self) -> str:
        """One line: bit-width, clocks, deadline and budget in force, e.g. for an image."""
        parts = []
        bits = self.plan.bit_width if self.plan is not None else self.bit_width
        parts.append(f'b = {bits}' if bits is not None else 'b = ?')
        if self.plan is not None:
            parts.append(f'f = {self.plan.f / 1e9:.3g} GHz')
            parts.append(f'f~ = {self.plan.f_server / 1e9:.3g} GHz')
        if self.deadline is not None:
            parts.append(f'T0 = {self.deadline:.3g} s')
        if self.energy_budget is not None:
            parts.append(f'E0 = {self.energy_budget:.3g} J')
        if self.plan is not None and not self.plan.feasible:
            parts.append('INFEASIBLE')
        return '  '.join(parts)


class CaptionPairer:
    """
    Pair captions with the frame stamps of their ``qcoinf/latency`` messages, first in first out.

    The two topics may be delivered in either order; an item waits at most ``window_s`` for
    its partner (a monitor started mid-stream sees a latency whose caption it missed: it is
    dropped, and the pairing does not stay shifted).
    """

    def __init__(self, window_s: float = 1.0):
        if not (isinstance(window_s, (int, float)) and math.isfinite(window_s) and
                window_s > 0):
            raise ValueError(f'window_s must be a finite number > 0, got {window_s!r}')
        self.window_s = float(window_s)
        self._captions: deque = deque()  # (arrival, text)
        self._stamps: deque = deque()  # (arrival, stamp)
        self.dropped = 0

    def caption(self, text: str, now: float) -> list[tuple[object, str]]:
        self._captions.append((now, text))
        return self._pairs(now)

    def latency(self, stamp, now: float) -> list[tuple[object, str]]:
        self._stamps.append((now, stamp))
        return self._pairs(now)

    def _pairs(self, now: float) -> list[tuple[object, str]]:
        for queue in (self._captions, self._stamps):
            while queue and queue[0][0] < now - self.window_s:
                queue.popleft()
                self.dropped += 1
        out = []
        while self._captions and self._stamps:
            (t_caption, text), (t_stamp, stamp) = self._captions[0], self._stamps[0]
            if abs(t_caption - t_stamp) > self.window_s:
                (self._captions if t_caption < t_stamp else self._stamps).popleft()
                self.dropped += 1
                continue
            self._captions.popleft()
            self._stamps.popleft()
            out.append((stamp, text))
        return out
