"""Credentials from files (``NAME_FILE``), so that no process's environment holds them.

A child of preflight cannot read preflight's own environment or memory (``_secrets``,
the reaper's seal), but the shell that started preflight with ``PREFLIGHT_SMTP_PASSWORD=...``
exported holds the value in *its* ``/proc/<pid>/environ``, readable by any process of the same
user (and by root). ``PREFLIGHT_SMTP_PASSWORD_FILE=/run/secrets/smtp`` keeps it out of every
environment, as Docker's and Kubernetes' secret files do.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import factories
import loopback
import pytest

from preflight._alerts.model import AlertState, decide
from preflight._alerts.sinks import SECRET_FILE_LIMIT, SinkError, WebhookSink, secret
from preflight._checks.result import Finding, Severity
from preflight._policy.alerts import AlertConfig, WebhookConfig

NOW = datetime(2024, 12, 2, 10, 0, tzinfo=UTC)


def test_the_variable_wins_and_a_file_is_read_when_it_is_unset(tmp_path: Path) -> None:
    held = tmp_path / "smtp"
    held.write_bytes(b"s3cret from a file\r\n")
    name = "PREFLIGHT_SMTP_PASSWORD"
    assert secret({name: "from env", f"{name}_FILE": str(held)}, name) == "from env"
    assert secret({f"{name}_FILE": str(held)}, name) == "s3cret from a file"
    assert secret({}, name) == ""


@pytest.mark.parametrize("kind", ["missing", "fifo", "huge", "binary"])
def test_a_secret_file_that_cannot_be_read_is_a_clear_refusal(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "secret"
    if kind == "fifo":
        os.mkfifo(path)  # never waited on: read_bytes refuses what is not a regular file
    elif kind == "huge":
        with path.open("wb") as handle:
            handle.truncate(SECRET_FILE_LIMIT + 1)
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe")
    with pytest.raises(SinkError) as caught:
        secret({"HOOK_FILE": str(path)}, "HOOK")
    assert caught.value.message.startswith("HOOK_FILE: ")
    assert str(path) in caught.value.message
    assert not caught.value.retryable


def test_a_webhook_url_from_a_file_is_posted_to(tmp_path: Path) -> None:
    report = factories.report(
        factories.check("security", Finding(Severity.CRITICAL, "lock is world-writable", "fix")),
        timestamp="2024-12-02T10:00:00Z",
    )
    alert = decide(report, AlertState(), NOW, AlertConfig()).alert
    assert alert is not None
    held = tmp_path / "webhook"
    with loopback.webhook_server(200) as hook:
        held.write_text(hook.url + "\n", encoding="utf-8")  # as `echo URL > FILE` writes it
        WebhookSink(WebhookConfig(), environ={"PREFLIGHT_WEBHOOK_URL_FILE": str(held)}).send(alert)
    [request] = hook.requests
    assert request.json()["preflight"]["fingerprint"] == alert.fingerprint


def test_the_file_variables_are_withheld_from_children_as_the_secrets_are() -> None:
    policy = factories.policy(
        alerts={
            "smtp": {"host": "h", "from": "a@b.c", "to": ["d@e.f"], "password_env": "PW"},
            "webhook": {"url_env": "HOOK"},
        }
    )
    withheld = set(policy.secret_variables())
    assert {"PW", "PW_FILE", "HOOK", "HOOK_FILE", "PREFLIGHT_SMTP_USER_FILE"} <= withheld
