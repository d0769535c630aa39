"""Where alerts go: each sink is a small class with a ``name`` and ``send(alert)``.

``send`` either delivers or raises :class:`SinkError`, which says what went wrong and whether
trying again may help (``retryable``): a server that is down, busy (SMTP 4xx, HTTP 5xx or 429) or
silent may recover; a refusal (SMTP 5xx, HTTP 4xx) or a missing setting will not. Retrying and
logging are the dispatcher's job (``_alerts.dispatch.deliver``), not the sinks'. The sinks
know only the alert model (``_alerts.model``), which knows no sink.

Every call has one time limit, ``timeout_seconds``, for the whole of it: connecting, TLS, sending
and reading share one deadline (``_alerts.bounded``), so a server answering a byte at a time
cannot hold a delivery longer. A failure after the whole request was sent (no answer to the
mail's final ".", or to the HTTP body) leaves unknown whether it arrived: such a
:class:`SinkError` says so (``unknown``); it is retried like any other, within the same count.
A webhook's redirect (3xx) is a failure and never followed: a POST redirected becomes a GET,
which no webhook takes for an alert. Secrets come from the environment mapping the sink is
given, never from the policy, and never appear in messages.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json
import re
import smtplib
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import IO, TYPE_CHECKING, Any, Protocol

from preflight._alerts import bounded
from preflight._alerts.bounded import Budget, ReplyTooLong
from preflight._alerts.model import Alert
from preflight._policy.alerts import AlertConfig, Security, SmtpConfig, WebhookConfig
from preflight._read import ReadError, read_bytes
from preflight._text import MESSAGE_LIMIT, shown
from preflight._version import __version__

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = ["Sink", "SinkError", "SmtpSink", "WebhookSink", "build_sinks"]


class SinkError(Exception):
    """A sink could not deliver. ``retryable``: whether a later attempt may succeed;
    ``unknown``: the request went out in full and no answer came, so it may have arrived.

    The message quotes what the server answered (an SMTP reply, an HTTP reason), which is
    the server's text, not ours: it is :func:`~preflight._text.shown` here, the one place
    every such text passes, so that a reply of several lines (smtplib joins them with
    newlines) cannot start a line of its own in the log or a workflow command."""

    def __init__(self, message: str, *, retryable: bool = True, unknown: bool = False) -> None:
        message = shown(message, limit=MESSAGE_LIMIT)
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.unknown = unknown

    def __str__(self) -> str:
        return self.message


FILE_SUFFIX = "_FILE"
SECRET_FILE_LIMIT = 64 * 1024


def secret(environ: Mapping[str, str], name: str) -> str:
    """The credential variable ``name``, or the content of the file ``$NAME_FILE`` names when
    ``name`` is unset (the convention of Docker's and Kubernetes' secret files), one trailing
    line end stripped. A secret in a file is in no process's environment: not in the shell's
    that started preflight, which a child of the same user can read from ``/proc``."""
    value = environ.get(name, "")
    path = environ.get(name + FILE_SUFFIX, "")
    if value or not path:
        return value
    try:
        data = read_bytes(path, what="a secret file", limit=SECRET_FILE_LIMIT)
    except ReadError as exc:
        raise SinkError(f"{name}{FILE_SUFFIX}: {exc}", retryable=False) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SinkError(f"{name}{FILE_SUFFIX}: {path} is not UTF-8 text", retryable=False) from None
    return text.removesuffix("\n").removesuffix("\r")


class Sink(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` or raise :class:`SinkError`."""


def build_sinks(config: AlertConfig, environ: Mapping[str, str]) -> list[Sink]:
    """The sinks the configuration names, reading their secrets from ``environ`` when sending."""
    sinks: list[Sink] = []
    if config.smtp is not None:
        sinks.append(SmtpSink(config.smtp, environ))
    if config.webhook is not None:
        sinks.append(WebhookSink(config.webhook, environ))
    return sinks


