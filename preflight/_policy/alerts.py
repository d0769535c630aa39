"""``[tool.preflight.alerts]``: when to alert, and where to, read and validated once.

Secrets never live in ``pyproject.toml`` (it is committed): the SMTP credentials and the webhook
URL (a Slack webhook URL is a credential) are read from environment variables whose *names* the
policy gives. A ``password``, ``user`` or ``url`` key is refused with a message saying which
variable to set instead.

``parse_alerts(path, table)`` takes the ``alerts`` table (``{}`` when absent) and returns an
:class:`AlertConfig` with defaults; alerting is on when at least one sink table is present.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight._errors import ConfigError

DEFAULT_USER_ENV = "PREFLIGHT_SMTP_USER"
DEFAULT_PASSWORD_ENV = "PREFLIGHT_SMTP_PASSWORD"
DEFAULT_WEBHOOK_ENV = "PREFLIGHT_WEBHOOK_URL"
DEFAULT_STATE_FILE = ".preflight/alert-state.json"
DEFAULT_TIMEOUT = 10.0
# The upper bounds of the number keys: beyond them a value is a mistake (or an overflow).
MAX_COOLDOWN_MINUTES = 366 * 24 * 60.0  # a year
MAX_BACKOFF_SECONDS = 60.0  # a longer wait would not fit in a dispatch (_alerts.dispatch)
MAX_TIMEOUT_SECONDS = 300.0
MAX_RETRIES = 10
MAX_ATTEMPTS = 1000


class Security(enum.StrEnum):
    STARTTLS = "starttls"  # plain connection upgraded with STARTTLS (port 587)
    SSL = "ssl"  # TLS from the first byte (SMTPS, port 465)
    NONE = "none"  # no encryption: for a relay on localhost (and tests); never sends credentials


DEFAULT_PORTS = {Security.STARTTLS: 587, Security.SSL: 465, Security.NONE: 25}


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    sender: str  # the "from" key
    to: tuple[str, ...]
    port: int = 587
    security: Security = Security.STARTTLS
    user_env: str = DEFAULT_USER_ENV
    password_env: str = DEFAULT_PASSWORD_ENV
    timeout_seconds: float = DEFAULT_TIMEOUT
    subject_prefix: str = "[preflight]"


@dataclass(frozen=True)
class WebhookConfig:
    url_env: str = DEFAULT_WEBHOOK_ENV
    timeout_seconds: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class AlertConfig:
    warning_threshold: int = 5  # alert when there are MORE warnings than this (the seed's 5)
    cooldown_minutes: float = 60.0  # the same problems alert again only after this long
    state_file: str = DEFAULT_STATE_FILE  # relative to the project folder
    retries: int = 3  # further attempts after a failed one, per sink
    backoff_seconds: float = 1.0  # wait before the first retry; doubled for each further one
    # Attempts per sink at one alert, over all the runs that try it: a sink that takes the
    # body and never answers may deliver every attempt, so they must end. Then the alert
    # waits for the cooldown (or a change of problems) before it is tried again.
    max_attempts: int = 12
    smtp: SmtpConfig | None = None
    webhook: WebhookConfig | None = None

    @property
    def enabled(self) -> bool:
        """Whether any sink is configured: without one there is nothing to alert through."""
        return self.smtp is not None or self.webhook is not None

    def state_path(self, project_dir: Path) -> Path:
        return project_dir / self.state_file


# --- parsing -------------------------------------------------------------------------------

_ALERT_KEYS = {
    "warning_threshold",
    "cooldown_minutes",
    "state_file",
    "retries",
    "backoff_seconds",
    "max_attempts",
    "smtp",
    "webhook",
}
_SMTP_KEYS = {
    "host",
    "port",
    "security",
    "from",
    "to",
    "user_env",
    "password_env",
    "timeout_seconds",
    "subject_prefix",
}
_WEBHOOK_KEYS = {"url_env", "timeout_seconds"}
# Keys that would put a secret into a committed file, and the variable to use instead.
_SECRETS = {
    "smtp": {"password": "password_env", "user": "user_env", "username": "user_env"},
    "webhook": {"url": "url_env"},
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class _Table:
    """One TOML table being validated: typed getters that name the full key on error."""

    def __init__(self, path: Path, prefix: str, table: Any, known: set[str]) -> None:
        self.path = path
        self.prefix = prefix
        if not isinstance(table, Mapping):
            raise self.error("", f"must be a table, e.g. [tool.preflight.{prefix.rstrip('.')}]")
        self.table: Mapping[str, Any] = table
        unknown = sorted(set(table) - known)
        if unknown:
            raise self.error(
                unknown[0], f"unknown key; expected one of: {', '.join(sorted(known))}"
            )

    def error(self, key: str, message: str, *, hint: str | None = None) -> ConfigError:
        return ConfigError(self.path, (self.prefix + key).rstrip("."), message, hint=hint)

    def has(self, key: str) -> bool:
        return key in self.table

    def string(self, key: str) -> str:
        value = self.table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be a non-empty string, not {value!r}")
        return value

    def env_name(self, key: str) -> str:
        value = self.string(key)
        if not _ENV_NAME.match(value):
            raise self.error(
                key, f"must be the name of an environment variable (A-Z, 0-9, _), not {value!r}"
            )
        return value

    def integer(self, key: str, *, minimum: int, maximum: int | None = None) -> int:
        value = self.table[key]
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
        if not ok or (maximum is not None and value > maximum):
            bound = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
            raise self.error(key, f"must be a whole number {bound}, not {_shown(value)}")
        return int(value)

    def number(self, key: str, *, positive: bool, maximum: float) -> float:
        """A finite number in range: ``inf`` would overflow a date or never end a wait, and
        ``nan`` compares false with everything (a cooldown that never ends, a wait that
        raises)."""
        value = self.table[key]
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (value > 0 if positive else value >= 0)  # false for nan
            and value <= maximum  # exact for an int of any size, false for inf and nan
        )
        if not ok:
            kind = "a positive number" if positive else "a number >= 0"
            raise self.error(key, f"must be {kind}, at most {maximum:g}, not {_shown(value)}")
        return float(value)

    def addresses(self, key: str) -> tuple[str, ...]:
        value = self.table[key]
        if isinstance(value, str):
            value = [value]
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and _is_address(v) for v in value)
        ):
            raise self.error(
                key,
                f'must be a non-empty list of e-mail addresses, e.g. ["ops@example.com"], '
                f"not {value!r}",
            )
        return tuple(value)


def _shown(value: object) -> str:
    """``value`` for a message, short: a 400-digit number is said to be one (and the repr of
    one over 4300 digits would raise)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
        return f"a number of about {round(value.bit_length() * 0.30103)} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_address(text: str) -> bool:
    local, at, domain = text.rpartition("@")
    return bool(at and local and domain) and not any(c.isspace() or c in ",<>" for c in text)


