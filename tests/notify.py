"""A listener on a real systemd notify socket (an ``AF_UNIX`` datagram socket), for tests.

It reads as systemd does, all along, in a thread (the kernel queues only a few datagrams for a
socket nobody reads), until the test's own last datagram: everything sent before that one has
been read when :meth:`NotifyListener.stop` returns.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from types import TracebackType

_END = b"END-OF-TEST"


class NotifyListener:
    def __init__(self) -> None:
        self.name = f"@preflight-test-{os.getpid()}-{id(self)}"  # "@": an abstract socket
        self.address = "\0" + self.name[1:]
        self.messages: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.address)
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while (message := self._sock.recv(4096)) != _END:
            with self._changed:
                self.messages.append(message.decode("utf-8"))
                self._changed.notify_all()

    def wait_for(self, wanted: Callable[[list[str]], bool], timeout: float) -> bool:
        """True once ``wanted(messages)`` holds, False after ``timeout`` seconds without."""
        with self._changed:
            return self._changed.wait_for(lambda: wanted(self.messages), timeout)

    def stop(self) -> list[str]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.sendto(_END, self.address)
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()
        self._sock.close()
        return list(self.messages)

    def __enter__(self) -> NotifyListener:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._thread.is_alive():
            self.stop()
