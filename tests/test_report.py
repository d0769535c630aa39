"""The renderings of one report: JSON, terminal lines, GitHub annotations."""

from __future__ import annotations

import json

from preflight._render.report import dumps, github_annotations, summary_lines
from preflight._report.model import CheckResult, Finding, Report, Severity, Status

C, W = Severity.CRITICAL, Severity.WARNING


def report() -> Report:
    checks = (
        CheckResult("python_version", "Python version", Status.PASS, "Python 3.12.1 is primary"),
        CheckResult.from_findings(
            "lock_sync",
            "Installed set vs lock",
            [
                Finding(
                    C, "numpy 2.1.0 is installed but the lock pins 2.2.6", "run `nox -s preflight`"
                )
            ],
            ok="",
        ),
        CheckResult.from_findings(
            "environment_config",
            "Environment configuration",
            [Finding(W, "50% of\nthe variables: unset", None)],
            ok="",
        ),
    )
    return Report(
        timestamp="2026-11-27T07:00:00Z",
        interpreter={"path": "/env/bin/python", "version": "3.12.1", "implementation": "cpython"},
        python_status="primary",
        checks=checks,
        duration_s=1.25,
        project="/project",
        lock="/project/requirements/py3.12.txt",
        tool_version="0.1.0",
    )


def test_json_report_has_the_seed_shape_and_a_schema_version() -> None:
    data = json.loads(dumps(report()))
    assert data["schema_version"] == 1
    assert (data["status"], data["overall_status"], data["exit_code"]) == ("NOT_READY", "FAILED", 1)
    assert [v["severity"] for v in data["violations"]] == ["critical", "warning"]
    assert data["warnings"] == [
        {"check": "environment_config", "message": "50% of\nthe variables: unset"}
    ]
    assert data["checks"]["lock_sync"]["status"] == "fail"


def test_terminal_summary_ends_with_the_verdict() -> None:
    lines = summary_lines(report())
    assert lines[-1] == "NOT_READY (FAILED) in 1.25 s"
    assert any(line.startswith("✗ lock_sync") for line in lines)


def test_github_annotations_one_per_finding_escaped() -> None:
    assert github_annotations(report()) == [
        "::error title=preflight lock_sync (Python 3.12.1)::numpy 2.1.0 is installed but the "
        "lock pins 2.2.6 -- fix: run `nox -s preflight`",
        "::warning title=preflight environment_config (Python 3.12.1)::50%25 of%0Athe "
        "variables: unset",
    ]


def test_a_report_with_every_check_skipped_still_renders() -> None:
    empty = Report("2026-11-27T07:00:00Z", {"path": "/p"}, "primary", (), 0.1, "/p", None, "0")
    assert summary_lines(empty)[-1] == "READY (PASSED) in 0.10 s"
