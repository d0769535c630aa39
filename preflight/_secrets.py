"""preflight's credentials stay in preflight: no child reads them from ``/proc/<pid>/environ``.

A child gets an environment without them (:func:`preflight._process.clean_env`), but what the
kernel shows as ``/proc/<pid>/environ`` is not ``os.environ``: it is the block of memory the
environment was handed in at ``exec`` (``/proc/<pid>/stat`` names its bounds, ``env_start`` and
``env_end``), readable by root and, unless the process says otherwise, by any process of the same
user. Code of a judged environment runs as a child of preflight, often as root at a deploy gate.

:func:`conceal` therefore (once, before the first child starts; again for names learnt later,
the policy's credential variables):

- points the C library's ``environ`` entry of each secret at a copy of its own (``os.putenv``
  with the value ``os.environ`` holds), so ``getenv`` and a child started with ``env=None``
  still see the value when preflight means them to;
- overwrites the value in the original block with NUL bytes: ``/proc/<pid>/environ`` shows
  ``NAME=`` and no value, to root as to anyone;
- marks the process non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``): a process of the same user
  (not root) can read neither its ``/proc/<pid>/environ`` nor its memory, nor ``ptrace`` it.

On a system without procfs or ``prctl`` (not Linux) it does nothing: there, there is no
``/proc/<pid>/environ`` to hide from either, though ``ps eww`` may show the environment.
Python's ``os.environ`` (a copy in the heap) keeps every value: a root process with
CAP_SYS_PTRACE can read preflight's memory through ``/proc/<pid>/mem``. Every child runs without
that capability and cannot gain it (:func:`preflight._reaper.seal`).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ctypes

__all__ = ["OWN_PREFIX", "conceal"]

OWN_PREFIX = "PREFLIGHT_"  # the tool's own variables, some of them secrets: never handed down

_PR_SET_DUMPABLE = 4
_lock = threading.Lock()
_concealed: set[str] = set()  # names already gone from the block (or never in it)
_own_done = False  # every PREFLIGHT_* variable is gone from the block


def conceal(names: Iterable[str] = ()) -> None:
    """Blank the values of ``PREFLIGHT_*`` and of ``names`` in our original environment block
    and make the process non-dumpable; see the module's doc. Cheap after the first call."""
    global _own_done  # noqa: PLW0603 (the block is the process's: one state per process)
    wanted = {name for name in names if name} - _concealed
    if _own_done and not wanted:
        return
    if not sys.platform.startswith("linux"):
        return
    with _lock:
        libc = _libc()
        if libc is None:
            return
        if not _own_done:
            libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
        _blank(wanted, own=not _own_done)
        _concealed.update(wanted)
        _own_done = True


def _libc() -> ctypes.CDLL | None:
    try:
        import ctypes  # noqa: PLC0415 (Linux only, and once: it costs a few ms)

        return ctypes.CDLL(None, use_errno=True)
    except (OSError, AttributeError):
        return None


def _block() -> tuple[int, int] | None:
    """The bounds of the original environment block in our memory, as ``/proc/self/stat``
    names them (readable when ``/proc/self/environ`` is not: a non-dumpable process that is
    not root may not open its own, which the kernel then says root owns)."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            stat = handle.read(65536)
    except OSError:
        return None
    # Fields after the command's name (which may hold spaces and parentheses): env_start and
    # env_end are fields 50 and 51 of stat(5), the 48th and 49th after the ")" that closes it.
    fields = stat.rsplit(b")", 1)[-1].split()
    try:
        start, end = int(fields[47]), int(fields[48])
    except (IndexError, ValueError):
        return None
    return (start, end) if 0 < start < end else None  # 0: a kernel that hides the addresses


def _blank(names: set[str], *, own: bool) -> None:
    import ctypes  # noqa: PLC0415 (see _libc)

    found = _block()
    if found is None:
        return
    address, end = found
    content = ctypes.string_at(address, end - address)
    offset = 0
    for entry in content.split(b"\0"):
        name, sep, value = entry.partition(b"=")
        text = os.fsdecode(name)
        if sep and value and ((own and text.startswith(OWN_PREFIX)) or text in names):
            current = os.environb.get(name)
            if current is not None:
                # The C environ entry now points at a copy in the heap (setenv replaces the
                # pointer in place: no other thread's fork sees the array move).
                os.putenv(name, current)
            start = address + offset + len(name) + 1
            ctypes.memset(start, 0, len(value))
        offset += len(entry) + 1
