"""The gate's COMMAND dies with the gate: a watcher that signals its process group when we end.

The gate runs COMMAND (the deploy, after a READY verdict) in a process group of its own, with
the terminal's foreground handed to it, and passes SIGTERM, SIGHUP and SIGINT on to that group
(:mod:`preflight._ops.gate`). When the gate is killed with SIGKILL (the OOM killer,
``kill -9``, a CI runner's hard stop), nothing in it runs any more to stop COMMAND. So the
first tethered group brings up one small watcher (the tool's own interpreter, stdlib only) in
a session of its own, with the read end of a pipe as its stdin. We write ``+GROUP SIGNAL``
when COMMAND starts and ``-GROUP`` once it is done with. The pipe's write end is ours alone
(not inherited by any child), so the watcher reads end-of-file exactly when we are gone,
however we ended, and then signals every group still registered: SIGTERM for COMMAND, which
may want to clean up.

The children preflight starts to learn about an environment do not use this: each has a
reaper of its own (:mod:`preflight._reaper`), which also ends what escaped the group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

from preflight._process import Foreground, watcher

__all__ = ["tether", "untether"]

# The watcher: reads "+GROUP SIGNAL" / "-GROUP" lines until end-of-file, then signals the groups
# that are left. Its own signals are ignored: it dies by end-of-file only (or SIGKILL).
_WATCHER = """
import os, signal
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
groups, rest = {}, b""
while True:
    try:
        chunk = os.read(0, 65536)
    except OSError:
        chunk = b""
    if not chunk:
        break
    *lines, rest = (rest + chunk).split(b"\\n")
    for line in lines:
        fields = line.split()
        if len(fields) == 2 and fields[0].startswith(b"+"):
            groups[int(fields[0][1:])] = int(fields[1])
        elif len(fields) == 1 and fields[0].startswith(b"-"):
            groups.pop(int(fields[0][1:]), None)
for group, signum in groups.items():
    try:
        os.killpg(group, signum)
    except OSError:
        pass
"""


class _Watcher:
    """The one watcher of this process, started by the first child; see the module's doc."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipe: int | None = None  # our write end; None until the first child, -1: none
        self._process: Foreground | None = None  # kept: a dropped Popen warns

    def _writer(self) -> int | None:
        """The watcher's pipe, started on first use; None where it cannot run (then children
        are only as tethered as before: killed on timeout and on exceptions, not on our
        SIGKILL)."""
        with self._lock:
            if self._pipe is None:
                self._pipe = self._start()
            return None if self._pipe < 0 else self._pipe

    def _start(self) -> int:
        if not hasattr(os, "killpg"):
            return -1
        read_end, write_end = os.pipe()  # non-inheritable: no child but the watcher gets one
        try:
            self._process = watcher([sys.executable, "-I", "-S", "-c", _WATCHER], stdin=read_end)
        except OSError:
            os.close(write_end)
            return -1
        finally:
            os.close(read_end)
        # The watcher is never waited for: it outlives us by design and is reaped by init.
        return write_end

    def say(self, line: str) -> None:
        fd = self._writer()
        if fd is None:
            return
        # One short write to a pipe is atomic: threads that start children need no lock for
        # it. A watcher that has died (killed by hand) must not take preflight down with it.
        with contextlib.suppress(OSError):
            os.write(fd, line.encode("ascii"))


_WATCHER_OF_THIS_PROCESS = _Watcher()


def tether(group: int, signum: int = signal.SIGKILL) -> None:
    """Have ``signum`` sent to process group ``group`` if preflight ends before :func:`untether`."""
    _WATCHER_OF_THIS_PROCESS.say(f"+{group} {int(signum)}\n")


def untether(group: int) -> None:
    """``group`` is done with (reaped, or killed by us): the watcher forgets it."""
    _WATCHER_OF_THIS_PROCESS.say(f"-{group}\n")
