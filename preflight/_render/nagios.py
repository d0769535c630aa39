"""A report as a Nagios plugin's output: one status line with perfdata, and its exit code.

The plugin API (Nagios, Icinga, Naemon, Sensu, Checkmk's classic checks): exit 0 OK,
1 WARNING, 2 CRITICAL, 3 UNKNOWN, the reverse of preflight's own 1 = FAILED, 2 = WARNING;
the first line of stdout is ``SERVICE STATE - text | perfdata``, the lines after it are the
long output. Here:

    PREFLIGHT CRITICAL - NOT_READY on Python 3.12.1; failed: integrity (...) | duration=1.2s;;;0 ...

A READY verdict that PASSED is OK, one with warnings is WARNING, NOT_READY is CRITICAL; a
check that could not be run at all (a usage or configuration error) is UNKNOWN.

Every text from the report is shown (escaped, one line, shortened), and ``|`` is escaped too
(``\\x7c``, the form ``shown`` uses), since it would start the perfdata.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from preflight._checks.result import Status
from preflight._render.report import image_label
from preflight._report.model import Overall, Report, Verdict
from preflight._text import FIELD_LIMIT, plural, shown

LONG_OUTPUT_LINES = 20  # one per check that did not pass; a report has about ten checks


class NagiosState(enum.IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True)
class NagiosResult:
    state: NagiosState
    lines: tuple[str, ...]  # the status line first, then the long output

    @property
    def exit_code(self) -> int:
        return int(self.state)

    @property
    def text(self) -> str:
        return "".join(f"{line}\n" for line in self.lines)


def _safe(text: str, limit: int = FIELD_LIMIT) -> str:
    return shown(text, limit=limit).replace("|", "\\x7c")


def state_of(report: Report) -> NagiosState:
    if report.status is Verdict.NOT_READY or report.overall_status is Overall.FAILED:
        return NagiosState.CRITICAL
    if report.overall_status is Overall.WARNING:
        return NagiosState.WARNING
    return NagiosState.OK


def nagios(report: Report) -> NagiosResult:
    state = state_of(report)
    failed = [c for c in report.checks if c.status is Status.FAIL]
    warned = [c for c in report.checks if c.status is Status.WARN]
    skipped = [c for c in report.checks if c.status is Status.SKIP]
    passed = [c for c in report.checks if c.status is Status.PASS]
    python = _safe(report.interpreter.version or "?")
    image = image_label(report)
    where = f" in image {_safe(image)}" if image is not None else ""
    words = [f"{report.status.value} on Python {python}{where}"]
    if failed:
        first = _safe(failed[0].message, limit=200)
        words.append(f"failed: {', '.join(_safe(c.id) for c in failed)} ({first})")
    if warned:
        words.append(f"warnings: {', '.join(_safe(c.id) for c in warned)}")
    if not failed and not warned:
        # A skipped check was not judged: it is counted apart, never as passed.
        words.append(f"{plural(len(passed), 'check')} passed")
    if skipped:
        words.append(f"skipped: {', '.join(_safe(c.id) for c in skipped)}")
    total = len(report.checks)
    perfdata = (
        f"duration={report.duration_s:.3f}s;;;0 "
        f"checks_failed={len(failed)};;1;0;{total} "
        f"checks_warned={len(warned)};1;;0;{total} "
        f"checks_skipped={len(skipped)};;;0;{total}"
    )
    status_line = f"PREFLIGHT {state.name} - {'; '.join(words)} | {perfdata}"
    long_output = [
        f"{c.status.label}: {_safe(c.id)}: {_safe(c.message, limit=500)}"
        for c in report.checks
        if c.status in (Status.FAIL, Status.WARN)
    ][:LONG_OUTPUT_LINES]
    return NagiosResult(state, (status_line, *long_output))


def nagios_unknown(message: str, hint: str | None = None) -> NagiosResult:
    """A check that could not run: a usage or configuration error, an interruption."""
    lines = [f"PREFLIGHT UNKNOWN - {_safe(message, limit=500)}"]
    if hint:
        lines.append(f"hint: {_safe(hint, limit=500)}")
    return NagiosResult(NagiosState.UNKNOWN, tuple(lines))
