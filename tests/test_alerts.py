"""Alerts: configuration, the pure decision, and delivery to real servers on 127.0.0.1.

The decision (trigger, dedup, cooldown, recovery) is tested as a pure function of hand-built
reports. Delivery talks to real servers started here: an aiosmtpd server that receives, ones
that refuse (421, 554), an HTTP server answering 200 or 500, and a TCP server that accepts and
never answers (the client must give up within its timeout). Retries are real; only the wait
between them is recorded instead of slept.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import factories
import loopback
import pytest
from conftest import run_preflight

from preflight._alerts.dispatch import Delivery, DispatchResult, deliver, dispatch
from preflight._alerts.model import (
    BODY_LIMIT,
    Alert,
    AlertKind,
    AlertState,
    decide,
    fingerprint,
    problems_of,
)
from preflight._alerts.sinks import SinkError, SmtpSink, WebhookSink
from preflight._checks.result import Finding, Severity
from preflight._errors import ConfigError
from preflight._policy.alerts import (
    AlertConfig,
    Security,
    SmtpConfig,
    WebhookConfig,
    parse_alerts,
)
from preflight._policy.policy import load_policy
from preflight._render.report import dumps
from preflight._report.model import Report

PYPROJECT = Path("/project/pyproject.toml")
NOW = datetime(2024, 12, 2, 10, 0, tzinfo=UTC)
PYTHON = "/srv/app/.venv/bin/python"
CONFIG = AlertConfig()


# --- helpers ----------------------------------------------------------------------------------


def make_report(
    critical: list[str] | None = None,
    warnings: list[str] | None = None,
    *,
    python: str = PYTHON,
    warning_check: str = "performance",
) -> Report:
    """A report as ``preflight check`` makes it: critical findings of ``security``, warnings
    of ``warning_check`` (``performance`` unless told otherwise)."""
    return factories.report(
        factories.check(
            "security", *(Finding(Severity.CRITICAL, m, f"fix {m}") for m in critical or [])
        ),
        factories.check(warning_check, *(Finding(Severity.WARNING, m) for m in warnings or [])),
        python=python,
        timestamp="2024-12-02T10:00:00Z",
        project="/srv/app",
    )


def smtp_config(port: int, **kwargs: Any) -> SmtpConfig:
    settings: dict[str, Any] = {
        "host": loopback.HOST,
        "port": port,
        "security": Security.NONE,
        "sender": "preflight@example.com",
        "to": ("ops@example.com", "dev@example.com"),
        "timeout_seconds": 5.0,
    }
    settings.update(kwargs)
    return SmtpConfig(**settings)


class Sleeps:
    """The retry waits, recorded: the backoff is asserted without the test sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def log() -> io.StringIO:
    return io.StringIO()


def _no_delivery_recorded(state_file: Path, *, attempts: int) -> None:
    """The state holds no delivery, only the undelivered attempts counted against the alert."""
    [entry] = json.loads(state_file.read_text(encoding="utf-8"))["environments"].values()
    assert entry["alerting"] is False
    assert entry["last_sent"] is None
    assert entry["undelivered"]
    assert entry["attempts"] == attempts


