"""The health monitor: outcomes and log rotation as functions, the loop in-process, the CLI live.

In-process tests drive :class:`Monitor` with hand-built reports (the facts it judges) and stop
it with a real SIGTERM raised from inside a run. The CLI tests run ``python -m preflight
monitor`` as a subprocess and signal it between runs and in the middle of one, where the
"interpreter" is a shell script that sleeps in a grandchild: only killing the check's whole
process group ends it.
"""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import loopback
import pytest
from conftest import cli_env, run_preflight
from processes import ends, not_ignored

from preflight._errors import UsageError
from preflight._ops.monitor import (
    Health,
    Monitor,
    RunOutcome,
    failed_run,
    outcome_of,
    prune_logs,
)
from preflight._policy.alerts import AlertConfig, Security, SmtpConfig
from preflight._report.interpreter import Interpreter
from preflight._report.model import (
    CheckResult,
    Finding,
    Overall,
    Report,
    Severity,
    Status,
    Verdict,
)

PYTHON = "/srv/app/.venv/bin/python"
NOW = datetime(2024, 12, 20, 10, 0).astimezone()
LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d - \S.*\n")


# --- hand-built reports -----------------------------------------------------------------------


def _result(check_id: str, status: Status, message: str = "") -> CheckResult:
    findings: tuple[Finding, ...] = ()
    if status is Status.FAIL:
        findings = (Finding(Severity.CRITICAL, message or f"{check_id} is broken", "fix it"),)
    elif status is Status.WARN:
        findings = (Finding(Severity.WARNING, message or f"{check_id} is odd", None),)
    return CheckResult(check_id, check_id, status, message or "ok", findings)


def make_report(**statuses: Status) -> Report:
    checks = {"python_version": Status.PASS, "lock_sync": Status.PASS, **statuses}
    return Report(
        timestamp="2024-12-20T09:00:00Z",
        interpreter=Interpreter.of(path=PYTHON, version="3.12.1"),
        python_status="primary",
        checks=tuple(_result(cid, status) for cid, status in checks.items()),
        duration_s=0.5,
        project="/srv/app",
        lock="/srv/app/requirements/py3.12.txt",
        tool_version="0.1.0",
    )


GOOD = make_report()
DEGRADED = make_report(performance=Status.WARN)
DOWN = make_report(security=Status.FAIL, performance=Status.WARN)


def test_outcomes() -> None:
    good, degraded, down = outcome_of(GOOD), outcome_of(DEGRADED), outcome_of(DOWN)
    assert (good.health, good.exit_code) == (Health.GOOD, 0)
    assert good.line() == "health GOOD - READY (PASSED)"
    assert (degraded.health, degraded.exit_code) == (Health.DEGRADED, 2)
    assert degraded.line() == "health DEGRADED - READY (WARNING) - warn: performance"
    assert (down.health, down.exit_code) == (Health.DOWN, 1)
    assert down.line() == "health DOWN - NOT_READY (FAILED) - fail: security; warn: performance"
    assert down.report is DOWN  # the typed report, for alerts
    assert down.report.violations()[0][0] == "security"


def test_a_run_that_could_not_run_is_a_typed_report_too(tmp_path: Path) -> None:
    outcome = failed_run(
        "--python /nope: no such file",
        python=PYTHON,
        project=tmp_path,
        exit_code=3,
        hint="pass the path of an interpreter",
    )
    assert (outcome.health, outcome.exit_code) == (Health.DOWN, 3)
    report = outcome.report
    assert (report.status, report.overall_status) == (Verdict.NOT_READY, Overall.FAILED)
    assert report.python_status == "unknown"
    assert report.interpreter.to_dict() == {"path": PYTHON}
    assert report.project == str(tmp_path)
    [(check, finding)] = report.violations()
    assert check == "monitor"
    assert finding == Finding(
        Severity.CRITICAL,
        "the check could not run: --python /nope: no such file",
        "pass the path of an interpreter",
    )
    assert Report.from_dict(report.to_dict()) == report  # a report like any other


# --- bounded history --------------------------------------------------------------------------


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("old\n", encoding="utf-8")