def _refuse_secrets(path: Path, section: str, table: Any) -> None:
    if not isinstance(table, Mapping):
        return
    for key, instead in _SECRETS[section].items():
        if key in table:
            default = {
                "password_env": DEFAULT_PASSWORD_ENV,
                "user_env": DEFAULT_USER_ENV,
                "url_env": DEFAULT_WEBHOOK_ENV,
            }[instead]
            raise ConfigError(
                path,
                f"alerts.{section}.{key}",
                "secrets do not belong in pyproject.toml (it is committed); "
                f"set the environment variable named by {instead!r} instead",
                hint=f"remove {key!r}, then export {default}=... where preflight runs "
                f"(or set alerts.{section}.{instead} to the name of another variable)",
            )


def parse_alerts(path: Path, table: Any) -> AlertConfig:
    """Validate the ``[tool.preflight.alerts]`` table (``{}`` when absent) of ``path``."""
    for section in _SECRETS:
        if isinstance(table, Mapping):
            _refuse_secrets(path, section, table.get(section))
    alerts = _Table(path, "alerts.", table, _ALERT_KEYS)
    kwargs: dict[str, Any] = {}
    if alerts.has("warning_threshold"):
        kwargs["warning_threshold"] = alerts.integer("warning_threshold", minimum=0)
    if alerts.has("cooldown_minutes"):
        kwargs["cooldown_minutes"] = alerts.number(
            "cooldown_minutes", positive=False, maximum=MAX_COOLDOWN_MINUTES
        )
    if alerts.has("state_file"):
        state_file = alerts.string("state_file")
        if Path(state_file).is_absolute() or ".." in Path(state_file).parts:
            raise alerts.error(
                "state_file",
                f"must be a path inside the project (relative, no '..'), not {state_file!r}",
            )
        kwargs["state_file"] = state_file
    if alerts.has("retries"):
        kwargs["retries"] = alerts.integer("retries", minimum=0, maximum=MAX_RETRIES)
    if alerts.has("backoff_seconds"):
        kwargs["backoff_seconds"] = alerts.number(
            "backoff_seconds", positive=False, maximum=MAX_BACKOFF_SECONDS
        )
    if alerts.has("max_attempts"):
        kwargs["max_attempts"] = alerts.integer("max_attempts", minimum=1, maximum=MAX_ATTEMPTS)
    if alerts.has("smtp"):
        kwargs["smtp"] = _parse_smtp(_Table(path, "alerts.smtp.", table["smtp"], _SMTP_KEYS))
    if alerts.has("webhook"):
        kwargs["webhook"] = _parse_webhook(
            _Table(path, "alerts.webhook.", table["webhook"], _WEBHOOK_KEYS)
        )
    return AlertConfig(**kwargs)


