"""``preflight summarize`` believes nothing it cannot check.

Each case is written as a forger would: files edited by hand, read by the real command as a
subprocess. An ``outcome.json`` that says other than the report beside it, or a report whose
checks contradict its own verdict or exit code, is an ERROR row naming the file(s); the matrix
is then not READY and the exit code says so.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
from test_summarize import report, summarize, write

from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._ops import matrix
from preflight._ops.matrix import Outcome
from preflight._ops.summarize import collect, exit_code_of
from preflight._report.model import Report, ReportFormatError


def _session(folder: Path, checked: Report, **changes: Any) -> Path:
    """The outcome ``nox -s preflight`` writes for ``checked``, then edited by ``changes``."""
    outcome = Outcome.from_report(
        checked, session=folder.name, spec="3.12", run_id="r", seconds=12.0,
        report=str(folder / "runtime_verification_results.json"),
        substitute=checked.substitute_for is not None,
    )  # fmt: skip
    data = {**asdict(replace(outcome, **changes))}
    path = folder / matrix.OUTCOME_NAME
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _summary(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    return data


def test_an_honest_outcome_beside_its_report_reads(tmp_path: Path) -> None:
    folder = tmp_path / "preflight-3.12"
    write(folder, report())
    _session(folder, report())
    done = summarize(folder, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "matrix: READY" in done.stderr


@pytest.mark.parametrize(
    ("written", "told", "changes"),
    [
        # The outcome says NOT_READY (the session failed a check); the report was swapped for a
        # READY one: on main, `matrix: READY`, exit 0.
        ("ready", "not ready", {"verdict": "NOT_READY", "overall": "FAILED",
                                 "failed": ("integrity",)}),
        # The outcome says READY; the report says NOT_READY.
        ("not ready", "ready", {"verdict": "READY", "overall": "PASSED", "failed": ()}),
        # The same verdict, another failed check: one of the two was edited.
        ("not ready", "other check", {"failed": ("lock_sync",)}),
        # Another Python than the report checked.
        ("ready", "other python", {"python": "3.12.9"}),
        # An outcome claiming a substitute the report does not.
        ("ready", "substitute", {"substitute": True}),
    ],
)  # fmt: skip
def test_an_outcome_and_a_report_that_disagree_are_an_error_row_naming_both(
    tmp_path: Path, written: str, told: str, changes: dict[str, Any]
) -> None:
    folder = tmp_path / "preflight-3.12"
    checked = report(failed=written == "not ready")
    report_path = write(folder, checked)
    outcome_path = _session(folder, checked, **changes)
    done = summarize(folder, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "matrix: NOT_READY" in done.stderr
    rows = _summary(tmp_path)["interpreters"]
    assert [row["verdict"] for row in rows] == ["ERROR"]
    message = rows[0]["message"]
    assert str(outcome_path) in message
    assert str(report_path) in message
    assert "disagree" in message
    # The same through the API: the row is an ERROR without the report behind it.
    entries = collect([folder])
    assert [e.outcome.verdict for e in entries] == ["ERROR"]
    assert entries[0].report is None
    assert exit_code_of(entries) == 1


def _forged(checked: Report, **top: Any) -> str:
    """``checked`` as JSON, its top-level keys then edited by ``top``."""
    data = checked.to_dict()
    data.update(top)
    return json.dumps(data)


def _critical_under_pass() -> Report:
    """A report whose integrity check holds a critical finding but says "pass": every
    derived key (status READY, exit 0, the violation listed) is as to_dict writes them."""
    critical = Finding(Severity.CRITICAL, "alpha: alpha/__init__.py is modified", "reinstall")
    base = report()
    checks = tuple(
        replace(c, findings=(critical,), message="every file matches") if c.id == "integrity" else c
        for c in base.checks
    )
    return replace(base, checks=checks)


def test_a_critical_finding_under_a_passing_check_is_refused_not_ready(tmp_path: Path) -> None:
    forged = _critical_under_pass()
    assert forged.status.value == "READY"  # what the verdict computed from statuses would say
    folder = tmp_path / "host-a"
    path = write(folder, forged)
    with pytest.raises(ReportFormatError, match=r"checks\.integrity\.status") as info:
        Report.from_dict(json.loads(path.read_text(encoding="utf-8")))
    assert "contradicts itself" in str(info.value)
    done = summarize(folder, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "matrix: NOT_READY" in done.stderr
    rows = _summary(tmp_path)["interpreters"]
    assert [row["verdict"] for row in rows] == ["ERROR"]
    assert str(path) in rows[0]["message"]
    assert "checks.integrity.status" in rows[0]["message"]


@pytest.mark.parametrize(
    ("status", "findings"),
    [
        (Status.FAIL, ()),  # failed, yet nothing was found
        (Status.WARN, ()),
        (Status.SKIP, (Finding(Severity.WARNING, "slow"),)),  # skipped, yet it found something
        (Status.PASS, (Finding(Severity.WARNING, "slow"),)),
        (Status.WARN, (Finding(Severity.CRITICAL, "broken"),)),
    ],
)
def test_every_status_its_findings_do_not_give_is_refused(
    status: Status, findings: tuple[Finding, ...]
) -> None:
    base = report()
    check = CheckResult("performance", "Performance", status, "m", findings)
    forged = replace(base, checks=(*base.checks[:2], check))
    with pytest.raises(ReportFormatError, match=r"checks\.performance\.status"):
        Report.from_dict(forged.to_dict())


@pytest.mark.parametrize(
    "top",
    [
        {"exit_code": True},  # `true == 1` in Python: a failed report with exit_code true
        {"exit_code": 0},
        {"exit_code": 1.0},
        {"status": "READY"},
    ],
)
def test_an_exit_code_or_verdict_the_checks_do_not_give_is_an_error_row(
    tmp_path: Path, top: dict[str, Any]
) -> None:
    folder = tmp_path / "host-b"
    path = write(folder, _forged(report(failed=True), **top))
    done = summarize(folder, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    rows = _summary(tmp_path)["interpreters"]
    assert [row["verdict"] for row in rows] == ["ERROR"]
    assert str(path) in rows[0]["message"]
    key = next(iter(top))
    assert f"{key}: does not agree with the checks" in rows[0]["message"]


def test_a_forged_row_among_ready_ones_makes_the_matrix_not_ready(tmp_path: Path) -> None:
    good = tmp_path / "preflight-3.11"
    write(good, report(version="3.11.7"))
    _session(good, report(version="3.11.7"))
    forged = tmp_path / "preflight-3.12"
    write(forged, report())
    _session(forged, report(), verdict="NOT_READY")
    done = summarize(good, forged, cwd=tmp_path)
    assert done.returncode == 1
    assert "matrix: NOT_READY" in done.stderr
    assert [row["verdict"] for row in _summary(tmp_path)["interpreters"]] == ["READY", "ERROR"]
