"""Children die with us: a watcher process that ends their process groups when preflight ends.

A child in a session of its own (as :mod:`preflight._process` starts every child, so that a
timeout kills its whole group) no longer gets the terminal's Ctrl-C, and when preflight is
killed with SIGKILL (the OOM killer, ``kill -9``, a CI runner's hard stop), nothing in
preflight runs any more to stop it: a resolving pip-compile or a hung probe would run on as an
orphan for ever. So the first child started brings up one small watcher (the tool's own
interpreter, stdlib only) in a session of its own, with the read end of a pipe as its stdin.
preflight writes ``+GROUP SIGNAL`` when a child starts and ``-GROUP`` once it is done with it.
The pipe's write end is ours alone (not inherited by any child), so the watcher reads
end-of-file exactly when preflight is gone, however it ended, and then signals every group
still registered: SIGKILL for a helper like pip-compile, SIGTERM for the gate's COMMAND, which
may want to clean up.

Linux's ``PR_SET_PDEATHSIG`` would need ``preexec_fn`` (unsafe while the hashing threads run)
and reaches only the direct child, not its group; the watcher covers both, on any POSIX system.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading

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
        self._process: subprocess.Popen[bytes] | None = None  # kept: a dropped Popen warns

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
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHER],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
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
