"""Three views of one Report: the JSON document, the log file, the terminal summary.

The JSON document keeps every text exactly as found (JSON escapes it; the report model caps
its size). The text views show each field that may come from the judged environment, the lock
or the policy through :func:`preflight._text.shown`: escaped, so that no name can start a line
of its own (a forged verdict, or a GitHub workflow command), and shortened.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from preflight._atomic import write_output_text
from preflight._checks.result import Finding, Severity, Status
from preflight._report.model import Report
from preflight._text import MESSAGE_LIMIT, shown

REPORT_NAME = "runtime_verification_results.json"
TERMINAL_FINDINGS = 5  # per check on the terminal; the log and JSON have them all
TERMINAL_TEXT = 240  # characters of one message or fix on the terminal; the log has them whole


def dumps(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n"


_MARK = {Status.PASS: "✓", Status.WARN: "⚠", Status.FAIL: "✗", Status.SKIP: "-"}


def summary_lines(
    report: Report, *, limit: int | None = TERMINAL_FINDINGS, text: int = TERMINAL_TEXT
) -> list[str]:
    """The terminal summary: a head line, one line per check, its findings, the verdict.

    Every text from the report is shown (escaped and shortened to ``text`` characters), so
    that each element of the list is exactly one line, whatever the environment's names hold.
    A fix is given once per check: under the finding it first applies to, or once after the
    findings when they all share it. ``limit=None, text=MESSAGE_LIMIT``: the log's view.
    """
    # A failed probe knows no version: say "?" rather than "None".
    version = shown(report.interpreter.version or "?")
    path = shown(report.interpreter.path or "?")
    standing_in = (
        f", substitute for {shown(report.substitute_for)}" if report.substitute_for else ""
    )
    lines = [f"preflight {path} (Python {version}, {shown(report.python_status)}{standing_in})"]
    ids = {c.id: shown(c.id) for c in report.checks}
    width = max((len(i) for i in ids.values()), default=0)
    for c in report.checks:
        message = shown(c.message, limit=text)
        lines.append(f"{_MARK[c.status]} {ids[c.id]:<{width}}  {c.status.label:<4}  {message}")
        listed = c.findings if limit is None or len(c.findings) <= limit + 1 else c.findings[:limit]
        if len(c.findings) > 1 or (c.findings and c.findings[0].remedy):
            lines += _findings(listed, text)
            if len(listed) < len(c.findings):
                lines.append(f"    ... and {len(c.findings) - len(listed)} more (see the report)")
    lines.append(
        f"{report.status.value} ({report.overall_status.value}) in {report.duration_s:.2f} s"
    )
    return lines


def _findings(listed: list[Finding] | tuple[Finding, ...], text: int) -> list[str]:
    """The findings of one check, each fix said once (the same long fix under every finding
    of a check would bury the findings)."""
    remedies = {f.remedy for f in listed}
    shared = len(listed) > 1 and len(remedies) == 1 and None not in remedies
    lines, said = [], set()
    for f in listed:
        lines.append(f"    {f.severity.value}: {shown(f.message, limit=text)}")
        if f.remedy and not shared and f.remedy not in said:
            said.add(f.remedy)
            lines.append(f"      fix: {shown(f.remedy, limit=text)}")
    if shared and listed[0].remedy:
        lines.append(f"    fix (each of the {len(listed)}): {shown(listed[0].remedy, limit=text)}")
    return lines


def _escape(text: str, *, property_value: bool = False) -> str:
    """GitHub's workflow-command escaping (``%``, CR, LF; and ``:`` ``,`` in properties)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


ANNOTATION_LIMIT = 10  # GitHub shows at most 10 error and 10 warning annotations per step


def image_label(report: Report) -> str | None:
    """``NAME@sha256:DIGEST`` of the image the report judged (``check --image``), else None."""
    image = report.interpreter.image
    return image.label if image is not None else None


