"""The reports as JUnit XML, the test format CI systems show (GitLab, CircleCI, Buildkite...).

One ``<testsuite>`` per interpreter judged (one report each), one ``<testcase>`` per check,
named by its id and timed (judging it, plus the probe or run it measured); a failed check is
a ``<failure>`` holding its critical findings and their remedies, a skipped one is
``<skipped>``, and warnings (a check that passed with them, or the warnings of a failed one)
are its ``<system-out>``. The verdict and the interpreter are the
suite's ``<properties>``.

Every text from the report is shown first (:func:`preflight._text.shown`: controls escaped,
long text cut), then made fit for XML 1.0, which cannot hold some characters even as
references (U+FFFE, U+FFFF; ``shown`` already escapes the C0 controls and lone surrogates);
ElementTree escapes the markup characters (``<``, ``&``, quotes).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from preflight._checks.details import measured_seconds
from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._report.model import Report
from preflight._text import MESSAGE_LIMIT, shown

# What XML 1.0 cannot hold (its Char production), beyond what ``shown`` escapes.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _fit(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _attr(text: str) -> str:
    """One line of untrusted text for an attribute."""
    return _fit(shown(text))


def _body(text: str) -> str:
    """Untrusted text for one line of an element's content: the lines are ours (a consumer
    may print them in a log, where a newline of the environment's would start its own)."""
    return _fit(shown(text, limit=MESSAGE_LIMIT))


def _finding(f: Finding) -> str:
    where = f" ({f.file}" + (f", line {f.line}" if f.line is not None else "") + ")"
    text = f"{f.severity.value}: {f.message}" + (where if f.file is not None else "")
    return _body(text) + (f"\n  fix: {_body(f.remedy)}" if f.remedy else "")


def suite_name(report: Report) -> str:
    version = report.interpreter.version or "?"
    return f"preflight Python {version} ({report.interpreter.path or '?'})"


def duration(check: CheckResult) -> float:
    """A check's time: judging it, plus the probe or run it measured (from its details)."""
    return check.seconds + measured_seconds(check)


def names(reports: Sequence[Report]) -> list[tuple[str, str]]:
    """Each report's suite name and class name, unique in one document: two environments of
    the same Python version (``preflight summarize``: one per host or job) would otherwise
    share a class name, and a CI test tab would merge their cases. The host and the
    interpreter's path, then a number, are added only where names would collide."""
    suites = [suite_name(r) for r in reports]
    classes = [f"preflight.python-{r.interpreter.version or '?'}" for r in reports]
    seen: dict[str, int] = {}
    unique = []
    for report, suite, classname in zip(reports, suites, classes, strict=True):
        host = f"{report.host}: " if report.host else ""
        where = f" ({host}{report.interpreter.path or '?'})"
        own_class = classname + where if classes.count(classname) > 1 else classname
        on_host = f" on {report.host}" if suites.count(suite) > 1 and report.host else ""
        seen[own_class] = count = seen.get(own_class, 0) + 1
        number = f" #{count}" if count > 1 else ""
        unique.append((suite + on_host + number, own_class + number))
    return unique


def _testcase(check: CheckResult, classname: str) -> ET.Element:
    case = ET.Element(
        "testcase", name=_attr(check.id), classname=classname, time=f"{duration(check):.3f}"
    )
    critical = [f for f in check.findings if f.severity is Severity.CRITICAL]
    warnings = [f for f in check.findings if f.severity is Severity.WARNING]
    if check.status is Status.FAIL:
        failure = ET.SubElement(
            case,
            "failure",
            message=_attr(check.message),
            type="critical",
        )
        failure.text = "\n".join(_finding(f) for f in critical) or _body(check.message)
    elif check.status is Status.SKIP:
        ET.SubElement(case, "skipped", message=_attr(check.message))
    out = [_body(f"{check.status.label}: {check.message}")] + [_finding(f) for f in warnings]
    ET.SubElement(case, "system-out").text = "\n".join(out)
    return case


def _testsuite(report: Report, title: str, classname: str) -> ET.Element:
    checks = report.checks
    version = report.interpreter.version or "?"
    suite = ET.Element(
        "testsuite",
        name=_attr(title),
        tests=str(len(checks)),
        failures=str(sum(c.status is Status.FAIL for c in checks)),
        errors="0",
        skipped=str(sum(c.status is Status.SKIP for c in checks)),
        time=f"{report.duration_s:.3f}",
        timestamp=_attr(report.timestamp.removesuffix("Z")),
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", report.status.value),
        ("overall_status", report.overall_status.value),
        ("python_status", report.python_status),
        ("interpreter", report.interpreter.path or "?"),
        ("python_version", version),
        ("lock", str(report.lock)),
        ("project", report.project),
    ):
        ET.SubElement(properties, "property", name=name, value=_attr(value))
    for check in checks:
        suite.append(_testcase(check, _attr(classname)))
    return suite


def _error_suite(name: str, message: str) -> ET.Element:
    """A suite for what has no report (``preflight summarize``: a folder without one, a report
    that does not read): one testcase ``report`` in ``<error>``, saying why."""
    suite = ET.Element(
        "testsuite", name=_attr(f"preflight {name}"), tests="1", failures="0", errors="1",
        skipped="0", time="0.000",
    )  # fmt: skip
    case = ET.SubElement(suite, "testcase", name="report", classname="preflight", time="0.000")
    ET.SubElement(case, "error", message=_attr(message), type="error").text = _body(message)
    return suite


def junit_xml(reports: Sequence[Report], errors: Sequence[tuple[str, str]] = ()) -> str:
    """The JUnit document: ``<testsuites>`` holding one suite per report, as text.

    ``errors``: ``(name, message)`` of each interpreter that has no report, one suite each.
    """
    root = ET.Element(
        "testsuites",
        name="preflight",
        tests=str(sum(len(r.checks) for r in reports) + len(errors)),
        failures=str(sum(c.status is Status.FAIL for r in reports for c in r.checks)),
        errors=str(len(errors)),
        skipped=str(sum(c.status is Status.SKIP for r in reports for c in r.checks)),
        time=f"{sum(r.duration_s for r in reports):.3f}",
    )
    for report, (suite, classname) in zip(reports, names(reports), strict=True):
        root.append(_testsuite(report, suite, classname))
    for name, message in errors:
        root.append(_error_suite(name, message))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