def test_prune_logs_keeps_recent_and_foreign_files(tmp_path: Path) -> None:
    logs, reports = tmp_path / "logs", tmp_path / "reports"
    today = date(2024, 12, 20)
    _touch(
        logs,
        "runtime_health_20241120.log",  # 30 days old
        "runtime_health_20241205.log",  # 15 days old
        "runtime_health_20241206.log",  # 14 days old: kept
        "runtime_health_20241220.log",  # today
        "runtime_health_20241399.log",  # no such date: not ours to judge
        "runtime_health_20241120.log.bak",  # not our name
        "notes.txt",
    )
    _touch(reports, "preflight_check_20241101_120000.log", "preflight_check_20241219_235959.log")
    removed = prune_logs([logs, reports, logs], today, 14)
    assert sorted(p.name for p in removed) == [
        "preflight_check_20241101_120000.log",
        "runtime_health_20241120.log",
        "runtime_health_20241205.log",
    ]
    assert sorted(p.name for p in logs.iterdir()) == [
        "notes.txt",
        "runtime_health_20241120.log.bak",
        "runtime_health_20241206.log",
        "runtime_health_20241220.log",
        "runtime_health_20241399.log",
    ]
    assert [p.name for p in reports.iterdir()] == ["preflight_check_20241219_235959.log"]
    assert prune_logs([tmp_path / "missing"], today, 14) == []


# --- the loop, in-process ---------------------------------------------------------------------


def _checks(*steps: Report | BaseException) -> Callable[[], Report]:
    """A check that returns (or raises) each step in turn, then stops the monitor with SIGTERM."""
    queue = list(steps)

    def check() -> Report:
        if not queue:
            signal.raise_signal(signal.SIGTERM)
            raise AssertionError("SIGTERM did not stop the monitor")
        step = queue.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    return check


def _monitor(tmp_path: Path, check: Callable[[], Report], **kwargs: object) -> Monitor:
    settings: dict[str, object] = {
        "check": check,
        "alerts": lambda: None,
        "log_dir": tmp_path / "logs",
        "project_dir": tmp_path,
        "python": PYTHON,
        "interval": 0.01,
        "stderr": io.StringIO(),
        "clock": lambda: NOW,
    }
    settings.update(kwargs)
    return Monitor(**settings)  # type: ignore[arg-type]


def _log_lines(folder: Path) -> list[str]:
    [path] = folder.glob("runtime_health_*.log")
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    for line in lines:
        assert LINE.fullmatch(line), f"not a whole log line: {line!r}"
    return [line.split(" - ", 1)[1].rstrip("\n") for line in lines]


def test_once_logs_one_line_and_exits_with_the_checks_code(tmp_path: Path) -> None:
    for report, code in ((GOOD, 0), (DEGRADED, 2), (DOWN, 1)):
        folder = tmp_path / f"logs{code}"
        monitor = _monitor(tmp_path, _checks(report), once=True, log_dir=folder)
        assert monitor.run() == code
        assert _log_lines(folder) == [outcome_of(report).line()]
        assert (folder / "runtime_health_20241220.log").exists()


def test_state_changes_are_logged_and_a_failed_run_does_not_stop_the_loop(
    tmp_path: Path,
) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    monitor = _monitor(tmp_path, _checks(DEGRADED, GOOD, RuntimeError("probe crashed"), GOOD, GOOD))
    assert monitor.run() == 0
    assert _log_lines(tmp_path / "logs") == [
        f"monitoring started (every 0.01 s; python {PYTHON}; project {tmp_path})",
        "health DEGRADED - READY (WARNING) - warn: performance",
        "health GOOD - READY (PASSED)",
        "state changed DEGRADED -> GOOD",
        "health DOWN - the check could not run - RuntimeError: probe crashed",
        "state changed GOOD -> DOWN",
        "health GOOD - READY (PASSED)",
        "state changed DOWN -> GOOD",
        "health GOOD - READY (PASSED)",
        "stopped (SIGTERM)",
    ]
    assert signal.getsignal(signal.SIGTERM) is previous  # handlers restored


def test_a_usage_error_in_once_mode_exits_3_with_its_hint(tmp_path: Path) -> None:
    stderr = io.StringIO()
    error = UsageError("--python /nope: no such file", hint="pass the path of an interpreter")
    monitor = _monitor(tmp_path, _checks(error), once=True, stderr=stderr)
    assert monitor.run() == 3
    assert _log_lines(tmp_path / "logs") == [
        "health DOWN - the check could not run - --python /nope: no such file"
    ]
    assert "hint: pass the path of an interpreter" in stderr.getvalue()


def test_a_failed_run_names_the_interpreter_as_a_judged_run_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `--python .venv/bin/python`: a judged run labels its metrics and alerts with the
    # absolute path; a run that could not check must use the same, or one failure replaces
    # every Prometheus series under another label.
    monkeypatch.chdir(tmp_path)
    seen: list[RunOutcome] = []
    error = UsageError("the check could not run", hint=None)
    monitor = _monitor(
        tmp_path, _checks(error), once=True, python=".venv/bin/python", after_run=seen.append
    )
    assert monitor.run() == 3
    [outcome] = seen
    assert outcome.report.interpreter.path == str(tmp_path / ".venv" / "bin" / "python")


