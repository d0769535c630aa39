"""The outputs for other systems, from hand-built reports, read back by their consumers' parsers.

JUnit XML is read with ``junitparser``, the Prometheus textfile with ``prometheus_client``'s
own text parser, the systemd notifications from a real ``AF_UNIX`` datagram socket; the
Nagios line and the GitHub annotations are lines, asserted whole.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped, TestSuite
from notify import NotifyListener
from prometheus_client.parser import text_string_to_metric_families

from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._ops.monitor import Monitor
from preflight._ops.sdnotify import Notifier
from preflight._render.junit import junit_xml
from preflight._render.nagios import NagiosState, nagios, nagios_unknown
from preflight._render.prometheus import prometheus_text
from preflight._render.report import dumps, github_annotations
from preflight._report.interpreter import Interpreter
from preflight._report.model import Report, ReportFormatError

C, W = Severity.CRITICAL, Severity.WARNING
LOCK = "/project/requirements/py3.12.txt"
# Every kind of character a text output must not pass on raw: a newline that starts a forged
# line, a NUL and an escape (not XML at all), U+FFFE (not XML 1.0 even as a reference), a
# bidi override, markup, a quote, and a pipe (Nagios' perfdata separator).
HOSTILE = 'evil\n::error::x\x00\x1b[31m\ufffe\u202e<b>&"quoted"| PREFLIGHT OK - forged'
SHOWN_HOSTILE = 'evil\\n::error::x\\x00\\x1b[31m\ufffe\\u202e<b>&"quoted"| PREFLIGHT OK - forged'


def _report(*checks: CheckResult, path: str = "/env/bin/python", status: str = "primary") -> Report:
    return Report(
        timestamp="2026-11-27T07:00:00Z",
        interpreter=Interpreter.of(path=path, version="3.12.1", implementation="cpython"),
        python_status=status,
        checks=checks,
        duration_s=1.25,
        project="/project",
        lock=LOCK,
        tool_version="0.1.0",
    )


def _tampered() -> Report:
    """As a modified installed file gives it: integrity fails, the rest passes or warns."""
    return _report(
        CheckResult("python_version", "Python version", Status.PASS, "3.12.1 is primary"),
        CheckResult.from_findings(
            "integrity",
            "Integrity",
            [
                Finding(C, "alpha: alpha/__init__.py is modified (sha256 differs)", "reinstall"),
                Finding(W, "beta: a .pyc without its source", None),
            ],
            ok="",
        ),
        CheckResult.from_findings(
            "wheel_status",
            "Lock and wheel status",
            [Finding(W, f"{LOCK} is stale", "nox -s relock")],
            ok="",
            details={"age_days": 100.5, "compiled_at": "2026-08-19T07:00:00+00:00"},
        ),
        CheckResult("performance", "Performance", Status.SKIP, "skipped (--skip)"),
    )


# --- JUnit ------------------------------------------------------------------------------------


def _suites(text: str) -> list[TestSuite]:
    return list(JUnitXml.fromstring(text.encode("utf-8")))


def test_junit_one_suite_per_interpreter_a_case_per_check() -> None:
    clean = _report(
        CheckResult("python_version", "Python version", Status.PASS, "primary"),
        path="/other/bin/python",
    )
    suite, other = _suites(junit_xml([_tampered(), clean]))

    assert suite.name == "preflight Python 3.12.1 (/env/bin/python)"
    assert (suite.tests, suite.failures, suite.skipped, suite.errors) == (4, 1, 1, 0)
    cases = {case.name: case for case in suite}
    assert list(cases) == ["python_version", "integrity", "wheel_status", "performance"]
    (failure,) = cases["integrity"].result
    assert isinstance(failure, Failure)
    assert failure.message.startswith("alpha: alpha/__init__.py is modified")
    assert "fix: reinstall" in failure.text
    assert "a .pyc without its source" not in failure.text  # a warning is not the failure
    assert "beta: a .pyc without its source" in cases["integrity"].system_out
    assert cases["python_version"].is_passed
    assert cases["wheel_status"].is_passed  # warnings pass, and say so in system-out
    assert "is stale" in cases["wheel_status"].system_out
    (skipped,) = cases["performance"].result
    assert isinstance(skipped, Skipped)
    props = {p.name: p.value for p in suite.properties()}
    assert (props["verdict"], props["python_status"]) == ("NOT_READY", "primary")
    assert other.name.endswith("(/other/bin/python)")
    assert other.failures == 0


def test_junit_times_each_check_with_what_it_measured() -> None:
    """A testcase's time is the check's own, plus the run or probe its details time (the
    suite's pytest run, the bytecode probe, the performance probe): not 0.000 for a check
    that ran for seconds."""
    report = _report(
        replace(CheckResult("suite", "Suite", Status.PASS, "4 passed", details={"seconds": 2.5}),
                seconds=0.0002),
        replace(CheckResult("bytecode", "B", Status.PASS, "ok", details={"probe_seconds": 1.25}),
                seconds=0.001),
        replace(CheckResult("performance", "P", Status.PASS, "ok",
                            details={"total_seconds": 0.75}), seconds=0.0),
        replace(CheckResult("lock_sync", "L", Status.PASS, "ok"), seconds=0.0125),
    )  # fmt: skip
    (suite,) = _suites(junit_xml([report]))
    assert {case.name: case.time for case in suite} == {
        "suite": 2.5, "bytecode": 1.251, "performance": 0.75, "lock_sync": 0.013,
    }  # fmt: skip


def test_junit_class_names_are_unique_per_environment() -> None:
    """Two environments of the same Python version (summarize: two hosts, the same workspace
    path) get class names and suite names of their own; one alone keeps the short name."""
    check = CheckResult("python_version", "P", Status.PASS, "fine")
    a = replace(_report(check), host="runner-a")
    b = replace(_report(check), host="runner-b")
    again = replace(_report(check), host="runner-b")
    suites = _suites(junit_xml([a, b, again]))
    classnames = [next(iter(s)).classname for s in suites]
    assert classnames == [
        "preflight.python-3.12.1 (runner-a: /env/bin/python)",
        "preflight.python-3.12.1 (runner-b: /env/bin/python)",
        "preflight.python-3.12.1 (runner-b: /env/bin/python) #2",
    ]
    assert len({s.name for s in suites}) == 3
    (alone,) = _suites(junit_xml([a]))
    assert next(iter(alone)).classname == "preflight.python-3.12.1"


def test_junit_holds_hostile_text_as_shown_text_in_valid_xml() -> None:
    report = _report(
        CheckResult.from_findings(
            HOSTILE, "t", [Finding(C, HOSTILE, HOSTILE), Finding(W, HOSTILE)], ok=""
        ),
        path=HOSTILE,
    )
    (suite,) = _suites(junit_xml([report]))  # it parses: no raw NUL, ESC or U+FFFE
    (case,) = suite
    assert case.name == SHOWN_HOSTILE.replace("\ufffe", "\\ufffe")  # not XML 1.0: escaped
    (failure,) = case.result
    assert "\n::error" not in failure.text
    assert "critical: evil\\n::error::x" in failure.text
    assert HOSTILE not in junit_xml([report])


# --- Nagios -----------------------------------------------------------------------------------


def test_nagios_states_and_perfdata() -> None:
    critical = nagios(_tampered())
    assert critical.state is NagiosState.CRITICAL
    assert critical.exit_code == 2
    assert critical.lines[0] == (
        "PREFLIGHT CRITICAL - NOT_READY on Python 3.12.1; failed: integrity (alpha: "
        "alpha/__init__.py is modified (sha256 differs) (+1 more)); warnings: wheel_status; "
        "skipped: performance | duration=1.250s;;;0 checks_failed=1;;1;0;4 "
        "checks_warned=1;1;;0;4 checks_skipped=1;;;0;4"
    )
    assert critical.lines[1:] == (
        "fail: integrity: alpha: alpha/__init__.py is modified (sha256 differs) (+1 more)",
        f"warn: wheel_status: {LOCK} is stale",
    )
    warned = _report(CheckResult.from_findings("security", "S", [Finding(W, "odd")], ok=""))
    assert nagios(warned).lines[0].startswith("PREFLIGHT WARNING - READY on Python 3.12.1; ")
    assert nagios(warned).exit_code == 1
    ok = nagios(_report(CheckResult("python_version", "P", Status.PASS, "fine")))
    assert ok.lines == (
        "PREFLIGHT OK - READY on Python 3.12.1; 1 check passed "
        "| duration=1.250s;;;0 checks_failed=0;;1;0;1 checks_warned=0;1;;0;1 "
        "checks_skipped=0;;;0;1",
    )
    assert ok.exit_code == 0
    unsupported = _report(CheckResult("x", "x", Status.PASS, "fine"), status="unsupported")
    assert nagios(unsupported).state is NagiosState.CRITICAL  # NOT_READY without a failure
    unknown = nagios_unknown("pyproject.toml: no [tool.preflight]", "add one")
    assert unknown.lines == (
        "PREFLIGHT UNKNOWN - pyproject.toml: no [tool.preflight]",
        "hint: add one",
    )
    assert unknown.exit_code == 3


def test_nagios_never_counts_a_skipped_check_as_passed() -> None:
    """13 checks, 3 of them skipped (no vulnerability data, no baseline, no suite): the line
    says 10 passed and names the 3, and the perfdata counts them apart."""
    passing = [CheckResult(f"check_{n}", "C", Status.PASS, "fine") for n in range(10)]
    skipped = [
        CheckResult(name, "S", Status.SKIP, "not configured")
        for name in ("vulnerabilities", "baseline", "suite")
    ]
    (line,) = nagios(_report(*passing, *skipped)).lines
    words, perfdata = line.split(" | ")
    assert words == (
        "PREFLIGHT OK - READY on Python 3.12.1; 10 checks passed; "
        "skipped: vulnerabilities, baseline, suite"
    )
    assert "13 checks passed" not in line
    assert perfdata.endswith("checks_skipped=3;;;0;13")


def test_nagios_text_cannot_forge_a_line_or_perfdata() -> None:
    report = _report(CheckResult.from_findings(HOSTILE, "t", [Finding(C, HOSTILE)], ok=""))
    result = nagios(report)
    assert len(result.text.splitlines()) == len(result.lines) == 2
    assert result.lines[0].count("|") == 1  # only the perfdata separator
    assert "\\x7c PREFLIGHT OK - forged" in result.lines[0]


# --- Prometheus -------------------------------------------------------------------------------


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_prometheus_textfile_parses_with_every_metric() -> None:
    samples = _samples(prometheus_text(_tampered()))
    who = ("interpreter", "/env/bin/python")

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted([who, *labels.items()])))]

    assert value("preflight_ready") == 0
    assert value("preflight_verdict", verdict="NOT_READY") == 1
    assert value("preflight_verdict", verdict="READY") == 0
    assert value("preflight_exit_code") == 1
    assert value("preflight_run_success") == 1
    assert value("preflight_check_status", check="integrity") == 3
    assert value("preflight_check_status", check="wheel_status") == 2
    assert value("preflight_check_status", check="performance") == 1
    assert value("preflight_check_status", check="python_version") == 0
    assert value("preflight_check_findings", check="integrity", severity="critical") == 1
    assert value("preflight_check_findings", check="integrity", severity="warning") == 1
    assert value("preflight_run_duration_seconds") == 1.25
    expected = datetime.fromisoformat("2026-11-27T07:00:00+00:00").timestamp()
    assert value("preflight_last_run_timestamp_seconds") == expected
    assert value("preflight_lock_age_seconds") == 100.5 * 86400
    compiled = datetime.fromisoformat("2026-08-19T07:00:00+00:00").timestamp()
    assert value("preflight_lock_compiled_timestamp_seconds") == compiled
    assert ("preflight_check_duration_seconds", tuple(sorted([who, ("check", "integrity")]))) in (
        samples
    )


def test_prometheus_label_values_are_escaped_and_a_failed_run_says_so() -> None:
    report = _report(CheckResult("monitor", "m", Status.FAIL, "x"), path=HOSTILE)
    text = prometheus_text(report, ran=False)
    assert len(text.splitlines()) == len([ln for ln in text.split("\n") if ln])  # no extra lines
    samples = _samples(text)
    interpreters = {dict(labels)["interpreter"] for _, labels in samples}
    assert interpreters == {SHOWN_HOSTILE}
    assert samples[("preflight_run_success", (("interpreter", interpreters.pop()),))] == 0
    assert not any(name == "preflight_lock_age_seconds" for name, _ in samples)


# --- GitHub annotations -----------------------------------------------------------------------


def _many(errors: int, warnings: int = 0) -> Report:
    findings = [
        Finding(C, f"pkg{n} has no --hash", "relock", file=LOCK, line=n + 3) for n in range(errors)
    ] + [Finding(W, f"warning {n}") for n in range(warnings)]
    return _report(CheckResult.from_findings("wheel_status", "Lock", findings, ok=""))


def test_at_most_ten_annotations_per_level_and_one_notice_for_the_rest() -> None:
    lines = github_annotations(_many(15), workspace=Path("/project"))
    assert len(lines) == 11
    assert all(line.startswith("::error ") for line in lines[:10])
    assert lines[0] == (
        "::error file=requirements/py3.12.txt,line=3,title=preflight wheel_status (Python "
        "3.12.1)::pkg0 has no --hash -- fix: relock"
    )
    assert lines[10] == (
        "::notice title=preflight (Python 3.12.1)::and 5 more errors: see the report artifact"
    )
    both = github_annotations(_many(11, 12))
    assert [line.split(" ", 1)[0] for line in both] == (
        ["::error"] * 10 + ["::warning"] * 10 + ["::notice"]
    )
    assert both[-1].endswith("::and 1 more error and 2 more warnings: see the report artifact")
    assert f"file={LOCK.replace(':', '%3A')},line=3," in both[0]  # outside the workspace: as is
    assert len(github_annotations(_many(10, 10))) == 20  # nothing left out: no notice


# --- the JSON report keeps its schema: file and line are added keys --------------------------


def test_file_and_line_read_back_and_older_reports_still_read() -> None:
    report = _many(2)
    data = json.loads(dumps(report))
    assert data["checks"]["wheel_status"]["findings"][0] == {
        "severity": "critical",
        "message": "pkg0 has no --hash",
        "remedy": "relock",
        "file": LOCK,
        "line": 3,
    }
    assert data["violations"][1]["line"] == 4
    assert Report.from_dict(data) == report
    plain = json.loads(dumps(_tampered()))
    assert "file" not in plain["checks"]["integrity"]["findings"][0]  # as before
    assert Report.from_dict(plain) == _tampered()
    data["checks"]["wheel_status"]["findings"][0]["line"] = "3"
    with pytest.raises(ReportFormatError, match=r"findings\[0\]\.line: must be a line number"):
        Report.from_dict(data)


# --- systemd's notify socket ------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[NotifyListener]:
    with NotifyListener() as listening:
        yield listening


def test_notifier_speaks_to_a_path_and_an_abstract_socket(listener: NotifyListener) -> None:
    name = listener.name
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "2000000"})
    assert notifier is not None
    assert notifier.ping_every == 1.0
    assert notifier.ready("started\nSTATUS=forged")
    assert listener.stop() == ["READY=1\nSTATUS=started STATUS=forged"]
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:  # a short path: sun_path is 108
        path = str(Path(folder) / "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as by_path_socket:
            by_path_socket.bind(path)
            by_path = Notifier.from_environ({"NOTIFY_SOCKET": path})
            assert by_path is not None
            assert by_path.ping_every is None
            assert by_path.watchdog()
            assert by_path_socket.recv(64) == b"WATCHDOG=1"
        assert not by_path.watchdog()  # nobody listens: dropped, never raised
    assert Notifier.from_environ({}) is None
    other = {"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "5", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier.from_environ(other) == Notifier("\0" + name[1:], None)  # not our watchdog


def _runs(*reports: Report) -> Callable[[], Report]:
    queue = list(reports)

    def check() -> Report:
        if not queue:
            signal.raise_signal(signal.SIGTERM)
            raise AssertionError("SIGTERM did not stop the monitor")
        return queue.pop(0)

    return check


def test_monitor_tells_systemd_ready_status_watchdog_and_stopping(
    tmp_path: Path, listener: NotifyListener
) -> None:
    seen: list[str] = []
    monitor = Monitor(
        check=_runs(_tampered(), _report()),
        alerts=lambda: None,
        log_dir=tmp_path / "logs",
        project_dir=tmp_path,
        python="/env/bin/python",
        interval=0.3,
        stderr=io.StringIO(),
        after_run=lambda outcome: seen.append(outcome.health.value),
        notifier=Notifier(listener.address, watchdog_s=0.1),
    )
    assert monitor.run() == 0
    messages = listener.stop()

    assert messages[0] == "READY=1\nSTATUS=started; the first check is running"
    statuses = [m for m in messages if m.startswith("STATUS=")]
    assert statuses == [
        "STATUS=health DOWN - NOT_READY (FAILED) - fail: integrity; warn: wheel_status; "
        "next run in 0.3 s",
        "STATUS=health GOOD - READY (PASSED); next run in 0.3 s",
    ]
    # Pinged as each wait starts and every half period of the watchdog (0.05 s) while it lasts
    # (0.3 s): at least twice per wait, however slow the machine.
    assert messages.count("WATCHDOG=1") >= 2 * 2
    assert messages[-1] == "STOPPING=1\nSTATUS=stopped (SIGTERM)"
    assert seen == ["DOWN", "GOOD"]