def _parse_smtp(smtp: _Table) -> SmtpConfig:
    for required in ("host", "from", "to"):
        if not smtp.has(required):
            raise smtp.error(
                required,
                "is required",
                hint='e.g. host = "smtp.example.com", from = "preflight@example.com", '
                'to = ["ops@example.com"]',
            )
    security = Security.STARTTLS
    if smtp.has("security"):
        value = smtp.table["security"]
        choices = [s.value for s in Security]
        if value not in choices:
            raise smtp.error("security", f"must be one of {choices}, not {value!r}")
        security = Security(value)
    sender = smtp.string("from")
    if not _is_address(sender):
        raise smtp.error("from", f"must be an e-mail address, not {sender!r}")
    kwargs: dict[str, Any] = {
        "host": smtp.string("host"),
        "sender": sender,
        "to": smtp.addresses("to"),
        "security": security,
        "port": (
            smtp.integer("port", minimum=1, maximum=65535)
            if smtp.has("port")
            else DEFAULT_PORTS[security]
        ),
    }
    for key in ("user_env", "password_env"):
        if smtp.has(key):
            kwargs[key] = smtp.env_name(key)
    if smtp.has("timeout_seconds"):
        kwargs["timeout_seconds"] = smtp.number(
            "timeout_seconds", positive=True, maximum=MAX_TIMEOUT_SECONDS
        )
    if smtp.has("subject_prefix"):
        kwargs["subject_prefix"] = smtp.string("subject_prefix")
    return SmtpConfig(**kwargs)


def _parse_webhook(webhook: _Table) -> WebhookConfig:
    kwargs: dict[str, Any] = {}
    if webhook.has("url_env"):
        kwargs["url_env"] = webhook.env_name("url_env")
    if webhook.has("timeout_seconds"):
        kwargs["timeout_seconds"] = webhook.number(
            "timeout_seconds", positive=True, maximum=MAX_TIMEOUT_SECONDS
        )
    return WebhookConfig(**kwargs)
