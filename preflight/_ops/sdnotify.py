"""The systemd notification protocol (``sd_notify(3)``) in a few lines of the standard library.

A service of ``Type=notify`` tells systemd that it has started (``READY=1``), what it is doing
(``STATUS=...``, shown by ``systemctl status``), that it is still alive (``WATCHDOG=1``, at
least once per ``WatchdogSec``, or systemd restarts it) and that it is stopping
(``STOPPING=1``). systemd passes the socket in ``NOTIFY_SOCKET``: a path of an ``AF_UNIX``
datagram socket, or an abstract name when it starts with ``@`` (a NUL byte on the wire).
``WATCHDOG_USEC`` is the watchdog's period, for the process ``WATCHDOG_PID`` if that is set.

Without ``NOTIFY_SOCKET`` (not under systemd), :meth:`Notifier.from_environ` gives None and
nothing is sent. A notification that cannot be sent is dropped: systemd's absence or a full
socket buffer must never stop the monitor.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

STATUS_LIMIT = 500  # characters of a STATUS= line; systemctl shows one line


@dataclass(frozen=True)
class Notifier:
    address: str  # as the socket module takes it: a path, or "\0name" for an abstract socket
    watchdog_s: float | None = None  # the watchdog's period, if systemd asked for pings

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Notifier | None:
        where = environ.get("NOTIFY_SOCKET", "")
        if not where or not (where.startswith(("/", "@"))):
            return None  # unset, or a vsock address: not ours to speak
        address = "\0" + where[1:] if where.startswith("@") else where
        return cls(address, _watchdog(environ))

    def notify(self, *fields: str) -> bool:
        """Send one datagram of ``KEY=value`` lines; True if it was sent."""
        message = "\n".join(fields).encode("utf-8", "replace")
        with (
            contextlib.suppress(OSError),
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
        ):
            sock.settimeout(1.0)
            sock.connect(self.address)
            sock.sendall(message)
            return True
        return False

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", _status(status))

    def status(self, status: str) -> bool:
        return self.notify(_status(status))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str) -> bool:
        return self.notify("STOPPING=1", _status(status))

    @property
    def ping_every(self) -> float | None:
        """How often to ping the watchdog: half its period, as ``sd_watchdog_enabled`` advises."""
        return None if self.watchdog_s is None else self.watchdog_s / 2


def _status(text: str) -> str:
    """``STATUS=`` with one line: a newline in it would start another field."""
    line = " ".join(text.split())
    return f"STATUS={line[:STATUS_LIMIT]}"


def _watchdog(environ: Mapping[str, str]) -> float | None:
    """``WATCHDOG_USEC`` in seconds, if it is for this process (``WATCHDOG_PID``, if set)."""
    pid = environ.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None