def github_annotations(
    report: Report, *, workspace: Path | None = None, limit: int = ANNOTATION_LIMIT
) -> list[str]:
    """``::error`` / ``::warning`` workflow commands for the findings, for GitHub Actions.

    GitHub keeps at most 10 annotations of each level per step and silently drops the rest:
    the first ``limit`` of each level are written, and one ``::notice`` says how many more
    there are and where they are (the report), so that none is lost without a word. A
    finding about a line of a file (a lock entry) carries ``file=`` and ``line=``, so the
    annotation sits on that line of the diff; the path is made relative to ``workspace``
    (``GITHUB_WORKSPACE``, the checkout) when it is inside it, as GitHub expects.

    The texts are shown first (escaped and shortened; a newline is kept, as the escaping of
    the workflow-command syntax turns it into ``%0A``, which the runner shows as a line break
    of the annotation), then escaped for that syntax: no raw CR or LF is left to start a
    workflow command line of its own.
    """
    python = shown(report.interpreter.version or "?")
    image = image_label(report)
    if image is not None:
        python += f" in image {shown(image)}"
    lines = []
    left_out = {"error": 0, "warning": 0}
    written = {"error": 0, "warning": 0}
    for check_id, finding in report.violations():
        level = "error" if finding.severity is Severity.CRITICAL else "warning"
        if written[level] >= limit:
            left_out[level] += 1
            continue
        written[level] += 1
        title = _escape(f"preflight {shown(check_id)} (Python {python})", property_value=True)
        message = shown(finding.message, limit=MESSAGE_LIMIT, keep_newlines=True) + (
            f" -- fix: {shown(finding.remedy, limit=MESSAGE_LIMIT, keep_newlines=True)}"
            if finding.remedy
            else ""
        )
        lines.append(f"::{level} {_place(finding, workspace)}title={title}::{_escape(message)}")
    more = [f"{n} more {level}{'s' if n > 1 else ''}" for level, n in left_out.items() if n]
    if more:
        lines.append(
            f"::notice title=preflight (Python {_escape(python, property_value=True)})::"
            f"and {' and '.join(more)}: see the report artifact"
        )
    return lines


def github_workspace(environ: Mapping[str, str]) -> Path:
    """Where the annotations' paths are relative to: the checkout, else the current folder."""
    return Path(environ.get("GITHUB_WORKSPACE") or os.getcwd()).absolute()


def _place(finding: Finding, workspace: Path | None) -> str:
    """``file=...,line=...,`` for a finding about a file's line, else nothing."""
    if finding.file is None:
        return ""
    path = Path(finding.file)
    if workspace is not None and path.is_absolute():
        with contextlib.suppress(ValueError):
            path = path.relative_to(workspace)
    where = f"file={_escape(shown(path.as_posix()), property_value=True)},"
    if finding.line is not None:
        where += f"line={finding.line},"
    return where


def log_text(report: Report, *, started: datetime) -> str:
    """The check's log: the summary with every finding, each line stamped."""
    stamp = started.strftime("%Y-%m-%d %H:%M:%S")
    body = [
        "=== preflight runtime check ===",
        f"Timestamp: {shown(report.timestamp)}",
        f"Project: {shown(report.project)}",
        f"Lock: {shown(str(report.lock))}",
        *summary_lines(report, limit=None, text=MESSAGE_LIMIT),
        f"Status: {report.status.value}",
        f"Overall: {report.overall_status.value}",
    ]
    return "".join(f"{stamp} - {line}\n" for line in body)


def write_reports(report: Report, folder: Path, *, started: datetime) -> tuple[Path, Path]:
    """Write the JSON report and the timestamped log, each atomically (or to the FIFO or
    device found at its path: :func:`preflight._atomic.write_output_text`); return their
    paths. Raises ``OSError`` (:class:`preflight._atomic.UnsafeOutput` is a ``ValueError``)."""
    json_path = folder / REPORT_NAME
    log_path = folder / f"preflight_check_{started.strftime('%Y%m%d_%H%M%S')}.log"
    folder.mkdir(parents=True, exist_ok=True)
    write_output_text(json_path, dumps(report))
    write_output_text(log_path, log_text(report, started=started))
    return json_path, log_path
