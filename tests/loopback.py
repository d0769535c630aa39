"""Real servers on 127.0.0.1 for the alert tests: SMTP (aiosmtpd), HTTP, one that is silent, and
ones that misbehave on purpose (an answer trickled, a body read and never answered, an SMTP
greeting that never ends or floods).

Every server listens on port 0 (the OS picks a free port), runs on a thread, and stops when its
``with`` block ends. Nothing here talks to anything but the loopback interface.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import itertools
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


# --- SMTP -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def body(self) -> str:
        return str(self.message.get_content()).replace("\r\n", "\n")  # CRLF on the wire


@dataclass
class MailHandler:
    """An aiosmtpd handler that keeps what it receives, or refuses with a given reply.

    ``refuse_mail`` answers MAIL FROM (e.g. "421 ..." : the server is going away);
    ``refuse_data`` answers the message itself (e.g. "554 ...": rejected for good).
    """

    refuse_mail: str | None = None
    refuse_data: str | None = None
    received: list[Mail] = field(default_factory=list)
    attempts: int = 0  # MAIL FROM commands seen: one per delivery attempt

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        self.attempts += 1
        if self.refuse_mail:
            return self.refuse_mail
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_data:
            return self.refuse_data
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class _PortZeroController(Controller):  # type: ignore[misc]  # aiosmtpd is not typed
    """aiosmtpd's Controller, told the port the OS chose before it connects to itself."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@contextmanager
def smtp_server(handler: MailHandler) -> Iterator[int]:
    """An SMTP server on 127.0.0.1 (no TLS); yields its port."""
    controller = _PortZeroController(handler, hostname=HOST, port=0)
    controller.start()
    try:
        yield int(controller.port)
    finally:
        controller.stop()


# --- a server that accepts and never answers ----------------------------------------------------


@dataclass
class Silent:
    """A server that never answers: its port, and an event set at its first connection."""

    port: int
    connected: threading.Event = field(default_factory=threading.Event)

    def wait_connected(self, seconds: float = 120) -> None:
        """Until a client is connected (and so waiting on this server for ever)."""
        assert self.connected.wait(seconds), f"nothing connected to port {self.port}"


@contextmanager
def silent() -> Iterator[Silent]:
    """Accepts TCP connections and never writes a byte."""
    listener = socket.create_server((HOST, 0))
    listener.settimeout(0.05)
    stop = threading.Event()
    held: list[socket.socket] = []
    server = Silent(listener.getsockname()[1])

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # kept open, never written to
            server.connected.set()

    thread = threading.Thread(target=serve, name="silent-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        for conn in held:
            conn.close()


@contextmanager
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never writes a byte; yields its port."""
    with silent() as server:
        yield server.port


# --- HTTP (the webhook) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Webhook:
    url: str
    status: int
    requests: list[Request] = field(default_factory=list)


@contextmanager
def webhook_server(status: int = 200) -> Iterator[Webhook]:
    """An HTTP server on 127.0.0.1 answering every POST with ``status``; records requests."""
    hook = Webhook(url="", status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            hook.requests.append(Request(self.path, dict(self.headers.items()), body))
            reply = b"ok" if hook.status == 200 else b"internal error"
            self.send_response(hook.status)
            if 300 <= hook.status < 400:  # to this server: a redirect followed is seen here
                self.send_header("Location", f"{hook.url}/moved")
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def do_GET(self) -> None:  # what a redirected POST becomes
            hook.requests.append(Request(self.path, dict(self.headers.items()), b""))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

    server = ThreadingHTTPServer((HOST, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="webhook-server", daemon=True)
    thread.start()
    hook.url = f"http://{HOST}:{server.server_address[1]}/services/T000/B000/secret-token"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- servers that misbehave on purpose ------------------------------------------------------------


@dataclass
class Tcp:
    """A TCP server running ``talk`` for each connection; counts what it saw."""

    port: int = 0
    connections: int = 0
    requests: int = 0  # whole HTTP requests read (``read_request``)


Talk = Callable[[socket.socket, Tcp, threading.Event], None]


@contextmanager
def tcp_server(talk: Talk) -> Iterator[Tcp]:
    """Runs ``talk(conn, server, stop)`` on a thread per connection until the block ends."""
    listener = socket.create_server((HOST, 0))
    listener.settimeout(0.05)
    stop = threading.Event()
    server = Tcp(port=listener.getsockname()[1])
    threads: list[threading.Thread] = []

    def run(conn: socket.socket) -> None:
        # OSError: the client gave up, which is what these servers are for.
        with conn, contextlib.suppress(OSError):
            talk(conn, server, stop)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                # A connection the client gave up before it was taken (ECONNABORTED, on a
                # loaded machine) must not end the server; a closed listener does.
                if stop.is_set() or listener.fileno() < 0:
                    return
                continue
            server.connections += 1
            thread = threading.Thread(target=run, args=(conn,), daemon=True)
            threads.append(thread)
            thread.start()

    acceptor = threading.Thread(target=serve, name="tcp-server", daemon=True)
    acceptor.start()
    try:
        yield server
    finally:
        stop.set()
        acceptor.join(timeout=5)
        listener.close()
        for thread in threads:
            thread.join(timeout=5)


def read_request(conn: socket.socket, server: Tcp) -> None:
    """Read one whole HTTP request (headers and Content-Length body), counting it."""
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk
    server.requests += 1


def trickling_http(conn: socket.socket, server: Tcp, stop: threading.Event) -> None:
    """Reads the request, then answers one byte every 0.1 s, for ever."""
    read_request(conn, server)
    for byte in itertools.cycle(b"HTTP/1.1 200 OK\r\nX-Slow: "):
        if stop.wait(0.1):
            return
        conn.sendall(bytes([byte]))


def never_answering_http(conn: socket.socket, server: Tcp, stop: threading.Event) -> None:
    """Reads the whole request, then never answers (until the client hangs up)."""
    read_request(conn, server)
    conn.settimeout(0.05)
    while not stop.is_set():
        try:
            if not conn.recv(1):
                return
        except TimeoutError:
            continue


def endless_greeting(conn: socket.socket, server: Tcp, stop: threading.Event) -> None:
    """An SMTP greeting that never ends: a ``220-`` continuation line every 10 ms."""
    while not stop.wait(0.01):
        conn.sendall(b"220-still greeting you\r\n")


def flooding_greeting(conn: socket.socket, server: Tcp, stop: threading.Event) -> None:
    """``220-`` lines as fast as the client reads them (8 KB each), for ever."""
    line = b"220-" + b"x" * 8000 + b"\r\n"
    while not stop.is_set():
        conn.sendall(line * 16)
