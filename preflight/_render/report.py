"""Three views of one Report: the JSON document, the log file, the terminal summary."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from preflight._atomic import write_atomic
from preflight._checks.result import Severity, Status
from preflight._report.model import Report

REPORT_NAME = "runtime_verification_results.json"
TERMINAL_FINDINGS = 5  # per check on the terminal; the log and JSON have them all


def dumps(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n"


_MARK = {Status.PASS: "✓", Status.WARN: "⚠", Status.FAIL: "✗", Status.SKIP: "-"}


def summary_lines(report: Report, *, limit: int | None = TERMINAL_FINDINGS) -> list[str]:
    # A failed probe knows no version: say "?" rather than "None".
    version = report.interpreter.get("version") or "?"
    standing_in = f", substitute for {report.substitute_for}" if report.substitute_for else ""
    lines = [
        f"preflight {report.interpreter.get('path') or '?'}"
        f" (Python {version}, {report.python_status}{standing_in})"
    ]
    width = max((len(c.id) for c in report.checks), default=0)
    for c in report.checks:
        lines.append(f"{_MARK[c.status]} {c.id:<{width}}  {c.status.label:<4}  {c.message}")
        shown = c.findings if limit is None or len(c.findings) <= limit + 1 else c.findings[:limit]
        if len(c.findings) > 1 or (c.findings and c.findings[0].remedy):
            for f in shown:
                lines.append(f"    {f.severity.value}: {f.message}")
                if f.remedy:
                    lines.append(f"      fix: {f.remedy}")
            if len(shown) < len(c.findings):
                lines.append(f"    ... and {len(c.findings) - len(shown)} more (see the report)")
    lines.append(
        f"{report.status.value} ({report.overall_status.value}) in {report.duration_s:.2f} s"
    )
    return lines


def _escape(text: str, *, property_value: bool = False) -> str:
    """GitHub's workflow-command escaping (``%``, CR, LF; and ``:`` ``,`` in properties)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def github_annotations(report: Report) -> list[str]:
    """One ``::error`` / ``::warning`` workflow command per finding, for GitHub Actions."""
    python = report.interpreter.get("version") or "?"
    lines = []
    for check_id, finding in report.violations():
        level = "error" if finding.severity is Severity.CRITICAL else "warning"
        title = _escape(f"preflight {check_id} (Python {python})", property_value=True)
        message = finding.message + (f" -- fix: {finding.remedy}" if finding.remedy else "")
        lines.append(f"::{level} title={title}::{_escape(message)}")
    return lines


def log_text(report: Report, *, started: datetime) -> str:
    stamp = started.strftime("%Y-%m-%d %H:%M:%S")
    body = [
        "=== preflight runtime check ===",
        f"Timestamp: {report.timestamp}",
        f"Project: {report.project}",
        f"Lock: {report.lock}",
        *summary_lines(report, limit=None),
        f"Status: {report.status.value}",
        f"Overall: {report.overall_status.value}",
    ]
    return "".join(f"{stamp} - {line}\n" for line in body)


def write_reports(report: Report, folder: Path, *, started: datetime) -> tuple[Path, Path]:
    """Write the JSON report and the timestamped log, each atomically; return their paths."""
    json_path = folder / REPORT_NAME
    log_path = folder / f"preflight_check_{started.strftime('%Y%m%d_%H%M%S')}.log"
    write_atomic(json_path, dumps(report))
    write_atomic(log_path, log_text(report, started=started))
    return json_path, log_path