def alert_for(report: Report | None = None) -> Alert:
    decision = decide(report or make_report(["lock is world-writable"]), AlertState(), NOW, CONFIG)
    assert decision.alert is not None
    return decision.alert


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused, and nobody else gets it."""
    with socket.socket() as sock:
        sock.bind((loopback.HOST, 0))
        yield sock.getsockname()[1]


# --- configuration ----------------------------------------------------------------------------


def test_defaults_alert_nowhere() -> None:
    config = parse_alerts(PYPROJECT, {})
    assert config == AlertConfig()
    assert config.warning_threshold == 5
    assert config.cooldown_minutes == 60
    assert config.state_file == ".preflight/alert-state.json"
    assert (config.retries, config.backoff_seconds) == (3, 1.0)
    assert not config.enabled
    assert config.state_path(Path("/p")) == Path("/p/.preflight/alert-state.json")


def test_full_configuration() -> None:
    config = parse_alerts(
        PYPROJECT,
        {
            "warning_threshold": 2,
            "cooldown_minutes": 30,
            "state_file": "var/alerts.json",
            "retries": 5,
            "backoff_seconds": 0.5,
            "smtp": {
                "host": "smtp.example.com",
                "security": "ssl",
                "from": "preflight@example.com",
                "to": ["ops@example.com"],
                "user_env": "MAIL_USER",
                "password_env": "MAIL_PASSWORD",
                "timeout_seconds": 20,
                "subject_prefix": "[app]",
            },
            "webhook": {"url_env": "SLACK_URL", "timeout_seconds": 3},
        },
    )
    assert config.enabled
    assert config.smtp == SmtpConfig(
        host="smtp.example.com",
        sender="preflight@example.com",
        to=("ops@example.com",),
        port=465,  # the default of "ssl"
        security=Security.SSL,
        user_env="MAIL_USER",
        password_env="MAIL_PASSWORD",
        timeout_seconds=20.0,
        subject_prefix="[app]",
    )
    assert config.webhook == WebhookConfig(url_env="SLACK_URL", timeout_seconds=3.0)
    assert (config.warning_threshold, config.cooldown_minutes, config.retries) == (2, 30.0, 5)


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("ssl", 465), ("none", 25)])
def test_default_port_follows_security(security: str, port: int) -> None:
    smtp = {"host": "h", "from": "a@example.com", "to": "b@example.com", "security": security}
    config = parse_alerts(PYPROJECT, {"smtp": smtp})
    assert config.smtp is not None
    assert config.smtp.port == port
    assert config.smtp.to == ("b@example.com",)  # one address may be a string


SMTP = {"host": "smtp.example.com", "from": "a@example.com", "to": ["b@example.com"]}


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ({"colour": "red"}, "alerts.colour", "unknown key"),
        ({"warning_threshold": -1}, "alerts.warning_threshold", "whole number >= 0"),
        ({"warning_threshold": True}, "alerts.warning_threshold", "whole number"),
        ({"retries": 1.5}, "alerts.retries", "whole number from 0 to 10"),
        ({"cooldown_minutes": "1h"}, "alerts.cooldown_minutes", "a number >= 0"),
        ({"state_file": "/var/state.json"}, "alerts.state_file", "inside the project"),
        ({"state_file": "../state.json"}, "alerts.state_file", "inside the project"),
        ({"smtp": "smtp.example.com"}, "alerts.smtp", "must be a table"),
        ({"smtp": {**SMTP, "port": "25"}}, "alerts.smtp.port", "whole number from 1 to 65535"),
        ({"smtp": {**SMTP, "port": 70000}}, "alerts.smtp.port", "whole number from 1 to 65535"),
        ({"smtp": {**SMTP, "security": "tls"}}, "alerts.smtp.security", "must be one of"),
        ({"smtp": {**SMTP, "to": []}}, "alerts.smtp.to", "non-empty list of e-mail"),
        ({"smtp": {**SMTP, "to": ["ops"]}}, "alerts.smtp.to", "non-empty list of e-mail"),
        ({"smtp": {**SMTP, "from": "preflight"}}, "alerts.smtp.from", "e-mail address"),
        ({"smtp": {"from": "a@b.c", "to": ["b@c.d"]}}, "alerts.smtp.host", "is required"),
        ({"smtp": {**SMTP, "user_env": "MY USER"}}, "alerts.smtp.user_env", "environment"),
        ({"smtp": {**SMTP, "timeout_seconds": 0}}, "alerts.smtp.timeout_seconds", "positive"),
        ({"smtp": {**SMTP, "tls": True}}, "alerts.smtp.tls", "unknown key"),
        ({"webhook": {"timeout_seconds": -1}}, "alerts.webhook.timeout_seconds", "positive"),
        ({"webhook": {"channel": "#ops"}}, "alerts.webhook.channel", "unknown key"),
    ],
)
def test_invalid_configuration_names_the_key(table: Any, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_alerts(PYPROJECT, table)
    assert caught.value.key == key
    assert message in caught.value.message
    assert f"{PYPROJECT}: [tool.preflight] key {key!r}" in str(caught.value)


def test_a_table_that_is_not_a_table() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_alerts(PYPROJECT, ["smtp"])
    assert caught.value.key == "alerts"


@pytest.mark.parametrize(
    ("section", "key", "variable"),
    [
        ("smtp", "password", "PREFLIGHT_SMTP_PASSWORD"),
        ("smtp", "user", "PREFLIGHT_SMTP_USER"),
        ("webhook", "url", "PREFLIGHT_WEBHOOK_URL"),
    ],
)
def test_secrets_in_the_policy_are_refused(section: str, key: str, variable: str) -> None:
    table = {**SMTP, key: "s3cret"} if section == "smtp" else {key: "https://hooks/s3cret"}
    with pytest.raises(ConfigError) as caught:
        parse_alerts(PYPROJECT, {section: table})
    assert caught.value.key == f"alerts.{section}.{key}"
    assert "secrets do not belong in pyproject.toml" in caught.value.message
    assert caught.value.hint is not None
    assert variable in caught.value.hint
    assert "s3cret" not in str(caught.value) + caught.value.hint


def test_the_policy_reads_the_alerts_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.preflight]\npythons = ["3.12"]\nrequires = []\n\n'
        "[tool.preflight.alerts]\ncooldown_minutes = 5\n\n"
        '[tool.preflight.alerts.webhook]\nurl_env = "SLACK_URL"\n',
        encoding="utf-8",
    )
    config = load_policy(tmp_path).alerts
    assert config.cooldown_minutes == 5
    assert config.webhook == WebhookConfig(url_env="SLACK_URL")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.preflight]\npythons = ["3.12"]\nrequires = []\n', encoding="utf-8"
    )
    assert load_policy(tmp_path).alerts == AlertConfig()
    (tmp_path / "pyproject.toml").write_text(
        '[tool.preflight]\npythons = ["3.12"]\nrequires = []\n'
        "[tool.preflight.alerts.smtp]\nhost = 1\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"key 'alerts.smtp.from': is required"):
        load_policy(tmp_path)


# --- the decision (pure) ----------------------------------------------------------------------


def test_clean_report_sends_nothing() -> None:
    decision = decide(make_report(), AlertState(), NOW, CONFIG)
    assert not decision.send
    assert decision.alert is None
    assert "nothing to alert" in decision.reason


def test_critical_problem_alerts() -> None:
    decision = decide(make_report(["lock is world-writable"]), AlertState(), NOW, CONFIG, host="h")
    assert decision.send
    assert decision.reason == "new problem"
    alert = decision.alert
    assert alert is not None
    assert alert.kind is AlertKind.PROBLEM
    assert alert.severity == "critical"
    assert alert.subject == "CRITICAL: 1 critical problem on h - NOT_READY (FAILED)"
    assert "- security: lock is world-writable\n  fix: fix lock is world-writable" in alert.text
    assert f"Interpreter: {PYTHON}" in alert.text
    assert decision.state == AlertState(
        alerting=True, fingerprint=alert.fingerprint, last_sent=NOW, subject=alert.subject
    )


def test_warnings_alert_only_above_the_threshold() -> None:
    config = AlertConfig(warning_threshold=2)
    two = make_report(warnings=["w1", "w2"])
    three = make_report(warnings=["w1", "w2", "w3"])
    assert not decide(two, AlertState(), NOW, config).send
    decision = decide(three, AlertState(), NOW, config)
    assert decision.send
    assert decision.alert is not None
    assert decision.alert.severity == "warning"
    assert decision.alert.subject.startswith("WARNING: 3 warnings")


def test_the_same_problem_is_suppressed_within_the_cooldown() -> None:
    report = make_report(["lock is world-writable"])
    first = decide(report, AlertState(), NOW, CONFIG)
    later = decide(report, first.state, NOW + timedelta(minutes=59), CONFIG)
    assert not later.send
    assert later.reason.startswith("suppressed: the same problems were alerted at")
    assert "2024-12-02T11:00:00Z" in later.reason  # when the reminder is due
    assert later.state == first.state


def test_the_same_problem_alerts_again_after_the_cooldown() -> None:
    report = make_report(["lock is world-writable"])
    first = decide(report, AlertState(), NOW, CONFIG)
    later = decide(report, first.state, NOW + timedelta(minutes=60), CONFIG)
    assert later.send
    assert "still failing after the cooldown of 60 min" in later.reason
    assert later.state.last_sent == NOW + timedelta(minutes=60)


def test_a_change_of_problems_alerts_at_once() -> None:
    first = decide(make_report(["lock is world-writable"]), AlertState(), NOW, CONFIG)
    changed = decide(
        make_report(["lock is world-writable", "numpy 2.1.0 is not the locked 2.2.6"]),
        first.state,
        NOW + timedelta(minutes=1),
        CONFIG,
    )
    assert changed.send
    assert changed.reason == "the problems changed"
    assert changed.state.fingerprint != first.state.fingerprint


def test_warnings_beside_a_critical_problem_do_not_make_it_new() -> None:
    first = decide(make_report(["lock is world-writable"]), AlertState(), NOW, CONFIG)
    again = decide(
        make_report(["lock is world-writable"], ["lock is 95 days old"]),
        first.state,
        NOW + timedelta(minutes=5),
        CONFIG,
    )
    assert not again.send


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("slow imports: 2.31 s (limit 2 s)", "slow imports: 12.4 s (limit 2 s)"),
        (
            "py3.12.txt is stale: compiled 25.3 hours ago",
            "py3.12.txt is stale: compiled 26 hours ago",
        ),
        (
            "py3.12.txt is stale: compiled 23.9 hours ago",
            "py3.12.txt is stale: compiled 2 days ago",
        ),
        ("lock is 95 days old (limit 90)", "lock is 96 days old (limit 90)"),
        ("imports take 41% of 3.1 s and 12 MiB", "imports take 38% of 2.95 s and 13 MiB"),
    ],
)
def test_numbers_that_change_from_run_to_run_do_not_make_a_problem_new(
    before: str, after: str
) -> None:
    config = AlertConfig(warning_threshold=0)
    first = decide(make_report(warnings=[before]), AlertState(), NOW, config)
    again = decide(make_report(warnings=[after]), first.state, NOW + timedelta(minutes=5), config)
    assert first.send
    assert not again.send
    assert again.reason.startswith("suppressed: the same problems")
    other_check = make_report(warnings=[after], warning_check="lock_age")
    changed = decide(other_check, again.state, NOW + timedelta(minutes=6), config)
    assert changed.send
    assert changed.reason == "the problems changed"


def test_fingerprint_ignores_order_and_remedies() -> None:
    a = problems_of(make_report(["one", "two"]))
    b = tuple(reversed(a))
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(a[:1])


def test_recovery_sends_a_recovered_alert_once() -> None:
    first = decide(make_report(["lock is world-writable"]), AlertState(), NOW, CONFIG)
    recovered = decide(make_report(), first.state, NOW + timedelta(minutes=5), CONFIG, host="h")
    assert recovered.send
    assert recovered.alert is not None
    assert recovered.alert.kind is AlertKind.RECOVERED
    assert recovered.alert.subject == "RECOVERED on h - READY (PASSED)"
    assert "alerted at 2024-12-02T10:00:00Z" in recovered.alert.text
    assert recovered.state == AlertState(
        alerting=False, last_sent=NOW + timedelta(minutes=5), subject=recovered.alert.subject
    )
    # And then quiet again.
    assert not decide(make_report(), recovered.state, NOW + timedelta(minutes=10), CONFIG).send


def test_recovery_to_a_few_warnings_lists_them() -> None:
    first = decide(make_report(["broken"]), AlertState(), NOW, CONFIG)
    recovered = decide(make_report(warnings=["lock is 95 days old"]), first.state, NOW, CONFIG)
    assert recovered.alert is not None
    assert recovered.alert.kind is AlertKind.RECOVERED
    assert "1 warning remain; alerts start above 5." in recovered.alert.text
    assert "- performance: lock is 95 days old" in recovered.alert.text


def test_force_ignores_the_cooldown_but_needs_a_reason() -> None:
    report = make_report(["lock is world-writable"])
    first = decide(report, AlertState(), NOW, CONFIG)
    forced = decide(report, first.state, NOW + timedelta(minutes=1), CONFIG, force=True)
    assert forced.send
    assert forced.reason == "forced (--force)"
    assert not decide(make_report(), AlertState(), NOW, CONFIG, force=True).send


def test_a_long_list_is_cut_in_the_alert() -> None:
    many = [f"problem {i}" for i in range(BODY_LIMIT + 7)]
    alert = alert_for(make_report(many))
    assert f"- security: problem {BODY_LIMIT - 1}" in alert.text
    assert f"- security: problem {BODY_LIMIT}:" not in alert.text
    assert "- ... and 7 more (see the report)" in alert.text
    assert len(alert.problems) == BODY_LIMIT + 7  # the structured payload keeps them all


# --- SMTP against real servers ---------------------------------------------------------------


def test_smtp_delivers_subject_body_and_recipients(log: io.StringIO) -> None:
    handler = loopback.MailHandler()
    alert = alert_for()
    with loopback.smtp_server(handler) as port:
        sink = SmtpSink(smtp_config(port, subject_prefix="[app]"), environ={})
        result = deliver(alert, sink, retries=3, backoff_seconds=1, sleep=Sleeps(), log=log)
    assert result.ok
    assert result.attempts == 1
    [mail] = handler.received
    assert mail.mail_from == "preflight@example.com"
    assert mail.rcpt_tos == ["ops@example.com", "dev@example.com"]
    assert mail.message["Subject"] == f"[app] {alert.subject}"
    assert mail.message["To"] == "ops@example.com, dev@example.com"
    assert mail.message["X-Preflight-Kind"] == "problem"
    assert mail.body == alert.text
    assert "smtp: sent" in log.getvalue()


def test_smtp_421_is_retried_with_exponential_backoff(log: io.StringIO) -> None:
    handler = loopback.MailHandler(refuse_mail="421 4.3.2 Service shutting down")
    sleeps = Sleeps()
    with loopback.smtp_server(handler) as port:
        sink = SmtpSink(smtp_config(port), environ={})
        result = deliver(alert_for(), sink, retries=2, backoff_seconds=1.5, sleep=sleeps, log=log)
    assert not result.ok
    assert result.attempts == 3
    assert handler.attempts == 3  # three real conversations with the server
    assert sleeps.calls == [1.5, 3.0]
    assert result.error is not None
    assert "answered 421 4.3.2 Service shutting down" in result.error
    assert "attempt 1 of 3 failed" in log.getvalue()
    assert "retrying in 1.5 s" in log.getvalue()


def test_smtp_554_is_a_refusal_and_not_retried(log: io.StringIO) -> None:
    handler = loopback.MailHandler(refuse_data="554 5.7.1 Message rejected")
    sleeps = Sleeps()
    with loopback.smtp_server(handler) as port:
        sink = SmtpSink(smtp_config(port), environ={})
        result = deliver(alert_for(), sink, retries=3, backoff_seconds=1, sleep=sleeps, log=log)
    assert not result.ok
    assert result.attempts == 1
    assert sleeps.calls == []
    assert "answered 554 5.7.1 Message rejected" in (result.error or "")
    assert "not retried" in log.getvalue()


def test_a_multi_line_smtp_reply_cannot_start_a_line_of_its_own(log: io.StringIO) -> None:
    # smtplib joins a multi-line reply with newlines; the server's text reaches the log (the
    # monitor's stderr, where GitHub reads workflow commands) only escaped.
    handler = loopback.MailHandler(
        refuse_data="554-5.7.1 rejected\r\n554 ::error title=pwned::forged annotation"
    )
    with loopback.smtp_server(handler) as port:
        sink = SmtpSink(smtp_config(port), environ={})
        result = deliver(alert_for(), sink, retries=0, backoff_seconds=0, sleep=Sleeps(), log=log)
    assert not result.ok
    assert "5.7.1 rejected\\n::error title=pwned::forged annotation" in (result.error or "")
    lines = log.getvalue().splitlines()
    assert lines
    assert all(line.startswith("alert: ") for line in lines), lines


def test_smtp_server_that_never_answers_times_out(log: io.StringIO) -> None:
    with loopback.silent_server() as port:
        sink = SmtpSink(smtp_config(port, timeout_seconds=0.3), environ={})
        # It ends (without a timeout smtplib would wait for ever), and the timeout ended it.
        result = _ends(
            lambda: deliver(
                alert_for(), sink, retries=1, backoff_seconds=0, sleep=Sleeps(), log=log
            )
        )
    assert not result.ok
    assert result.attempts == 2
    assert f"SMTP server 127.0.0.1:{port} did not answer within 0.3 s" in (result.error or "")


def test_smtp_connection_refused_is_retried(log: io.StringIO, refused_port: int) -> None:
    sink = SmtpSink(smtp_config(refused_port), environ={})
    result = deliver(alert_for(), sink, retries=1, backoff_seconds=2, sleep=Sleeps(), log=log)
    assert not result.ok
    assert result.attempts == 2
    assert "cannot talk to SMTP server" in (result.error or "")
    assert "refused" in (result.error or "").lower()


def test_smtp_starttls_required_but_not_offered(log: io.StringIO) -> None:
    handler = loopback.MailHandler()
    with loopback.smtp_server(handler) as port:
        sink = SmtpSink(smtp_config(port, security=Security.STARTTLS), environ={})
        result = deliver(alert_for(), sink, retries=3, backoff_seconds=1, sleep=Sleeps(), log=log)
    assert not result.ok
    assert result.attempts == 1
    assert "does not offer STARTTLS" in (result.error or "")
    assert handler.received == []


@pytest.mark.parametrize(
    ("environ", "security", "message"),
    [
        ({"PREFLIGHT_SMTP_USER": "bot"}, Security.STARTTLS, "is set but PREFLIGHT_SMTP_PASSWORD"),
        ({"PREFLIGHT_SMTP_PASSWORD": "pw"}, Security.STARTTLS, "is set but PREFLIGHT_SMTP_USER"),
        (
            {"PREFLIGHT_SMTP_USER": "bot", "PREFLIGHT_SMTP_PASSWORD": "pw"},
            Security.NONE,
            "refusing to send the SMTP password unencrypted",
        ),
    ],
)
def test_smtp_credentials_come_whole_and_never_in_clear(
    environ: dict[str, str], security: Security, message: str, refused_port: int
) -> None:
    sink = SmtpSink(smtp_config(refused_port, security=security), environ=environ)
    with pytest.raises(SinkError) as caught:
        sink.send(alert_for())
    assert message in caught.value.message
    assert not caught.value.retryable
    assert "pw" not in caught.value.message


# --- the webhook against real servers ---------------------------------------------------------


def test_webhook_posts_a_slack_compatible_payload(log: io.StringIO) -> None:
    alert = alert_for(make_report(["lock is world-writable"], ["lock is 95 days old"]))
    with loopback.webhook_server(200) as hook:
        sink = WebhookSink(WebhookConfig(), environ={"PREFLIGHT_WEBHOOK_URL": hook.url})
        result = deliver(alert, sink, retries=3, backoff_seconds=1, sleep=Sleeps(), log=log)
    assert result.ok
    [request] = hook.requests
    assert request.path == "/services/T000/B000/secret-token"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    body = request.json()
    assert body["text"].startswith(alert.subject + "\n\n")
    assert "lock is world-writable" in body["text"]
    data = body["preflight"]
    assert data["kind"] == "problem"
    assert data["severity"] == "critical"
    assert data["status"] == "NOT_READY"
    assert data["python"] == PYTHON
    assert data["fingerprint"] == alert.fingerprint
    assert data["violations"] == [
        {
            "check": "security",
            "severity": "critical",
            "message": "lock is world-writable",
            "remedy": "fix lock is world-writable",
        },
        {
            "check": "performance",
            "severity": "warning",
            "message": "lock is 95 days old",
            "remedy": None,
        },
    ]
    assert "secret-token" not in log.getvalue()


def test_webhook_500_is_retried_then_given_up(log: io.StringIO) -> None:
    sleeps = Sleeps()
    with loopback.webhook_server(500) as hook:
        sink = WebhookSink(WebhookConfig(), environ={"PREFLIGHT_WEBHOOK_URL": hook.url})
        result = deliver(alert_for(), sink, retries=2, backoff_seconds=1, sleep=sleeps, log=log)
    assert not result.ok
    assert len(hook.requests) == 3
    assert sleeps.calls == [1, 2]
    assert "answered HTTP 500" in (result.error or "")
    assert "secret-token" not in log.getvalue()


def test_webhook_404_is_not_retried(log: io.StringIO) -> None:
    with loopback.webhook_server(404) as hook:
        sink = WebhookSink(WebhookConfig(), environ={"PREFLIGHT_WEBHOOK_URL": hook.url})
        result = deliver(alert_for(), sink, retries=3, backoff_seconds=1, sleep=Sleeps(), log=log)
    assert not result.ok
    assert len(hook.requests) == 1


def test_webhook_that_never_answers_times_out(log: io.StringIO) -> None:
    with loopback.silent_server() as port:
        url = f"http://{loopback.HOST}:{port}/hook"
        sink = WebhookSink(
            WebhookConfig(timeout_seconds=0.3), environ={"PREFLIGHT_WEBHOOK_URL": url}
        )
        result = _ends(
            lambda: deliver(
                alert_for(), sink, retries=1, backoff_seconds=0, sleep=Sleeps(), log=log
            )
        )
    assert not result.ok
    assert result.attempts == 2
    assert "did not answer within 0.3 s" in (result.error or "")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "PREFLIGHT_WEBHOOK_URL (or PREFLIGHT_WEBHOOK_URL_FILE) is not set"),
        ({"PREFLIGHT_WEBHOOK_URL": "file:///etc/passwd"}, "must hold an http:// or https:// URL"),
    ],
)
def test_webhook_url_must_be_given_and_http(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SinkError) as caught:
        WebhookSink(WebhookConfig(), environ=environ).send(alert_for())
    assert message in caught.value.message
    assert not caught.value.retryable


@pytest.mark.parametrize("blank", ["\t", " ", "\n", "\x7f"], ids=["tab", "space", "newline", "DEL"])
def test_a_webhook_url_with_a_blank_is_refused_without_saying_it(
    blank: str, log: io.StringIO
) -> None:
    with loopback.webhook_server(200) as hook:
        url = hook.url.replace("/B000/", f"/B000{blank}/")
        sink = WebhookSink(WebhookConfig(), environ={"PREFLIGHT_WEBHOOK_URL": url})
        with pytest.raises(SinkError) as caught:
            sink.send(alert_for())
        result = deliver(alert_for(), sink, retries=3, backoff_seconds=1, sleep=Sleeps(), log=log)
    assert hook.requests == []
    assert "the environment variable PREFLIGHT_WEBHOOK_URL holds a URL" in caught.value.message
    assert not caught.value.retryable
    assert result.attempts == 1
    said = caught.value.message + log.getvalue()  # the log is what a monitor writes to its own
    assert "secret-token" not in said
    assert "/services/" not in said
    assert url not in said


# --- dispatch: decision + sinks + state --------------------------------------------------------


def test_second_identical_dispatch_is_suppressed_then_recovery_is_sent(
    tmp_path: Path, log: io.StringIO
) -> None:
    handler = loopback.MailHandler()
    broken = make_report(["lock is world-writable"])
    with loopback.smtp_server(handler) as port:
        config = AlertConfig(smtp=smtp_config(port))
        first = dispatch(broken, config, project_dir=tmp_path, now=NOW, environ={}, log=log)
        second = dispatch(
            broken,
            config,
            project_dir=tmp_path,
            now=NOW + timedelta(minutes=5),
            environ={},
            log=log,
        )
        recovered = dispatch(
            make_report(),
            config,
            project_dir=tmp_path,
            now=NOW + timedelta(minutes=10),
            environ={},
            log=log,
        )
    assert first.delivered
    assert not second.due
    assert recovered.delivered
    subjects = [m.message["Subject"] for m in handler.received]
    assert subjects == [
        f"[preflight] CRITICAL: 1 critical problem on {socket.gethostname()} - NOT_READY (FAILED)",
        f"[preflight] RECOVERED on {socket.gethostname()} - READY (PASSED)",
    ]
    assert "suppressed" in log.getvalue()
    state = json.loads((tmp_path / ".preflight" / "alert-state.json").read_text())
    assert state["schema_version"] == 1
    assert state["environments"][PYTHON]["alerting"] is False
    assert sorted(p.name for p in (tmp_path / ".preflight").iterdir()) == [
        "alert-state.json",
        "alert-state.json.lock",
    ]


def test_total_outage_records_nothing_and_retries_next_run(
    tmp_path: Path, log: io.StringIO, refused_port: int
) -> None:
    broken = make_report(["lock is world-writable"])
    down = AlertConfig(retries=0, smtp=smtp_config(refused_port))
    result = dispatch(broken, down, project_dir=tmp_path, now=NOW, environ={}, log=log)
    assert result.due
    assert not result.delivered
    _no_delivery_recorded(tmp_path / ".preflight" / "alert-state.json", attempts=1)
    assert "it will be sent again on the next run" in log.getvalue()

    handler = loopback.MailHandler()
    with loopback.smtp_server(handler) as port:
        up = AlertConfig(smtp=smtp_config(port))
        again = dispatch(
            broken, up, project_dir=tmp_path, now=NOW + timedelta(minutes=1), environ={}, log=log
        )
    assert again.delivered
    assert again.decision is not None
    assert again.decision.reason == "new problem"
    assert len(handler.received) == 1


def test_one_sink_down_one_up_is_a_delivery(tmp_path: Path, log: io.StringIO) -> None:
    broken = make_report(["lock is world-writable"])
    with loopback.webhook_server(500) as hook, loopback.smtp_server(loopback.MailHandler()) as port:
        config = AlertConfig(retries=1, smtp=smtp_config(port), webhook=WebhookConfig())
        result = dispatch(
            broken,
            config,
            project_dir=tmp_path,
            now=NOW,
            environ={"PREFLIGHT_WEBHOOK_URL": hook.url},
            delivery=Delivery(sleep=Sleeps()),
            log=log,
        )
    assert [(r.sink, r.ok, r.attempts) for r in result.results] == [
        ("smtp", True, 1),
        ("webhook", False, 2),
    ]
    assert result.delivered
    assert (tmp_path / ".preflight" / "alert-state.json").exists()


class _BrokenSink:
    """A sink with a bug: dispatch must survive it."""

    @property
    def name(self) -> str:
        return "broken"

    def send(self, alert: object) -> None:
        raise RuntimeError("bug in a sink")


def test_dispatch_never_raises(tmp_path: Path, log: io.StringIO) -> None:
    broken = make_report(["lock is world-writable"])
    result = dispatch(
        broken,
        AlertConfig(),
        project_dir=tmp_path,
        now=NOW,
        delivery=Delivery(sinks=[_BrokenSink()]),
        log=log,
    )
    assert [(r.sink, r.ok) for r in result.results] == [("broken", False)]
    assert "unexpected RuntimeError: bug in a sink" in log.getvalue()
    # Not a report at all (what a caller ignoring the types might pass): logged, not raised.
    not_a_report: Any = {"violations": "?"}
    nonsense = dispatch(not_a_report, AlertConfig(), project_dir=tmp_path, log=log)
    assert nonsense.decision is None
    assert nonsense.error is not None
    assert "could not dispatch" in log.getvalue()


def test_damaged_state_file_is_ignored_and_replaced(tmp_path: Path, log: io.StringIO) -> None:
    state = tmp_path / ".preflight" / "alert-state.json"
    state.parent.mkdir()
    state.write_text("{not json", encoding="utf-8")
    handler = loopback.MailHandler()
    with loopback.smtp_server(handler) as port:
        config = AlertConfig(smtp=smtp_config(port))
        result = dispatch(
            make_report(["x"]), config, project_dir=tmp_path, now=NOW, environ={}, log=log
        )
    assert result.delivered
    assert "ignoring the unreadable state file" in log.getvalue()
    assert json.loads(state.read_text())["environments"][PYTHON]["alerting"] is True


def test_each_environment_keeps_its_own_state(tmp_path: Path, log: io.StringIO) -> None:
    handler = loopback.MailHandler()
    with loopback.smtp_server(handler) as port:
        config = AlertConfig(smtp=smtp_config(port))
        for python in ("/a/bin/python", "/b/bin/python", "/a/bin/python"):
            report = make_report(["same problem"], python=python)
            dispatch(report, config, project_dir=tmp_path, now=NOW, environ={}, log=log)
    assert len(handler.received) == 2  # /a once, /b once, /a again suppressed


@dataclass(frozen=True)
class _Meeting:
    """A real sink that sends only once every dispatch is sending, so all have read the state."""

    sink: SmtpSink
    barrier: threading.Barrier

    @property
    def name(self) -> str:
        return self.sink.name

    def send(self, alert: Alert) -> None:
        self.barrier.wait(timeout=30)
        self.sink.send(alert)


def test_monitors_sharing_the_state_file_keep_each_others_entries(
    tmp_path: Path, log: io.StringIO
) -> None:
    """Both read the state before either saves it: the later save must not drop the other's."""
    pythons = ("/a/bin/python", "/b/bin/python")
    handler = loopback.MailHandler()
    with loopback.smtp_server(handler) as port, ThreadPoolExecutor(len(pythons)) as pool:
        smtp = smtp_config(port)
        config = AlertConfig(smtp=smtp)
        sink = _Meeting(SmtpSink(smtp, environ={}), threading.Barrier(len(pythons)))

        def monitor(python: str) -> DispatchResult:
            report = make_report(["same problem"], python=python)
            return dispatch(
                report, config, project_dir=tmp_path, now=NOW, delivery=Delivery([sink]), log=log
            )

        results = list(pool.map(monitor, pythons))
    assert [r.delivered for r in results] == [True, True], log.getvalue()
    assert len(handler.received) == 2
    state = json.loads((tmp_path / ".preflight" / "alert-state.json").read_text())
    assert sorted(state["environments"]) == list(pythons)