def test_old_logs_are_removed_on_each_run(tmp_path: Path) -> None:
    logs, reports = tmp_path / "logs", tmp_path / "reports"
    old = (NOW - timedelta(days=8)).strftime("%Y%m%d")
    recent = (NOW - timedelta(days=7)).strftime("%Y%m%d")
    _touch(logs, f"runtime_health_{old}.log", f"runtime_health_{recent}.log")
    _touch(reports, f"preflight_check_{old}_101010.log", f"preflight_check_{recent}_101010.log")
    monitor = _monitor(
        tmp_path, _checks(GOOD), once=True, keep_days=7, log_dir=logs, prune_dirs=(reports,)
    )
    assert monitor.run() == 0
    assert sorted(p.name for p in logs.iterdir()) == [
        f"runtime_health_{recent}.log",
        "runtime_health_20241220.log",
    ]
    assert [p.name for p in reports.iterdir()] == [f"preflight_check_{recent}_101010.log"]


def _smtp(port: int) -> SmtpConfig:
    return SmtpConfig(
        host=loopback.HOST,
        port=port,
        security=Security.NONE,
        sender="preflight@example.com",
        to=("ops@example.com",),
        timeout_seconds=5,
    )


def test_each_run_dispatches_alerts_deduplicated(tmp_path: Path) -> None:
    handler = loopback.MailHandler()
    with loopback.smtp_server(handler) as port:
        config = AlertConfig(smtp=_smtp(port))
        monitor = _monitor(tmp_path, _checks(DOWN, DOWN, GOOD), alerts=lambda: config, environ={})
        assert monitor.run() == 0
    subjects = [m.message["Subject"] for m in handler.received]
    assert len(subjects) == 2, subjects  # the second DOWN is the same problem: suppressed
    assert subjects[0].startswith("[preflight] CRITICAL: 1 critical problem")
    assert subjects[1].startswith("[preflight] RECOVERED")
    assert "- security: security is broken" in handler.received[0].body
    lines = _log_lines(tmp_path / "logs")
    assert lines.count("alert sent via smtp") == 2
    assert (tmp_path / ".preflight" / "alert-state.json").exists()


def test_a_check_that_cannot_run_alerts_too(tmp_path: Path) -> None:
    handler = loopback.MailHandler()
    with loopback.smtp_server(handler) as port:
        config = AlertConfig(smtp=_smtp(port))
        error = UsageError("--python /nope: no such file")
        monitor = _monitor(tmp_path, _checks(error), once=True, alerts=lambda: config, environ={})
        assert monitor.run() == 3
    [mail] = handler.received
    assert "- monitor: the check could not run: --python /nope: no such file" in mail.body


def test_an_alert_outage_is_logged_and_the_loop_goes_on(tmp_path: Path) -> None:
    handler = loopback.MailHandler(refuse_data="554 5.7.1 rejected")
    with loopback.smtp_server(handler) as port:
        config = AlertConfig(retries=0, smtp=_smtp(port))
        monitor = _monitor(tmp_path, _checks(DOWN, GOOD), alerts=lambda: config, environ={})
        assert monitor.run() == 0
    lines = _log_lines(tmp_path / "logs")
    assert "alert failed: smtp: SMTP server" in "\n".join(lines)
    assert lines[-1] == "stopped (SIGTERM)"


# --- ``preflight monitor`` as a user runs it ----------------------------------------------------


def _argv(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "preflight", "monitor", *map(str, args)]


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_preflight("monitor", *args, cwd=cwd)


@pytest.fixture
def not_python(tmp_path: Path) -> Path:
    """An "interpreter" that fails at once: every check of it is DOWN, quickly."""
    script = tmp_path / "not-python"
    script.write_text("#!/bin/sh\necho nope >&2\nexit 1\n", encoding="utf-8")
    script.chmod(0o755)
    return script


