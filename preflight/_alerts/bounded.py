"""One network call with one time limit: connect, TLS, send and read all share a deadline.

A socket timeout limits each operation, not the call: a server trickling a byte a second, or an
SMTP server sending endless ``220-`` continuation lines, keeps every single read short and the
call going for ever. Here each operation first sets the socket's timeout to the time left
before the call's deadline, and fails with :class:`TimeoutError` once it has passed. The bytes
received are counted too (:data:`READ_LIMIT`): the answers to an alert are a few lines, and an
endless reply must not grow the memory for the whole time allowed either.

:func:`connect` gives such a socket (a :class:`BoundedSocket`); :func:`ssl_context` gives a TLS
context whose sockets (``wrap_socket``, STARTTLS included) keep the same deadline. The sinks
(``_alerts.sinks``) hand them to ``smtplib`` and ``http.client``, which use nothing else.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

__all__ = ["READ_LIMIT", "BoundedSocket", "Budget", "ReplyTooLong", "connect", "ssl_context"]

READ_LIMIT = 1 << 20  # bytes received per call: an alert's answers are a few hundred


class ReplyTooLong(OSError):
    """The server sent more than the budget's ``limit`` of bytes in one call."""


@dataclass
class Budget:
    """The time and the bytes one call may still take. Mutable: it counts what was received."""

    seconds: float
    deadline: float = field(init=False)
    received: int = 0
    limit: int = READ_LIMIT  # bytes the call may receive (an alert's answer: 1 MiB)
    # Set by the sink once the whole request (the HTTP body, the mail's final ".") is out:
    # a failure after that leaves unknown whether the server acted on it.
    request_sent: bool = False

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def remaining(self) -> float:
        """Seconds left, or TimeoutError once the deadline has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the call took longer than {self.seconds:g} s")
        return left

    def took(self, count: int) -> None:
        self.received += count
        if self.received > self.limit:
            raise ReplyTooLong(f"the server sent more than {self.limit} bytes")


class BoundedSocket(socket.socket):
    """A TCP socket whose every operation ends by its :class:`Budget`'s deadline."""

    budget: Budget

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self.settimeout(self.budget.remaining())
        data = super().recv(bufsize, flags)
        self.budget.took(len(data))
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self.settimeout(self.budget.remaining())
        count = super().recv_into(buffer, nbytes, flags)
        self.budget.took(count)
        return count

    def send(self, data: Any, flags: int = 0) -> int:
        self.settimeout(self.budget.remaining())
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        # sendall's timeout bounds the whole of it (Python >= 3.5), not each chunk.
        self.settimeout(self.budget.remaining())
        super().sendall(data, flags)


def connect(address: tuple[str, int], budget: Budget) -> BoundedSocket:
    """A connection to ``address`` (host, port) made within ``budget``, which it keeps."""
    host, port = address
    error: OSError | None = None
    for family, kind, proto, _, where in lookup(host, port, budget):
        sock = BoundedSocket(family, kind, proto)
        sock.budget = budget
        try:
            sock.settimeout(budget.remaining())
            sock.connect(where)
        except OSError as exc:
            sock.close()
            if isinstance(exc, TimeoutError):
                raise
            error = exc
            continue
        return sock
    raise error if error is not None else OSError(f"no address found for {host}")


AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]


def _getaddrinfo(host: str, port: int) -> list[AddrInfo]:
    return list(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))


def lookup(host: str, port: int, budget: Budget) -> list[AddrInfo]:
    """``getaddrinfo`` within ``budget``. The lookup has no timeout of its own (the resolver's
    are 5 s per server and try, over and over), so a name is looked up on a thread of its own
    and waited for until the deadline; a thread left behind ends with the resolver's own
    timeouts and holds nothing of ours. An address (no lookup) is answered at once."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return _getaddrinfo(host, port)
    outcome: list[list[AddrInfo] | OSError] = []

    def resolve() -> None:
        try:
            outcome.append(_getaddrinfo(host, port))
        except OSError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=resolve, name=f"lookup {host}", daemon=True)
    thread.start()
    thread.join(budget.remaining())
    if not outcome:
        raise TimeoutError(f"looking up {host} did not finish within {budget.seconds:g} s")
    result = outcome[0]
    if isinstance(result, OSError):
        raise result
    return result


class BoundedSSLSocket(ssl.SSLSocket):
    """A TLS socket keeping the deadline of :func:`ssl_context`'s budget (a class attribute:
    ``SSLContext.wrap_socket`` makes the instance and shakes hands before it returns it)."""

    budget: Budget

    def do_handshake(self, block: bool = False) -> None:
        self.settimeout(self.budget.remaining())
        super().do_handshake(block)

    def read(self, n: int = 1024, buffer: Any = None) -> Any:
        self.settimeout(self.budget.remaining())
        data = super().read(n, buffer)
        self.budget.took(data if isinstance(data, int) else len(data))  # a count into buffer
        return data

    def send(self, data: Any, flags: int = 0) -> int:
        self.settimeout(self.budget.remaining())
        return super().send(data, flags)

    def unwrap(self) -> socket.socket:
        self.settimeout(self.budget.remaining())
        return super().unwrap()


def ssl_context(budget: Budget) -> ssl.SSLContext:
    """The default, verifying TLS context, whose sockets end by ``budget``'s deadline."""
    context = ssl.create_default_context()
    context.sslsocket_class = type(
        "BoundedSSLSocket", (BoundedSSLSocket,), {"budget": budget, "__module__": __name__}
    )
    return context


# --- HTTP(S) through urllib, on bounded sockets ----------------------------------------------


class _HTTPConnection(http.client.HTTPConnection):
    """http.client's connection on a socket that ends by ``budget``'s deadline."""

    def __init__(self, host: str, *, budget: Budget, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.budget = budget
        self._create_connection = self._bounded_connection

    def _bounded_connection(self, address: tuple[str, int], *_: object) -> socket.socket:
        return connect(address, self.budget)

    def getresponse(self) -> http.client.HTTPResponse:
        self.budget.request_sent = True  # urllib asks only once the body is out
        return super().getresponse()


class _HTTPSConnection(_HTTPConnection, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, budget: Budget) -> None:
        super().__init__()
        self.budget = budget

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_HTTPConnection, budget=self.budget), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.tls = ssl_context(budget)
        super().__init__(context=self.tls)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            functools.partial(_HTTPSConnection, budget=self.budget), req, context=self.tls
        )


def http_handlers(budget: Budget) -> tuple[urllib.request.BaseHandler, ...]:
    """urllib handlers for http and https whose every connect, lookup, TLS step, send and
    read end by ``budget``'s deadline (the headers of the answer included), for
    ``urllib.request.build_opener``."""
    return (_HTTPHandler(budget), _HTTPSHandler(budget))