# --- ``preflight alert`` ----------------------------------------------------------------------


def _alert_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_preflight("alert", *args, cwd=cwd, timeout=60)


def _project_with_alerts(folder: Path, alerts: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(
        '[tool.preflight]\npythons = ["3.12"]\nrequires = []\n\n' + alerts, encoding="utf-8"
    )
    return folder


@pytest.fixture
def report_file(tmp_path: Path) -> Callable[[Report], Path]:
    def write(report: Report) -> Path:
        path = tmp_path / "reports" / "runtime_verification_results.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(dumps(report), encoding="utf-8")  # as ``preflight check`` writes it
        return path

    return write


def test_alert_command_sends_dedups_and_forces(
    tmp_path: Path, report_file: Callable[[Report], Path]
) -> None:
    handler = loopback.MailHandler()
    report = report_file(make_report(["lock is world-writable"]))
    with loopback.smtp_server(handler) as port:
        project = _project_with_alerts(
            tmp_path / "project",
            "[tool.preflight.alerts.smtp]\n"
            f'host = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
            'from = "preflight@example.com"\nto = ["ops@example.com"]\n',
        )
        sent = _alert_cli("--report", report, "--project", project, cwd=tmp_path)
        again = _alert_cli("--report", report, "--project", project, cwd=tmp_path)
        forced = _alert_cli("--report", report, "--project", project, "--force", cwd=tmp_path)
    for done in (sent, again, forced):
        assert done.returncode == 0, done.stderr
        assert done.stdout == ""
        assert "Traceback" not in done.stderr
    assert "alert: smtp: sent" in sent.stderr
    assert "alert: suppressed" in again.stderr
    assert "forced (--force)" in forced.stderr
    assert len(handler.received) == 2
    assert (project / ".preflight" / "alert-state.json").exists()


def test_alert_command_exits_1_when_no_sink_delivers(
    tmp_path: Path, report_file: Callable[[Report], Path]
) -> None:
    handler = loopback.MailHandler(refuse_data="554 5.7.1 no")
    report = report_file(make_report(["lock is world-writable"]))
    with loopback.smtp_server(handler) as port:
        project = _project_with_alerts(
            tmp_path / "project",
            "[tool.preflight.alerts.smtp]\n"
            f'host = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
            'from = "preflight@example.com"\nto = ["ops@example.com"]\n',
        )
        done = _alert_cli("--report", report, "--project", project, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "answered 554 5.7.1 no" in done.stderr
    _no_delivery_recorded(project / ".preflight" / "alert-state.json", attempts=1)


WEBHOOK_ONLY = "[tool.preflight.alerts.webhook]\n"


def _edited(change: Callable[[dict[str, Any]], object]) -> str:
    """The JSON of a real report after ``change`` edited it."""
    data = make_report(["lock is world-writable"]).to_dict()
    change(data)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such file"),
        ("folder", "is a folder, not a report"),
        ("not-json", "is not valid JSON"),
        ("nested", "is not JSON that a report holds: line 1, column 65: is nested deeper than"),
        ("not-a-report", "schema_version: is missing: is it a JSON report of `preflight check`?"),
        ("bad-check", "checks.security.status: must be one of 'pass', 'skip', 'warn', 'fail'"),
        ("bad-finding", "checks.security.findings[0].severity: must be one of"),
        ("edited-verdict", "status: does not agree with the checks (they give 'NOT_READY')"),
    ],
)
def test_alert_command_with_a_bad_report_is_a_usage_error(
    tmp_path: Path, case: str, message: str
) -> None:
    project = _project_with_alerts(tmp_path / "project", WEBHOOK_ONLY)
    report = tmp_path / "report.json"
    if case == "folder":
        report.mkdir()
    elif case == "not-json":
        report.write_text("{", encoding="utf-8")
    elif case == "nested":
        report.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    elif case == "not-a-report":
        report.write_text('{"status": "READY"}', encoding="utf-8")
    elif case == "bad-check":
        report.write_text(
            _edited(lambda d: d["checks"]["security"].update(status="broken")), encoding="utf-8"
        )
    elif case == "bad-finding":
        report.write_text(
            _edited(lambda d: d["checks"]["security"]["findings"][0].update(severity="high")),
            encoding="utf-8",
        )
    elif case == "edited-verdict":
        report.write_text(_edited(lambda d: d.update(status="READY")), encoding="utf-8")
    done = _alert_cli("--report", report, "--project", project, cwd=tmp_path)
    assert done.returncode == 3
    assert done.stderr.startswith(f"error: --report {report}: {message}"), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ("", "no alert sink is configured"),
        (
            '[tool.preflight.alerts.webhook]\nurl = "https://hooks.slack.com/x"\n',
            "key 'alerts.webhook.url': secrets do not belong in pyproject.toml",
        ),
        ("[tool.preflight.alerts]\nretries = -1\n", "key 'alerts.retries'"),
    ],
)
def test_alert_command_with_bad_configuration_is_a_usage_error(
    tmp_path: Path, report_file: Callable[[Report], Path], alerts: str, message: str
) -> None:
    project = _project_with_alerts(tmp_path / "project", alerts)
    report = report_file(make_report(["x"]))
    done = _alert_cli("--report", report, "--project", project, cwd=tmp_path)
    assert done.returncode == 3
    assert done.stderr.startswith("error: "), done.stderr
    assert message in done.stderr
    assert "hooks.slack.com" not in done.stderr


