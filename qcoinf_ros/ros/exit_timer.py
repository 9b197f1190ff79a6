"""
A process exit after a delay that needs no Python thread: for a stop stuck in C holding the GIL.

:class:`ExitTimer` arms a POSIX timer (``timer_create`` with ``SIGEV_THREAD``) whose expiry
makes the C library start a thread that calls ``_exit(code)`` directly: no interpreter, no GIL.
A Python watchdog thread cannot run while C code holds the GIL, and faulthandler's own thread
(which can) always exits with code 1; a stop whose own work is done but whose middleware
teardown hangs (Fast DDS 3.2, eProsima/Fast-DDS#6502) must still end with exit code 0, before
``ros2 launch`` sends SIGKILL.

``sigevent`` here is glibc's layout on 64-bit Linux (``sigev_value``, ``sigev_signo``,
``sigev_notify``, then the ``_sigev_thread`` pair in a 48-byte union: 64 bytes);
``union sigval`` is passed in the first integer register, where ``_exit`` reads its ``int``.
Where that is not the platform (or ``timer_create`` is missing), :attr:`ExitTimer.available` is
false and callers fall back to faulthandler's exit.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ['ExitTimer']

_SIGEV_THREAD = 2
_CLOCK_MONOTONIC = 1


class _SigevThread(ctypes.Structure):
    _fields_ = [('function', ctypes.c_void_p), ('attribute', ctypes.c_void_p)]


class _SigevFields(ctypes.Union):
    _fields_ = [('pad', ctypes.c_int * 12), ('thread', _SigevThread)]


class _Sigevent(ctypes.Structure):
    _fields_ = [('value', ctypes.c_void_p), ('signo', ctypes.c_int), ('notify', ctypes.c_int),
                ('fields', _SigevFields)]


class _Timespec(ctypes.Structure):
    _fields_ = [('sec', ctypes.c_long), ('nsec', ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [('interval', _Timespec), ('value', _Timespec)]


def _libc():
    if not sys.platform.startswith('linux') or ctypes.sizeof(ctypes.c_void_p) != 8 \
            or ctypes.sizeof(_Sigevent) != 64:
        return None
    for name in (None, ctypes.util.find_library('rt')):  # glibc >= 2.34: in libc itself
        try:
            lib = ctypes.CDLL(name, use_errno=True)
            lib.timer_create, lib.timer_settime, lib.timer_delete, lib._exit  # noqa: B018
        except (OSError, AttributeError):
            continue
        lib.timer_create.argtypes = [ctypes.c_int, ctypes.POINTER(_Sigevent),
                                     ctypes.POINTER(ctypes.c_void_p)]
        lib.timer_settime.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                      ctypes.POINTER(_Itimerspec), ctypes.c_void_p]
        lib.timer_delete.argtypes = [ctypes.c_void_p]
        return lib
    return None


_LIBC = _libc()


class ExitTimer:
    """``_exit(code)`` from a C thread ``seconds`` after :meth:`arm`, unless :meth:`cancel`."""

    available = _LIBC is not None

    def __init__(self):
        self._timer: ctypes.c_void_p | None = None

    def arm(self, seconds: float, code: int) -> bool:
        """Arm (or re-arm) the exit; ``False`` where no timer could be made (nothing armed)."""
        if not 0 <= code <= 255 or not seconds > 0:
            raise ValueError(f'exit timer: code must be 0..255 and seconds > 0, got {code!r}, '
                             f'{seconds!r}')
        self.cancel()
        if _LIBC is None:
            return False
        event = _Sigevent(value=code or None, notify=_SIGEV_THREAD)
        event.fields.thread.function = ctypes.cast(_LIBC._exit, ctypes.c_void_p).value
        timer = ctypes.c_void_p()
        if _LIBC.timer_create(_CLOCK_MONOTONIC, ctypes.byref(event), ctypes.byref(timer)):
            return False
        whole = int(seconds)
        when = _Itimerspec(value=_Timespec(whole, int((seconds - whole) * 1e9)))
        if _LIBC.timer_settime(timer, 0, ctypes.byref(when), None):
            _LIBC.timer_delete(timer)
            return False
        self._timer = timer
        return True

    def cancel(self) -> None:
        """Disarm; nothing happens if not armed."""
        if self._timer is not None:
            _LIBC.timer_delete(self._timer)
            self._timer = None