# --- e-mail --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSink:
    config: SmtpConfig
    environ: Mapping[str, str]

    @property
    def name(self) -> str:
        return "smtp"

    @property
    def _where(self) -> str:
        return f"SMTP server {self.config.host}:{self.config.port}"

    def send(self, alert: Alert) -> None:
        credentials = self._credentials()
        message = self.message(alert)
        budget = Budget(self.config.timeout_seconds)
        try:
            self._send(message, credentials, budget)
        except SinkError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            refused = "; ".join(
                f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in exc.recipients.items()
            )
            raise SinkError(
                f"{self._where} refused the recipients ({refused})",
                retryable=any(400 <= c < 500 for c in codes),
            ) from None
        except smtplib.SMTPResponseException as exc:
            # Sender refused, data refused, authentication failed, greeting refused...
            raise SinkError(
                f"{self._where} answered {exc.smtp_code} {_text(exc.smtp_error)}",
                retryable=400 <= exc.smtp_code < 500,
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise SinkError(f"{self._where}: {exc}", retryable=False) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise self._disconnected(exc, budget) from None
        except smtplib.SMTPException as exc:  # the rest of smtplib's errors
            raise SinkError(f"{self._where}: {exc}") from None
        except ssl.SSLCertVerificationError as exc:
            raise SinkError(
                f"{self._where}: its TLS certificate is not trusted: {exc.verify_message}",
                retryable=False,
            ) from None
        except TimeoutError:
            raise self._timed_out(budget) from None
        except ReplyTooLong:
            raise self._too_long() from None
        except OSError as exc:  # refused, unreachable, name not resolved, TLS failure
            raise SinkError(f"cannot talk to {self._where}: {exc.strerror or exc}") from None

    def _disconnected(self, exc: smtplib.SMTPServerDisconnected, budget: Budget) -> SinkError:
        # smtplib reports a read that failed as a disconnection: say what happened.
        if isinstance(exc.__context__, TimeoutError):
            return self._timed_out(budget)
        if isinstance(exc.__context__, ReplyTooLong):
            return self._too_long()
        if budget.request_sent:
            return SinkError(
                f"{self._where} closed the connection after the message was sent, "
                "without confirming it: it may have arrived",
                unknown=True,
            )
        return SinkError(f"{self._where} closed the connection: {exc}")

    def _timed_out(self, budget: Budget) -> SinkError:
        within = f"within {self.config.timeout_seconds:g} s"
        if budget.request_sent:
            return SinkError(
                f"{self._where} did not confirm the message {within} of the call: "
                "it may have arrived",
                unknown=True,
            )
        return SinkError(f"{self._where} did not answer {within}")

    def _too_long(self) -> SinkError:
        return SinkError(
            f"{self._where} sent more than {bounded.READ_LIMIT} bytes of answers; "
            "is it an SMTP server?",
            retryable=False,
        )

    def _credentials(self) -> tuple[str, str] | None:
        user = secret(self.environ, self.config.user_env)
        password = secret(self.environ, self.config.password_env)
        if not user and not password:
            return None  # an open relay (localhost) needs none
        if not (user and password):
            given, missing = (
                (self.config.user_env, self.config.password_env)
                if user
                else (self.config.password_env, self.config.user_env)
            )
            raise SinkError(
                f"the environment variable {given} is set but {missing} is not: "
                "set both to log in to the SMTP server, or neither",
                retryable=False,
            )
        if self.config.security is Security.NONE:
            raise SinkError(
                f"refusing to send the SMTP password unencrypted to {self.config.host}: "
                "set alerts.smtp.security to 'starttls' or 'ssl'",
                retryable=False,
            )
        return user, password

    def message(self, alert: Alert) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = f"{self.config.subject_prefix} {alert.subject}"
        message["From"] = self.config.sender
        message["To"] = ", ".join(self.config.to)
        message["Date"] = email.utils.formatdate(localtime=True)
        # The sender's domain, so that no DNS lookup of our own name is needed.
        message["Message-ID"] = email.utils.make_msgid(
            "preflight", domain=self.config.sender.rpartition("@")[2]
        )
        message["X-Preflight-Kind"] = alert.kind.value
        message.set_content(alert.text)
        return message

    def _send(
        self, message: EmailMessage, credentials: tuple[str, str] | None, budget: Budget
    ) -> None:
        config = self.config
        tls = bounded.ssl_context(budget)
        client = _SMTP(
            config.host, config.port, budget, tls=tls if config.security is Security.SSL else None
        )
        try:
            if config.security is Security.STARTTLS:
                client.ehlo()
                if not client.has_extn("starttls"):
                    raise SinkError(
                        f"{self._where} does not offer STARTTLS: set alerts.smtp.security "
                        "to 'ssl' if it speaks TLS from the start (port 465)",
                        retryable=False,
                    )
                client.starttls(context=tls)
                client.ehlo()
            if credentials is not None:
                client.login(*credentials)
            client.send_message(message, from_addr=config.sender, to_addrs=list(config.to))
        finally:
            # The mail is handed over once DATA is accepted: a failed QUIT must not turn that
            # into a failure (and a duplicate on retry).
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()


class _SMTP(smtplib.SMTP):
    """smtplib's client on a socket that ends by ``budget``'s deadline (TLS from the start when
    given ``tls``), noting in the budget when the message itself has been sent."""

    def __init__(self, host: str, port: int, budget: Budget, *, tls: ssl.SSLContext | None) -> None:
        self.budget = budget
        self.tls = tls
        super().__init__(host, port, timeout=budget.seconds)  # connects, reads the greeting

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock: socket.socket = bounded.connect((host, port), self.budget)
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_hostname=host)
        return sock

    def send(self, s: ReadableBuffer | str) -> None:
        super().send(s)
        # DATA ends the message with CRLF "." CRLF (dot-stuffed, so only there).
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self.budget.request_sent = True


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