# --- hostile servers: one call bounded as a whole, a redirect refused, the attempts counted ------


def _ends(call: Callable[[], Any], seconds: float = 120) -> Any:
    """What ``call`` returns, asserting that it returns at all: these servers never stop
    talking, so without the bound under test the call would wait for ever. ``seconds`` only
    turns such a hang into a failure; how long a call that ends took is never asserted."""
    outcome: list[Any] = []
    worker = threading.Thread(target=lambda: outcome.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert outcome, f"the call did not end within {seconds:g} s"
    return outcome[0]


class FakeClock:
    """``clock`` and ``sleep`` for ``deliver``: time passes only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _webhook_sink(port: int, timeout: float) -> WebhookSink:
    url = f"http://{loopback.HOST}:{port}/services/T000/B000/secret-token"
    return WebhookSink(
        WebhookConfig(timeout_seconds=timeout), environ={"PREFLIGHT_WEBHOOK_URL": url}
    )


def test_a_webhook_trickling_its_answer_is_cut_at_the_timeout(log: io.StringIO) -> None:
    """Every read gets a byte within 0.1 s: only a deadline for the whole call ends it."""
    timeout = 1.0
    with loopback.tcp_server(loopback.trickling_http) as server:
        sink = _webhook_sink(server.port, timeout)
        result = _ends(
            lambda: deliver(
                alert_for(), sink, retries=0, backoff_seconds=0, sleep=Sleeps(), log=log
            )
        )
        # The server counts what it read; on a loaded machine it may take it after the client
        # gave up: waited for, not assumed.
        assert _requests_seen(server, 1) == 1
    assert not result.ok
    assert "did not answer within 1 s after the request was sent: it may have arrived" in (
        result.error or ""
    )
    assert "secret-token" not in log.getvalue()


def test_an_smtp_greeting_that_never_ends_is_cut_at_the_timeout(log: io.StringIO) -> None:
    timeout = 1.0
    with loopback.tcp_server(loopback.endless_greeting) as server:
        sink = SmtpSink(smtp_config(server.port, timeout_seconds=timeout), environ={})
        result = _ends(
            lambda: deliver(
                alert_for(), sink, retries=1, backoff_seconds=0, sleep=Sleeps(), log=log
            )
        )
        assert _connections_seen(server, 2) == 2
    assert not result.ok
    assert result.attempts == 2
    assert f"SMTP server 127.0.0.1:{server.port} did not answer within 1 s" in (result.error or "")


def test_an_smtp_greeting_flood_is_cut_at_a_megabyte(log: io.StringIO) -> None:
    with loopback.tcp_server(loopback.flooding_greeting) as server:
        sink = SmtpSink(smtp_config(server.port, timeout_seconds=30), environ={})
        result = _ends(
            lambda: deliver(
                alert_for(), sink, retries=3, backoff_seconds=0, sleep=Sleeps(), log=log
            )
        )
    assert not result.ok
    assert result.attempts == 1  # not retried: a server that floods will flood again
    assert "sent more than 1048576 bytes of answers" in (result.error or "")


def test_a_webhook_redirect_is_a_failure_never_followed_nor_recorded(
    tmp_path: Path, log: io.StringIO
) -> None:
    broken = make_report(["lock is world-writable"])
    with loopback.webhook_server(302) as hook:
        config = AlertConfig(retries=3, webhook=WebhookConfig(timeout_seconds=5))
        result = dispatch(
            broken,
            config,
            project_dir=tmp_path,
            now=NOW,
            environ={"PREFLIGHT_WEBHOOK_URL": hook.url},
            delivery=Delivery(sleep=Sleeps()),
            log=log,
        )
    assert [(r.method_path, len(r.body) > 0) for r in _seen(hook)] == [("POST", True)]
    assert result.due
    assert not result.delivered
    [sink] = result.results
    assert (sink.ok, sink.attempts) == (False, 1)  # a redirect will redirect again
    assert "answered HTTP 302 Found, a redirect, which is not followed" in (sink.error or "")
    assert "sent" not in log.getvalue().replace("sent again", "")
    _no_delivery_recorded(tmp_path / ".preflight" / "alert-state.json", attempts=1)
    assert "secret-token" not in log.getvalue()


@dataclass(frozen=True)
class _Seen:
    method_path: str
    body: bytes


def _seen(hook: loopback.Webhook) -> list[_Seen]:
    """What the server received: a redirect followed would add a GET of ``.../moved``."""
    return [_Seen("GET" if r.path.endswith("/moved") else "POST", r.body) for r in hook.requests]


def test_an_unanswered_post_counts_towards_the_retries(log: io.StringIO) -> None:
    timeout = 1.0  # a loaded machine still sends the whole POST in it: the server counts each
    with loopback.tcp_server(loopback.never_answering_http) as server:
        sink = _webhook_sink(server.port, timeout)
        result = _ends(
            lambda: deliver(
                alert_for(), sink, retries=2, backoff_seconds=0, sleep=Sleeps(), log=log
            )
        )
        assert _requests_seen(server, 3) == 3  # every POST arrived in full; each counted
    assert not result.ok
    assert result.attempts == 3
    assert "it may have arrived" in (result.error or "")


class _SlowSink:
    """A real sink whose every attempt takes ``seconds`` on a fake clock (a POST that times
    out takes its timeout): the budget must count the attempts, not only the waits."""

    def __init__(self, sink: WebhookSink, clock: FakeClock, seconds: float) -> None:
        self.sink, self.clock, self.seconds = sink, clock, seconds
        self.name = sink.name

    def send(self, alert: Alert) -> None:
        try:
            self.sink.send(alert)
        finally:
            self.clock.now += self.seconds


def test_the_attempts_of_one_sink_are_bounded_in_time(log: io.StringIO) -> None:
    """retries = 10 and a server that takes every body and never answers: the time allowed per
    sink ends the retries, so the server gets a handful of POSTs, not eleven or sixteen.

    On a fake clock each attempt takes 0.3 s: 0.3 + wait 0.1, 0.7 + wait 0.2, then 1.2 s are
    spent and a wait of 0.4 would end after the 1 s budget: three attempts. (The real timeout,
    1 s, is long enough for a loaded machine to send the whole POST, so the server sees each.)"""
    budget = 1.0
    clock = FakeClock()
    with loopback.tcp_server(loopback.never_answering_http) as server:
        sink = _SlowSink(_webhook_sink(server.port, 1.0), clock, 0.3)
        result = _ends(
            lambda: deliver(
                alert_for(),
                sink,
                retries=10,
                backoff_seconds=0.1,
                sleep=clock.sleep,
                log=log,
                budget_seconds=budget,
                clock=clock,
            )
        )
        assert _requests_seen(server, result.attempts) == result.attempts
    assert not result.ok
    assert result.attempts == 3
    assert clock.sleeps == [0.1, 0.2]
    assert f"not retried: {budget:g} s of trying are spent" in log.getvalue()


def _connections_seen(server: loopback.Tcp, expected: int, seconds: float = 60) -> int:
    """The server's count of connections once it has taken ``expected`` (or given up)."""
    deadline = time.monotonic() + seconds
    while server.connections < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.connections


def _requests_seen(server: loopback.Tcp, expected: int, seconds: float = 60) -> int:
    """The server's count once it has read what was sent: on a loaded machine its threads
    may still be reading a body the client gave up waiting on. That no more were sent than
    the client made is the client's own count (``attempts``), asserted by the caller."""
    deadline = time.monotonic() + seconds
    while server.requests < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.requests


def test_the_attempts_at_one_alert_are_bounded_over_runs(tmp_path: Path, log: io.StringIO) -> None:
    """A webhook that takes every body and fails it may act on each one (one that never
    answers counts the same: test_an_unanswered_post_counts_towards_the_retries): a monitor that
    tries again on every run would repeat the alert without end. max_attempts = 5 with
    retries = 3: the first run makes 4 attempts, the second 1, the third none; after the
    cooldown the alert is tried afresh, and a change of problems is tried at once.

    The server answers 503 (retryable) once it has read each body, so its count is exact when
    the client has its answer: nothing here waits on a timeout or on the machine's speed."""
    report = make_report(["x"])
    with loopback.webhook_server(503) as server:
        url = server.url
        config = AlertConfig(
            cooldown_minutes=60,
            retries=3,
            backoff_seconds=0,
            max_attempts=5,
            webhook=WebhookConfig(timeout_seconds=30),
        )

        def run(at: datetime, which: Report = report) -> DispatchResult:
            return dispatch(
                which,
                config,
                project_dir=tmp_path,
                now=at,
                environ={"PREFLIGHT_WEBHOOK_URL": url},
                delivery=Delivery(sleep=Sleeps()),
                log=log,
            )

        first = run(NOW)
        assert [r.attempts for r in first.results] == [4]
        assert "1 attempt left of max_attempts = 5" in log.getvalue()
        second = run(NOW + timedelta(minutes=5))
        assert [r.attempts for r in second.results] == [1]
        assert "not tried again until the cooldown" in log.getvalue()
        third = run(NOW + timedelta(minutes=10))
        assert not third.due
        assert third.decision is not None
        assert third.decision.reason.startswith("not tried again: 5 attempts since ")
        assert len(server.requests) == 5
        # The window began with the first attempt, at NOW: an hour later it starts afresh.
        later = run(NOW + timedelta(minutes=61))
        assert later.due
        assert [r.attempts for r in later.results] == [4]
        assert len(server.requests) == 9
        changed = run(NOW + timedelta(minutes=62), make_report(["y"]))
        assert [r.attempts for r in changed.results] == [4]  # other problems: at once, afresh
        assert len(server.requests) == 13
    saved = json.loads(config.state_path(tmp_path).read_text())["environments"][PYTHON]
    assert saved["attempts"] == 4
    assert saved["alerting"] is False  # nothing was ever delivered


def test_max_attempts_is_checked_as_a_count(tmp_path: Path) -> None:
    for value in ("0", "1001", "2.5", '"3"'):
        (tmp_path / "pyproject.toml").write_text(
            '[tool.preflight]\npythons = ["3.12"]\n'
            f"[tool.preflight.alerts]\nmax_attempts = {value}\n",
            encoding="utf-8",
        )
        with pytest.raises(ConfigError, match="max_attempts"):
            load_policy(tmp_path)


# --- a damaged state file: reported once, replaced, never a reason to stop alerting -------------


_GOOD_ENTRY = {"alerting": True, "fingerprint": "f", "last_sent": "2024-12-02T09:00:00+00:00"}


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        (
            {**_GOOD_ENTRY, "last_sent": "2024-12-02T09:00:00"},
            "key 'last_sent': must be a date and time with a time zone",
        ),
        ({**_GOOD_ENTRY, "last_sent": "9999-12-31T00:00:00+00:00"}, "in the future"),
        ({**_GOOD_ENTRY, "last_sent": "9999-12-31T23:59:59-23:59"}, "out of range"),
        ({**_GOOD_ENTRY, "last_sent": "0001-01-01T00:00:00+05:00"}, "out of range"),
        (
            {**_GOOD_ENTRY, "last_sent": "yesterday"},
            "key 'last_sent': must be a date and time, not 'yesterday'",
        ),
        (
            {**_GOOD_ENTRY, "last_sent": 1733130000},
            "key 'last_sent': must be a date and time, not 1733130000",
        ),
        ({**_GOOD_ENTRY, "alerting": "yes"}, "key 'alerting': must be true or false, not 'yes'"),
        ({**_GOOD_ENTRY, "fingerprint": ["f"]}, "key 'fingerprint': must be a string, not ['f']"),
        ([1, 2], "it is not an object"),
    ],
    ids=[
        "naive",
        "year-9999",
        "utc-overflow",
        "utc-underflow",
        "not-a-date",
        "a-number",
        "alerting-str",
        "fingerprint-list",
        "entry-list",
    ],
)
def test_a_damaged_state_entry_is_reported_once_and_replaced(
    tmp_path: Path, log: io.StringIO, entry: object, said: str
) -> None:
    state = tmp_path / ".preflight" / "alert-state.json"
    state.parent.mkdir()
    other = {"alerting": False, "fingerprint": None, "last_sent": None, "subject": "kept"}
    state.write_text(
        json.dumps({"schema_version": 1, "environments": {PYTHON: entry, "/other": other}}),
        encoding="utf-8",
    )
    handler = loopback.MailHandler()
    with loopback.smtp_server(handler) as port:
        config = AlertConfig(cooldown_minutes=366 * 24 * 60, smtp=smtp_config(port))
        report = make_report(["x"])
        first = dispatch(report, config, project_dir=tmp_path, now=NOW, environ={}, log=log)
        second = dispatch(report, config, project_dir=tmp_path, now=NOW, environ={}, log=log)
    assert first.error is None, log.getvalue()
    assert first.delivered
    assert first.decision is not None
    assert first.decision.reason == "new problem"
    assert not second.due  # the replaced entry is read back: the same problem is suppressed
    said_lines = [line for line in log.getvalue().splitlines() if "ignoring" in line]
    assert len(said_lines) == 1, log.getvalue()
    assert f"ignoring the entry {PYTHON!r} of the state file {state}" in said_lines[0]
    assert said in said_lines[0]
    assert len(handler.received) == 1
    saved = json.loads(state.read_text())["environments"]
    assert saved[PYTHON]["alerting"] is True
    assert saved[PYTHON]["last_sent"] == NOW.isoformat()
    assert saved["/other"]["subject"] == "kept"  # the good entry beside it stays


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000, '{"environments": {"a": {"alerting": ' + "9" * 5000 + "}}}", "[]", "7"],
    ids=["nested", "5000-digits", "a-list", "a-number"],
)
def test_a_damaged_state_file_never_stops_alerting(
    tmp_path: Path, log: io.StringIO, text: str
) -> None:
    state = tmp_path / ".preflight" / "alert-state.json"
    state.parent.mkdir()
    state.write_text(text, encoding="utf-8")
    handler = loopback.MailHandler()
    with loopback.smtp_server(handler) as port:
        config = AlertConfig(smtp=smtp_config(port))
        result = dispatch(
            make_report(["x"]), config, project_dir=tmp_path, now=NOW, environ={}, log=log
        )
    assert result.error is None, log.getvalue()
    assert result.delivered
    assert log.getvalue().count("ignoring") == 1
    assert json.loads(state.read_text())["environments"][PYTHON]["alerting"] is True


