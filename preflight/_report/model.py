"""The result model: one set of frozen objects, several renderings (JSON, log, terminal).

The verdict and the exit code are pure functions of the check results. The JSON report
(``Report.to_dict``) can be read back (``Report.from_dict``), so that a report on disk is the
same typed value to its readers (``preflight alert``) as a fresh one.

The JSON report keeps the exact text of what was found (JSON escapes control characters), but
bounded: every string of a message, remedy, detail or interpreter field is capped in
``to_dict`` (:func:`preflight._text.capped`, 4096 characters with the count of what was cut),
so a 50 MB URL in a ``direct_url.json`` gives a report of kilobytes. Capping is idempotent: a
report read back and written again is unchanged.

A report read back is bounded by what it holds, not only by its bytes
(:func:`report_from_json`): at most :data:`REPORT_VALUES` JSON values (64 MiB of empty
objects in details was 3 GB of Python objects), :data:`MAX_CHECKS` checks and :data:`MAX_FINDINGS`
findings, every text of a check and a finding capped as ``to_dict`` caps it.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, replace
from typing import Any

from preflight import _json
from preflight._checks.result import CheckResult, Finding, Severity, Status, status_of
from preflight._report.interpreter import Interpreter
from preflight._strict import Node, ShapeError, Table, shown
from preflight._text import capped

SCHEMA_VERSION = 1
# What one report read back may hold; a real one holds 13 checks and at most a few thousand
# findings (one per package or file), a few hundred thousand JSON values.
REPORT_VALUES = 2_000_000
MAX_CHECKS = 200
MAX_FINDINGS = 100_000
PYTHON_STATUSES = ("primary", "fallback", "unsupported", "unknown")


class Verdict(enum.StrEnum):
    READY = "READY"
    READY_FALLBACK = "READY_FALLBACK"
    NOT_READY = "NOT_READY"


class Overall(enum.StrEnum):
    PASSED = "PASSED"
    WARNING = "WARNING"
    FAILED = "FAILED"


# Exit codes: as in the seed, plus 3 for usage/configuration (argparse's 2 would collide with
# WARNING), 130 for Ctrl-C and 143 for SIGTERM.
EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_WARNING = 2
EXIT_USAGE = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports it


def overall(results: list[CheckResult] | tuple[CheckResult, ...]) -> Overall:
    worst = max((r.status for r in results), default=Status.PASS)
    if worst is Status.FAIL:
        return Overall.FAILED
    if worst is Status.WARN:
        return Overall.WARNING
    return Overall.PASSED


def verdict(python_status: str, results: list[CheckResult] | tuple[CheckResult, ...]) -> Verdict:
    """READY on the primary, READY_FALLBACK on a fallback, NOT_READY on anything critical."""
    if overall(results) is Overall.FAILED:
        return Verdict.NOT_READY
    if python_status == "primary":
        return Verdict.READY
    if python_status == "fallback":
        return Verdict.READY_FALLBACK
    return Verdict.NOT_READY


def exit_code(state: Overall) -> int:
    return {Overall.PASSED: EXIT_PASSED, Overall.FAILED: EXIT_FAILED}.get(state, EXIT_WARNING)


@dataclass(frozen=True)
class Report:
    timestamp: str  # ISO 8601, UTC
    interpreter: Interpreter  # path, version, implementation (what is known)
    python_status: str  # primary | fallback | unsupported | unknown
    checks: tuple[CheckResult, ...]
    duration_s: float
    project: str
    lock: str | None
    tool_version: str
    substitute_for: str | None = None  # the pin this interpreter stood in for, on request
    # The machine that judged it (its host name), so that reports merged from several jobs or
    # hosts (``preflight summarize``) say where each came from; None: not recorded (a report
    # of a preflight before it was).
    host: str | None = None

    @property
    def overall_status(self) -> Overall:
        return overall(self.checks)

    @property
    def status(self) -> Verdict:
        return verdict(self.python_status, self.checks)

    @property
    def exit_code(self) -> int:
        return exit_code(self.overall_status)

    def violations(self) -> list[tuple[str, Finding]]:
        return [(c.id, f) for c in self.checks for f in c.findings]

    @classmethod
    def from_dict(cls, data: object) -> Report:
        """The report that :meth:`to_dict` wrote as ``data`` (``schema_version`` 1).

        Raises :class:`ReportFormatError` (a ``ValueError``) naming the first bad key, e.g.
        ``checks.lock_sync.status``. What ``to_dict`` derives from the checks (the verdict,
        the exit code, the violations) must agree with them: a report edited by hand into
        saying something its checks do not is refused, not believed.
        """
        return _parse_report(data)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (``schema_version`` 1), as ``--format json`` prints it."""
        violations = self.violations()
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "preflight", "version": self.tool_version},
            "timestamp": self.timestamp,
            "host": _optional(self.host),
            "project": self.project,
            "lock": self.lock,
            "interpreter": _bounded(self.interpreter.to_dict()),
            "python_status": self.python_status,
            "substitute_for": self.substitute_for,
            "status": self.status.value,
            "overall_status": self.overall_status.value,
            "exit_code": self.exit_code,
            "checks": {
                c.id: {
                    "title": c.title,
                    "status": c.status.label,
                    "message": capped(c.message),
                    "findings": [
                        {
                            "severity": f.severity.value,
                            "message": capped(f.message),
                            "remedy": _optional(f.remedy),
                            **_location(f),
                        }
                        for f in c.findings
                    ],
                    "details": _bounded(c.details),
                    "seconds": c.seconds,
                }
                for c in self.checks
            },
            "violations": [
                {
                    "check": cid,
                    "severity": f.severity.value,
                    "message": capped(f.message),
                    "remedy": _optional(f.remedy),
                    **_location(f),
                }
                for cid, f in violations
            ],
            # The seed's consumers count warnings separately; kept as a view of the same findings.
            "warnings": [
                {"check": cid, "message": capped(f.message)}
                for cid, f in violations
                if f.severity is Severity.WARNING
            ],
            "duration_s": self.duration_s,
        }


