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
from preflight._strict import Node, ShapeError, Table

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


def config_error(path: Path, exc: ShapeError) -> ConfigError:
    """The strict reader's refusal as the policy's error: the file, the key, what is wrong."""
    return ConfigError(path, exc.key, exc.problem, hint=exc.hint)


def parse_alerts(path: Path, table: Any) -> AlertConfig:
    """Validate the ``[tool.preflight.alerts]`` table (``{}`` when absent) of ``path``."""
    for section in _SECRETS:
        if isinstance(table, Mapping):
            _refuse_secrets(path, section, table.get(section))
    try:
        return _alerts(Node(table, "alerts").table(_ALERT_KEYS, example="[tool.preflight.alerts]"))
    except ShapeError as exc:
        raise config_error(path, exc) from None


def _alerts(alerts: Table) -> AlertConfig:
    kwargs: dict[str, Any] = {}
    if (node := alerts.get("warning_threshold")) is not None:
        kwargs["warning_threshold"] = node.integer(minimum=0)
    if (node := alerts.get("cooldown_minutes")) is not None:
        kwargs["cooldown_minutes"] = node.number(maximum=MAX_COOLDOWN_MINUTES)
    if (node := alerts.get("state_file")) is not None:
        state_file = node.string()
        if Path(state_file).is_absolute() or ".." in Path(state_file).parts:
            raise node.error(
                f"must be a path inside the project (relative, no '..'), not {state_file!r}"
            )
        kwargs["state_file"] = state_file
    if (node := alerts.get("retries")) is not None:
        kwargs["retries"] = node.integer(minimum=0, maximum=MAX_RETRIES)
    if (node := alerts.get("backoff_seconds")) is not None:
        kwargs["backoff_seconds"] = node.number(maximum=MAX_BACKOFF_SECONDS)
    if (node := alerts.get("max_attempts")) is not None:
        kwargs["max_attempts"] = node.integer(minimum=1, maximum=MAX_ATTEMPTS)
    if (node := alerts.get("smtp")) is not None:
        kwargs["smtp"] = _smtp(node.table(_SMTP_KEYS, example="[tool.preflight.alerts.smtp]"))
    if (node := alerts.get("webhook")) is not None:
        kwargs["webhook"] = _webhook(
            node.table(_WEBHOOK_KEYS, example="[tool.preflight.alerts.webhook]")
        )
    return AlertConfig(**kwargs)


def _env_name(node: Node) -> str:
    value = node.string()
    if not _ENV_NAME.match(value):
        raise node.error(
            f"must be the name of an environment variable (A-Z, 0-9, _), not {value!r}"
        )
    return value


def _addresses(node: Node) -> tuple[str, ...]:
    value = node.value
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and _is_address(v) for v in value)
    ):
        raise node.error(
            f'must be a non-empty list of e-mail addresses, e.g. ["ops@example.com"], not {value!r}'
        )
    return tuple(value)


def _smtp(smtp: Table) -> SmtpConfig:
    for required in ("host", "from", "to"):
        if not smtp.has(required):
            raise smtp.error(
                required,
                "is required",
                hint='e.g. host = "smtp.example.com", from = "preflight@example.com", '
                'to = ["ops@example.com"]',
            )
    security = Security.STARTTLS
    if (node := smtp.get("security")) is not None:
        security = Security(node.choice(s.value for s in Security))
    sender = smtp["from"].string()
    if not _is_address(sender):
        raise smtp.error("from", f"must be an e-mail address, not {sender!r}")
    kwargs: dict[str, Any] = {
        "host": smtp["host"].string(),
        "sender": sender,
        "to": _addresses(smtp["to"]),
        "security": security,
        "port": (
            smtp["port"].integer(minimum=1, maximum=65535)
            if smtp.has("port")
            else DEFAULT_PORTS[security]
        ),
    }
    for key in ("user_env", "password_env"):
        if (node := smtp.get(key)) is not None:
            kwargs[key] = _env_name(node)
    if (node := smtp.get("timeout_seconds")) is not None:
        kwargs["timeout_seconds"] = node.number(positive=True, maximum=MAX_TIMEOUT_SECONDS)
    if (node := smtp.get("subject_prefix")) is not None:
        kwargs["subject_prefix"] = node.string()
    return SmtpConfig(**kwargs)


def _webhook(webhook: Table) -> WebhookConfig:
    kwargs: dict[str, Any] = {}
    if (node := webhook.get("url_env")) is not None:
        kwargs["url_env"] = _env_name(node)
    if (node := webhook.get("timeout_seconds")) is not None:
        kwargs["timeout_seconds"] = node.number(positive=True, maximum=MAX_TIMEOUT_SECONDS)
    return WebhookConfig(**kwargs)