# --- JSON webhook (Slack-compatible) -----------------------------------------------------------


@dataclass(frozen=True)
class WebhookSink:
    config: WebhookConfig
    environ: Mapping[str, str]

    @property
    def name(self) -> str:
        return "webhook"

    def send(self, alert: Alert) -> None:
        url = self._url()
        where = f"the webhook at {urllib.parse.urlsplit(url).hostname}"  # not the secret path
        timeout = self.config.timeout_seconds
        request = urllib.request.Request(
            url,
            data=json.dumps(payload(alert)).encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": f"preflight/{__version__}",
            },
        )
        budget = Budget(timeout)
        # The environment's proxy settings still apply (ProxyHandler is among the defaults).
        opener = urllib.request.build_opener(*bounded.http_handlers(budget), _NoRedirects())
        maybe = " after the request was sent: it may have arrived"
        try:
            with opener.open(request, timeout=timeout) as response:
                response.read(65536)  # the answer is small ("ok"); read it to end cleanly
        except urllib.error.HTTPError as exc:
            code = exc.code
            exc.close()
            if 300 <= code < 400:
                raise SinkError(
                    f"{where} answered HTTP {code} {exc.reason}, a redirect, which is not "
                    f"followed: set {self.config.url_env} to the webhook's own URL",
                    retryable=False,
                ) from None
            raise SinkError(
                f"{where} answered HTTP {code} {exc.reason}",
                retryable=code >= 500 or code in (408, 429),
            ) from None
        except urllib.error.URLError as exc:  # raised before the request was sent in full
            if isinstance(exc.reason, TimeoutError):
                raise SinkError(f"{where} did not answer within {timeout:g} s") from None
            reason = exc.reason
            text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
            raise SinkError(f"cannot reach {where}: {text}") from None
        except TimeoutError:
            raise SinkError(
                f"{where} did not answer within {timeout:g} s"
                + (maybe if budget.request_sent else ""),
                unknown=budget.request_sent,
            ) from None
        except ReplyTooLong:
            raise SinkError(
                f"{where} answered with more than {bounded.READ_LIMIT} bytes", retryable=False
            ) from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # The type only for the rest: some quote the URL (InvalidURL does), and its path is
            # the secret.
            text = f": {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else ""
            raise SinkError(
                f"{where}: {type(exc).__name__}{text}" + (maybe if budget.request_sent else ""),
                unknown=budget.request_sent,
            ) from None

    def _url(self) -> str:
        name = self.config.url_env
        url = secret(self.environ, name).strip()
        if not url:
            raise SinkError(
                f"the environment variable {name} (or {name}{FILE_SUFFIX}) is not set: it must "
                "hold the webhook URL",
                retryable=False,
            )
        # Checked here, before http.client refuses it with an error that quotes the URL.
        if _UNSAFE.search(url):
            raise SinkError(
                f"the environment variable {name} holds a URL with a space or a control "
                "character: set it to the webhook URL alone",
                retryable=False,
            )
        if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
            raise SinkError(f"{name} must hold an http:// or https:// URL", retryable=False)
        return url


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is not followed: urllib's default handler then raises it as an HTTPError."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None

    def _refuse(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: email.message.Message,
    ) -> None:
        return None  # before redirect_request urllib checks (and quotes) the new URL: skip it

    http_error_301 = http_error_302 = http_error_303 = _refuse
    http_error_307 = http_error_308 = _refuse


_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")  # never in a URL; http.client refuses them


def payload(alert: Alert) -> dict[str, object]:
    """Slack's ``text``, plus the same facts as data under ``preflight`` for other receivers."""
    return {
        "text": f"{alert.subject}\n\n{alert.text}",
        "preflight": {
            "kind": alert.kind.value,
            "severity": alert.severity,
            "status": alert.status,
            "overall_status": alert.overall_status,
            "project": alert.project,
            "python": alert.python,
            "host": alert.host,
            "timestamp": alert.timestamp,
            "fingerprint": alert.fingerprint,
            "violations": [
                {"check": p.check, "severity": p.severity, "message": p.message, "remedy": p.remedy}
                for p in alert.problems
            ],
        },
    }