def _location(finding: Finding) -> dict[str, Any]:
    """``file`` and ``line`` of a finding that has them: keys added to schema_version 1
    (a finding without a place has neither, as before), so every earlier report still reads."""
    place: dict[str, Any] = {}
    if finding.file is not None:
        place["file"] = capped(finding.file)
    if finding.line is not None:
        place["line"] = finding.line
    return place


def _optional(text: str | None) -> str | None:
    return None if text is None else capped(text)


def _bounded(value: Any) -> Any:
    """``value`` (a JSON value) with every string in it, keys included, capped."""
    if isinstance(value, str):
        return capped(value)
    if isinstance(value, dict):
        return {capped(k) if isinstance(k, str) else k: _bounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bounded(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_bounded(v) for v in value)
    return value


# --- reading the JSON report back ------------------------------------------------------------


def report_from_json(text: str) -> Report:
    """The report whose JSON is ``text``, bounded by what it holds (see the module's text).

    Raises :class:`preflight._json.JSONError` (not JSON, nested too deep, too many values,
    a number too long) or :class:`ReportFormatError` (not a report; the key named), both
    ValueErrors."""
    return Report.from_dict(_json.loads(text, max_values=REPORT_VALUES))


class ReportFormatError(ValueError):
    """A JSON report that is not one ``Report.to_dict`` writes; ``key`` is where ("" = all)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem


_TOP_KEYS = (
    "schema_version", "tool", "timestamp", "project", "lock", "interpreter", "python_status",
    "substitute_for", "status", "overall_status", "exit_code", "checks", "violations",
    "warnings", "duration_s",
)  # fmt: skip
# Keys added to schema_version 1 after its first release: a report without them still reads.
_TOP_OPTIONAL = ("host",)
_CHECK_KEYS = ("title", "status", "message", "findings", "details", "seconds")
_FINDING_KEYS = ("severity", "message", "remedy")
_FINDING_OPTIONAL = ("file", "line")  # added in schema_version 1: a finding about a file's line
# A text of a report is capped as to_dict caps it, not refused: a report written before the
# caps reads too. Only what its bytes allow bounds it here.
_ANY_LENGTH = 1 << 62
_LONGEST = 1e9  # seconds: no check takes 31 years (and nan, inf or -1 took none)


def _object(node: Node, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> Table:
    """``node`` as an object holding exactly ``keys`` (and perhaps some of ``optional``),
    else the error naming what is off, in the words the report's readers know."""
    table = node.table(
        keys + optional,
        problem="is not a JSON object",
        unknown=f"unknown key (not in schema_version {SCHEMA_VERSION})",
        missing="is missing",
    )
    for name in keys:
        table[name]  # raises the error naming the first missing key
    return table


def _text(node: Node) -> str:
    return capped(node.string(empty=True, max_length=_ANY_LENGTH))


def _optional_text(node: Node | None) -> str | None:
    if node is None or node.value is None:
        return None
    return capped(node.string_or_null(max_length=_ANY_LENGTH) or "")


def _seconds(node: Node) -> float:
    return node.number(maximum=_LONGEST)


def _parse_report(data: object) -> Report:
    try:
        return _read_report(data)
    except ShapeError as exc:
        raise ReportFormatError(exc.key, exc.problem) from None


def _read_report(data: object) -> Report:
    if isinstance(data, dict) and "schema_version" not in data:
        raise ReportFormatError(
            "schema_version", "is missing: is it a JSON report of `preflight check`?"
        )
    top = _object(Node(data), _TOP_KEYS, _TOP_OPTIONAL)
    version = top["schema_version"].value
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise top.error("schema_version", f"is {shown(version)}; this preflight reads version "
                        f"{SCHEMA_VERSION}")  # fmt: skip
    tool = _object(top["tool"], ("name", "version"))
    if tool["name"].value != "preflight":
        raise tool.error("name", f"must be 'preflight', not {shown(tool['name'].value)}")
    interpreter = top["interpreter"]
    interpreter.table(problem="is not a JSON object")
    checks = top["checks"].table(problem="is not a JSON object")
    if len(checks.value) > MAX_CHECKS:
        raise checks.error(
            "", f"holds {len(checks.value)} checks, more than a report holds ({MAX_CHECKS})"
        )
    found = sum(len(c["findings"]) for c in checks.value.values() if isinstance(c, dict)
                and isinstance(c.get("findings"), list))  # fmt: skip
    if found > MAX_FINDINGS:
        raise checks.error("", f"hold {found} findings, more than a report holds ({MAX_FINDINGS})")
    report = Report(
        timestamp=_text(top["timestamp"]),
        interpreter=Interpreter.from_dict(interpreter.plain()),
        python_status=top["python_status"].choice(PYTHON_STATUSES),
        checks=tuple(_parse_check(cid, entry) for cid, entry in checks.nodes()),
        duration_s=_seconds(top["duration_s"]),
        project=_text(top["project"]),
        lock=_optional_text(top["lock"]),
        tool_version=_text(tool["version"]),
        substitute_for=_optional_text(top["substitute_for"]),
        host=_optional_text(top.get("host")),
    )
    # What to_dict derives from the checks, without their details (which it does not read
    # for these keys, and copies whole: 650,000 objects of details were seconds).
    derived = replace(report, checks=tuple(replace(c, details={}) for c in report.checks)).to_dict()
    for key in ("status", "overall_status", "exit_code", "violations", "warnings"):
        # Compared as JSON, so that ``true`` is no exit code 1 (``True == 1`` in Python); and
        # capped, so that a report written before the caps reads too.
        if _as_json(_bounded(top[key].plain())) != _as_json(derived[key]):
            raise ReportFormatError(
                key, f"does not agree with the checks (they give {derived[key]!r})"
            )
    return report


def _as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _parse_check(check_id: str, node: Node) -> CheckResult:
    entry = _object(node, _CHECK_KEYS)
    status = Status[entry["status"].choice(s.label for s in Status).upper()]
    findings = entry["findings"].items(max_items=MAX_FINDINGS, what="a list")
    details = entry["details"]
    details.table(problem="is not a JSON object")
    parsed = tuple(_parse_finding(item) for item in findings)
    # The verdict is computed from the checks' statuses, so a status must be what its
    # findings give (CheckResult.from_findings): a critical finding under "pass" is refused.
    given = status_of(parsed)
    if (status is Status.SKIP and parsed) or (status is not Status.SKIP and status != given):
        raise entry.error(
            "status",
            f"is {status.label!r}, but its findings give {given.label!r} "
            f"({_counted(parsed)}): the report contradicts itself",
        )
    return CheckResult(
        id=capped(check_id),
        title=_text(entry["title"]),
        status=status,
        message=_text(entry["message"]),
        findings=parsed,
        details=dict(details.plain()),
        seconds=_seconds(entry["seconds"]),
    )


def _counted(findings: tuple[Finding, ...]) -> str:
    critical = sum(f.severity is Severity.CRITICAL for f in findings)
    return f"{critical} critical, {len(findings) - critical} warning(s)"


def _parse_finding(node: Node) -> Finding:
    entry = _object(node, _FINDING_KEYS, _FINDING_OPTIONAL)
    line = entry.get("line")
    return Finding(
        severity=Severity(entry["severity"].choice(s.value for s in Severity)),
        message=_text(entry["message"]),
        remedy=_optional_text(entry["remedy"]),
        file=_optional_text(entry.get("file")),
        line=None
        if line is None or line.value is None
        else line.integer(minimum=1, what="a line number"),
    )