def _wait_until(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _health_lines(folder: Path) -> int:
    return sum(
        path.read_text(encoding="utf-8").count(" - health ")
        for path in folder.glob("runtime_health_*.log")
    )


def _signal_monitor(
    args: list[str | Path], cwd: Path, ready: Callable[[], bool], signum: int
) -> subprocess.CompletedProcess[str]:
    """Start the monitor, wait for ``ready``, send ``signum``; it must end far sooner than 30 s."""
    with not_ignored(signum):
        process = subprocess.Popen(
            _argv(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=cli_env(),
            cwd=cwd,
        )
    try:
        _wait_until(ready, process, "the monitor to get going")
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=10)  # the interval is 30 s
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_cli_once_logs_one_line_and_exits_1_when_down(
    tmp_path: Path, project: Path, not_python: Path
) -> None:
    logs = tmp_path / "logs"
    done = _run(
        "--python", not_python, "--project", project, "--once", "--log-dir", logs, cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    [line] = _log_lines(logs)
    assert line == "health DOWN - NOT_READY (FAILED) - fail: python_version"
    assert (tmp_path / "reports" / "runtime_verification_results.json").exists()


def test_cli_once_without_a_policy_exits_3(tmp_path: Path, not_python: Path) -> None:
    logs = tmp_path / "logs"
    done = _run("--python", not_python, "--project", tmp_path, "--once", "--log-dir", logs,
                cwd=tmp_path)  # fmt: skip
    assert done.returncode == 3, done.stderr
    [line] = _log_lines(logs)
    assert line.startswith("health DOWN - the check could not run - ")
    assert "pyproject.toml: file not found" in line
    assert "hint: pass --project DIR" in done.stderr


@pytest.mark.slow
def test_cli_once_good_environment(tmp_path: Path, venv312: Path, project: Path) -> None:
    logs = tmp_path / "logs"
    done = _run("--python", venv312, "--project", project, "--once", "--log-dir", logs,
                cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _log_lines(logs) == ["health GOOD - READY (PASSED)"]


def test_cli_rejects_bad_monitor_options(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    for args, message in (
        (["--interval", "0"], "must be more than 0"),
        (["--interval", "1e12"], "at most 10000000"),  # was an OverflowError traceback
        (["--interval", "nan"], "must be more than 0"),
        (["--keep-days", "0"], "must be from 1 to 36500"),
        (["--keep-days", "1000000"], "must be from 1 to 36500"),  # was an OverflowError
        (["--log-dir", tmp_path / "file"], "is a file, not a folder"),
    ):
        done = _run(*args, "--project", tmp_path, cwd=tmp_path)
        assert done.returncode == 3, done.stderr
        assert done.stderr.startswith("error: ")
        assert message in done.stderr


def test_sigterm_between_runs_stops_at_once(
    tmp_path: Path, project: Path, not_python: Path
) -> None:
    logs = tmp_path / "logs"
    args: list[str | Path] = ["--python", not_python, "--project", project]
    args += ["--interval", "30", "--log-dir", logs]
    done = _signal_monitor(args, tmp_path, lambda: _health_lines(logs) >= 1, signal.SIGTERM)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = _log_lines(logs)
    assert lines[0].startswith("monitoring started (every 30 s;")
    assert lines[1:] == [
        "health DOWN - NOT_READY (FAILED) - fail: python_version",
        "stopped (SIGTERM)",
    ]


def test_failed_runs_do_not_stop_the_loop(tmp_path: Path, project: Path) -> None:
    logs = tmp_path / "logs"
    args: list[str | Path] = ["--python", tmp_path / "missing-python", "--project", project]
    args += ["--interval", "0.05", "--log-dir", logs]
    done = _signal_monitor(args, tmp_path, lambda: _health_lines(logs) >= 3, signal.SIGTERM)
    assert done.returncode == 0, done.stderr
    lines = _log_lines(logs)
    failures = [line for line in lines if line.startswith("health DOWN - the check could not run")]
    assert len(failures) >= 3
    assert "missing-python does not exist" in failures[0]
    assert lines[-1] == "stopped (SIGTERM)"


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_a_signal_during_a_run_kills_the_check_and_stops(
    tmp_path: Path,
    project: Path,
    hanging_python: tuple[Path, Path],
    signum: int,
    code: int,
) -> None:
    script, pid_file = hanging_python
    logs = tmp_path / "logs"
    args: list[str | Path] = ["--python", script, "--project", project, "--timeout", "600"]
    args += ["--interval", "30", "--log-dir", logs]
    done = _signal_monitor(args, tmp_path, pid_file.exists, signum)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    lines = _log_lines(logs)  # whole lines only
    assert lines[0].startswith("monitoring started")
    assert lines[1:] == [
        f"stopped ({signal.Signals(signum).name})"
    ]  # no line for the abandoned run
    assert ends(int(pid_file.read_text())), "the check's grandchild outlived the monitor"
    assert not (tmp_path / "reports" / "runtime_verification_results.json").exists()