# --- numbers of the configuration: finite and in range ------------------------------------------


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"cooldown_minutes": float("inf")}, "alerts.cooldown_minutes"),
        ({"cooldown_minutes": float("nan")}, "alerts.cooldown_minutes"),
        ({"cooldown_minutes": 10**400}, "alerts.cooldown_minutes"),
        ({"cooldown_minutes": 10**7}, "alerts.cooldown_minutes"),
        ({"backoff_seconds": float("nan")}, "alerts.backoff_seconds"),
        ({"backoff_seconds": float("inf")}, "alerts.backoff_seconds"),
        ({"backoff_seconds": -0.5}, "alerts.backoff_seconds"),
        ({"retries": 11}, "alerts.retries"),
        ({"retries": 10**400}, "alerts.retries"),
        ({"warning_threshold": -(10**400)}, "alerts.warning_threshold"),
        *(
            ({section: {**base, "timeout_seconds": bad}}, f"alerts.{section}.timeout_seconds")
            for section, base in (("smtp", SMTP), ("webhook", {}))
            for bad in (float("inf"), float("nan"), 0, -1, 10**400, 1e6)
        ),
    ],
)
def test_a_config_number_must_be_finite_and_in_range(table: Any, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_alerts(PYPROJECT, table)
    assert caught.value.key == key
    assert "9" * 50 not in str(caught.value)  # a huge number is named by its size
    assert "0" * 50 not in str(caught.value)


def test_a_config_number_at_its_bounds_is_taken() -> None:
    config = parse_alerts(
        PYPROJECT,
        {
            "cooldown_minutes": 366 * 24 * 60,
            "backoff_seconds": 60,
            "retries": 10,
            "webhook": {"timeout_seconds": 300},
        },
    )
    assert (config.cooldown_minutes, config.backoff_seconds, config.retries) == (527040, 60, 10)
    assert config.webhook == WebhookConfig(timeout_seconds=300)


@pytest.mark.parametrize(
    ("alerts", "key"),
    [
        ("[tool.preflight.alerts]\ncooldown_minutes = inf\n", "alerts.cooldown_minutes"),
        ("[tool.preflight.alerts]\nbackoff_seconds = nan\n", "alerts.backoff_seconds"),
        ("[tool.preflight.alerts]\nretries = 1" + "0" * 400 + "\n", "alerts.retries"),
        (WEBHOOK_ONLY + "timeout_seconds = 1e400\n", "alerts.webhook.timeout_seconds"),
    ],
    ids=["inf", "nan", "400-digits", "1e400"],
)
def test_alert_command_with_a_number_out_of_range_exits_3(
    tmp_path: Path, report_file: Callable[[Report], Path], alerts: str, key: str
) -> None:
    text = alerts if alerts.startswith(WEBHOOK_ONLY) else WEBHOOK_ONLY + alerts
    project = _project_with_alerts(tmp_path / "project", text)
    report = report_file(make_report(["x"]))
    done = _alert_cli("--report", report, "--project", project, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert f"key {key!r}" in done.stderr
    assert "Traceback" not in done.stderr
    assert "0" * 50 not in done.stderr


# --- a name server that never answers: the lookup is bounded too ------------------------------


def _resolver_that_never_answers() -> socket.socket | None:
    """A UDP socket on 127.0.0.53:53 that takes queries and answers none (None: cannot)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return None
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        udp.bind(("127.0.0.53", 53))
    except OSError:
        udp.close()
        return None
    return udp


def test_a_name_lookup_that_never_ends_is_cut_at_the_timeout(tmp_path: Path) -> None:
    """The real resolver of the C library, pointed (in a mount namespace of its own, so the
    machine's /etc/resolv.conf is untouched) at a name server that never answers: it waits
    30 s. A webhook or SMTP call with a 1 s timeout must give up after about 1 s."""
    udp = _resolver_that_never_answers()
    if udp is None:
        pytest.skip("needs root, unshare(1) and 127.0.0.53:53 free for a silent name server")
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.53\noptions timeout:30 attempts:1\n", encoding="utf-8")
    script = (
        "import time\n"
        "from preflight._alerts.bounded import Budget, connect\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    connect(('hooks.example.test', 443), Budget(1.0))\n"
        "except OSError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
        "print(round(time.monotonic() - started, 1))\n"
    )
    try:
        done = subprocess.run(
            ["unshare", "--mount", "sh", "-c",
             'mount --bind "$1" /etc/resolv.conf && exec "$2" -c "$3"',
             "sh", str(conf), sys.executable, script],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
    finally:
        udp.close()
    if "mount" in done.stderr and done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    said, seconds = done.stdout.strip().splitlines()
    assert said == "TimeoutError looking up hooks.example.test did not finish within 1 s"
    # Not a speed threshold: the resolver alone waits 30 s; cut, the lookup ends far sooner.
    assert float(seconds) < 20
