"""Where alerts go: each sink is a small class with a ``name`` and ``send(alert)``.

``send`` either delivers or raises :class:`SinkError`, which says what went wrong and whether
trying again may help (``retryable``): a server that is down, busy (SMTP 4xx, HTTP 5xx or 429) or
silent may recover; a refusal (SMTP 5xx, HTTP 4xx) or a missing setting will not. Retrying and
logging are the dispatcher's job (``_alerts.dispatch.deliver``), not the sinks'. The sinks
know only the alert model (``_alerts.model``), which knows no sink.

Every network call has a time limit (``smtplib`` has none by default). Secrets come from the
environment mapping the sink is given, never from the policy, and never appear in messages.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json
import re
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from preflight._alerts.model import Alert
from preflight._policy.alerts import AlertConfig, Security, SmtpConfig, WebhookConfig
from preflight._version import __version__

__all__ = ["Sink", "SinkError", "SmtpSink", "WebhookSink", "build_sinks"]


class SinkError(Exception):
    """A sink could not deliver. ``retryable``: whether a later attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable

    def __str__(self) -> str:
        return self.message


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
        try:
            self._send(message, credentials)
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
            # smtplib reports a read that timed out as a disconnection: say what happened.
            if isinstance(exc.__context__, TimeoutError):
                raise self._timed_out() from None
            raise SinkError(f"{self._where} closed the connection: {exc}") from None
        except smtplib.SMTPException as exc:  # the rest of smtplib's errors
            raise SinkError(f"{self._where}: {exc}") from None
        except ssl.SSLCertVerificationError as exc:
            raise SinkError(
                f"{self._where}: its TLS certificate is not trusted: {exc.verify_message}",
                retryable=False,
            ) from None
        except TimeoutError:
            raise self._timed_out() from None
        except OSError as exc:  # refused, unreachable, name not resolved, TLS failure
            raise SinkError(f"cannot talk to {self._where}: {exc.strerror or exc}") from None

    def _timed_out(self) -> SinkError:
        return SinkError(f"{self._where} did not answer within {self.config.timeout_seconds:g} s")

    def _credentials(self) -> tuple[str, str] | None:
        user = self.environ.get(self.config.user_env, "")
        password = self.environ.get(self.config.password_env, "")
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

    def _send(self, message: EmailMessage, credentials: tuple[str, str] | None) -> None:
        config = self.config
        timeout = config.timeout_seconds
        client: smtplib.SMTP
        if config.security is Security.SSL:
            client = smtplib.SMTP_SSL(
                config.host, config.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=timeout)
        try:
            if config.security is Security.STARTTLS:
                client.ehlo()
                if not client.has_extn("starttls"):
                    raise SinkError(
                        f"{self._where} does not offer STARTTLS: set alerts.smtp.security "
                        "to 'ssl' if it speaks TLS from the start (port 465)",
                        retryable=False,
                    )
                client.starttls(context=ssl.create_default_context())
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
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read(65536)  # the answer is small ("ok"); read it to end cleanly
        except urllib.error.HTTPError as exc:
            code = exc.code
            exc.close()
            raise SinkError(
                f"{where} answered HTTP {code} {exc.reason}",
                retryable=code >= 500 or code in (408, 429),
            ) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise SinkError(f"{where} did not answer within {timeout:g} s") from None
            reason = exc.reason
            text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
            raise SinkError(f"cannot reach {where}: {text}") from None
        except TimeoutError:
            raise SinkError(f"{where} did not answer within {timeout:g} s") from None
        except OSError as exc:
            raise SinkError(f"{where}: {type(exc).__name__}: {exc.strerror or exc}") from None
        except (http.client.HTTPException, ValueError) as exc:
            # The type only: some quote the URL (InvalidURL does), and its path is the secret.
            raise SinkError(f"{where}: {type(exc).__name__}") from None

    def _url(self) -> str:
        name = self.config.url_env
        url = self.environ.get(name, "").strip()
        if not url:
            raise SinkError(
                f"the environment variable {name} is not set: it must hold the webhook URL",
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
