"""The result as one HTML page a person opens: ``--html FILE`` of check, summarize and monitor.

One self-contained file, to attach to a CI run or serve from a folder: no script, no external
style sheet, image or font (the CSS is inline, the chart inline SVG, the fonts the system's),
and a Content-Security-Policy that says so, so that even a browser that found markup in it
would load and run nothing. In reading order:

1. the verdict, in words and colour;
2. the matrix: one row per interpreter judged (host, Python, path, verdict), one column per
   check, each cell a status in colour *and* text (``✓ pass``, ``✗ fail``...), so it reads the
   same printed in grey or to a colour-blind reader;
3. the findings of each interpreter, with their remedies and the lock line they point at;
4. for the monitor, its history: a chart of the health over time, and the last runs as a
   table.

Every text that comes from a report (names, paths, messages, remedies, a host name) or from a
monitor log is shown first (:func:`preflight._text.shown`: controls escaped, long text cut),
then HTML-escaped with ``html.escape(..., quote=True)``: a distribution named ``<script>`` or
a path with quotes is text on the page, never markup or an attribute's end.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._report.model import Overall, Report, Verdict
from preflight._text import FIELD_LIMIT, MESSAGE_LIMIT, plural, shown

__all__ = ["HistoryPoint", "Page", "Row", "html_page", "report_page"]

FINDINGS_LIMIT = 500  # per interpreter on the page; the JSON report has them all
HISTORY_TABLE = 20  # the last runs listed under the chart
CHART_POINTS = 300  # runs drawn as dots (with a tooltip); the line covers every run


@dataclass(frozen=True)
class Row:
    """One interpreter on the page: its report, or why there is none (an ERROR row)."""

    verdict: str  # READY | READY_FALLBACK | NOT_READY | ERROR | NOT_CHECKED
    host: str | None  # None: not recorded
    interpreter: str  # its path, or "-"
    python: str  # its version, or "?"
    report: Report | None = None
    message: str = ""  # why there is no report, or a note on the row

    @classmethod
    def of(cls, report: Report) -> Row:
        return cls(
            verdict=report.status.value,
            host=report.host,
            interpreter=report.interpreter.path or "-",
            python=report.interpreter.version or "?",
            report=report,
        )


@dataclass(frozen=True)
class HistoryPoint:
    """One run of the monitor, as its daily log recorded it."""

    when: datetime
    health: str  # GOOD | DEGRADED | DOWN
    text: str  # the rest of the log line: "READY (WARNING) - warn: performance"


@dataclass(frozen=True)
class Page:
    title: str  # "preflight check", "preflight summarize", "preflight monitor"
    verdict: str  # the word that decides: READY, NOT_READY, DOWN...
    detail: str = ""  # beside it: "(FAILED) in 1.25 s", "3 interpreters"
    rows: tuple[Row, ...] = ()
    history: tuple[HistoryPoint, ...] | None = None  # None: not a monitor page
    generated: str = ""  # when the page was written (ISO 8601)
    notes: tuple[str, ...] = field(default_factory=tuple)  # lines under the verdict
    level: str = ""  # the banner's colour (good, warn, bad, none); "": the verdict's


def _t(text: object, limit: int | None = FIELD_LIMIT) -> str:
    """Untrusted text as HTML text or a quoted attribute value: shown, then escaped."""
    return html.escape(shown(str(text), limit=limit), quote=True)


# Each status in colour and text: the class picks the colour, the text says the same.
_LEVEL = {
    "READY": "good",
    "READY_FALLBACK": "good",
    "READY_WITH_SUBSTITUTE": "good",
    "GOOD": "good",
    "PASSED": "good",
    "WARNING": "warn",
    "DEGRADED": "warn",
    "INCOMPLETE": "warn",
    "NOT_CHECKED": "warn",
    "NOT_READY": "bad",
    "ERROR": "bad",
    "DOWN": "bad",
    "FAILED": "bad",
}
_CELL = {
    Status.PASS: ("good", "✓ pass"),
    Status.WARN: ("warn", "⚠ warn"),
    Status.FAIL: ("bad", "✗ fail"),
    Status.SKIP: ("none", "\u2013 skip"),
}
_SEVERITY = {Severity.CRITICAL: "bad", Severity.WARNING: "warn"}
_COLOURS = {"good": "#1a7f37", "warn": "#9a6700", "bad": "#cf222e", "none": "#6e7781"}
_HEALTH_LANES = ("GOOD", "DEGRADED", "DOWN")

_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  margin: 0 auto; padding: 1.5rem; max-width: 75rem; color: #1f2328; background: #fff; }
h1 { font-size: 1.1rem; font-weight: 600; margin: 0 0 .75rem; color: #59636e; }
h2 { font-size: 1.15rem; margin: 2rem 0 .6rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
.verdict { border-radius: 8px; padding: 1rem 1.25rem; color: #fff; }
.verdict .word { font-size: 2rem; font-weight: 700; letter-spacing: .02em; }
.verdict .detail { font-size: 1.05rem; margin-left: .6rem; }
.verdict.good { background: #1a7f37; } .verdict.warn { background: #9a6700; }
.verdict.bad { background: #cf222e; } .verdict.none { background: #6e7781; }
.notes { margin: .5rem 0 0; color: #59636e; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .25rem 0; }
th, td { border: 1px solid #d1d9e0; padding: .3rem .55rem; text-align: left;
  vertical-align: top; overflow-wrap: break-word; }
td.short { white-space: nowrap; }
td.message { min-width: 20rem; overflow-wrap: anywhere; }
th { background: #f6f8fa; font-weight: 600; }
td.status { font-weight: 600; white-space: nowrap; }
td.good { background: #dafbe1; color: #116329; } td.warn { background: #fff8c5; color: #7d4e00; }
td.bad { background: #ffebe9; color: #a40e26; } td.none { background: #f6f8fa; color: #59636e; }
td.absent { color: #59636e; }
td.path { min-width: 12rem; }
.path, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: .85em; overflow-wrap: anywhere; }
ul.findings { padding-left: 1.2rem; }
ul.findings li { margin: .35rem 0; overflow-wrap: anywhere; }
p.skipped { color: #59636e; overflow-wrap: anywhere; }
.sev { display: inline-block; border-radius: 4px; padding: 0 .35rem; font-size: .8em;
  font-weight: 700; color: #fff; }
.sev.bad { background: #cf222e; } .sev.warn { background: #9a6700; }
.fix { color: #116329; margin-left: 1rem; } .where { color: #59636e; }
.chart { max-width: 100%; height: auto; border: 1px solid #d1d9e0; border-radius: 6px; }
footer { margin-top: 2rem; color: #59636e; font-size: .85em; }
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _level(word: str) -> str:
    return _LEVEL.get(word, "none")


def _check_ids(rows: Sequence[Row]) -> list[str]:
    """The columns: every check of any row, in the order the reports list them."""
    ids: dict[str, None] = {}
    for row in rows:
        for check in row.report.checks if row.report is not None else ():
            ids.setdefault(check.id, None)
    return list(ids)


def _where(row: Row) -> str:
    return f"{row.host or 'unknown host'} · Python {row.python}"


def _matrix(rows: Sequence[Row]) -> list[str]:
    ids = _check_ids(rows)
    head = ["host", "Python", "interpreter", "verdict", *ids]
    # The table scrolls inside its own box when it is wider than the page, never the page.
    out = [
        "<h2>Interpreters &times; checks</h2>",
        '<div class="scroll">',
        '<table class="matrix">',
        "<thead><tr>" + "".join(f"<th>{_breakable(h)}</th>" for h in head) + "</tr></thead>",
        "<tbody>",
    ]
    for row in rows:
        verdict = row.verdict
        cells = [
            f'<td class="short">{_t(row.host or "unknown")}</td>',
            f'<td class="short">{_t(row.python)}</td>',
            f'<td class="path">{_t(row.interpreter)}</td>',
            f'<td class="status {_level(verdict)}">{_t(verdict)}</td>',
        ]
        if row.report is None:
            span = max(len(ids), 1)
            cells.append(
                f'<td class="message" colspan="{span}">{_t(row.message, MESSAGE_LIMIT)}</td>'
            )
        else:
            by_id: dict[str, CheckResult] = {c.id: c for c in row.report.checks}
            for cid in ids:
                check = by_id.get(cid)
                if check is None:
                    cells.append('<td class="absent">not run</td>')
                    continue
                level, text = _CELL[check.status]
                title = _t(check.message, MESSAGE_LIMIT)
                cells.append(f'<td class="status {level}" title="{title}">{text}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>", "</div>"]
    return out


def _breakable(check_id: str) -> str:
    """A column heading that may wrap after each ``_`` (``package_<wbr>dependencies``)."""
    return "_<wbr>".join(_t(part) for part in check_id.split("_"))


def _finding(check_id: str, f: Finding, *, fix_given: bool = False) -> str:
    """One finding; ``fix_given``: its check's same fix is on the page already (above)."""
    level = _SEVERITY.get(f.severity, "none")
    where = ""
    if f.file is not None:
        line = f", line {f.line}" if f.line is not None else ""
        where = f' <span class="where">({_t(f.file)}{line})</span>'
    fix = ""
    if f.remedy and not fix_given:
        fix = f'<div class="fix">fix: {_t(f.remedy, MESSAGE_LIMIT)}</div>'
    elif f.remedy:
        fix = '<div class="fix">fix: as above</div>'
    return (
        f'<li><span class="sev {level}">{_t(f.severity.value)}</span> '
        f"<code>{_t(check_id)}</code> {_t(f.message, MESSAGE_LIMIT)}{where}{fix}</li>"
    )


def _findings(rows: Sequence[Row]) -> list[str]:
    out = ["<h2>Findings</h2>"]
    any_found = False
    skips = 0
    for row in rows:
        if row.report is None:
            if row.message:
                any_found = True
                out.append(f"<h3>{_t(_where(row))}</h3>")
                out.append(
                    f'<ul class="findings"><li><span class="sev bad">{_t(row.verdict)}</span> '
                    f"{_t(row.message, MESSAGE_LIMIT)}</li></ul>"
                )
            continue
        found = row.report.violations()
        skipped = _skipped(row.report)
        skips += len(skipped)
        if not found and not skipped:
            continue
        out.append(f'<h3>{_t(_where(row))} <span class="path">{_t(row.interpreter)}</span></h3>')
        if found:
            any_found = True
            out.append('<ul class="findings">')
            given: set[tuple[str, str | None]] = set()
            for cid, f in found[:FINDINGS_LIMIT]:
                out.append(_finding(cid, f, fix_given=(cid, f.remedy) in given))
                given.add((cid, f.remedy))
            if len(found) > FINDINGS_LIMIT:
                more = len(found) - FINDINGS_LIMIT
                out.append(f"<li>… and {more} more: see the JSON report</li>")
            out.append("</ul>")
        if skipped:
            # Not judged, so not passed: each named with why.
            listed = "; ".join(
                f"<code>{_t(c.id)}</code> ({_t(c.message, MESSAGE_LIMIT)})" for c in skipped
            )
            out.append(
                f'<p class="skipped">{plural(len(skipped), "check")} skipped, '
                f"not judged: {listed}</p>"
            )
    if not any_found:
        if skips:
            out.append(
                "<p>No findings in the checks that ran; "
                f"{plural(skips, 'check was', 'checks were')} skipped (not judged).</p>"
            )
        else:
            out.append("<p>No findings: every check passed clean.</p>")
    return out


def _skipped(report: Report) -> list[CheckResult]:
    return [c for c in report.checks if c.status is Status.SKIP]


def _chart(points: Sequence[HistoryPoint]) -> list[str]:
    """The health over time as inline SVG: one lane per state, a coloured line through the
    runs (each segment in the colour of its state), a dot with a tooltip for the last runs,
    and the lanes and the first and last times as text."""
    width, height, left, right, top, lane = 960, 170, 96, 16, 16, 42
    span = width - left - right
    first, last = points[0].when, points[-1].when
    total = (last - first).total_seconds()

    def x(p: HistoryPoint) -> float:
        if total <= 0:
            return left + span / 2
        return left + span * (p.when - first).total_seconds() / total

    def y(health: str) -> float:
        index = _HEALTH_LANES.index(health) if health in _HEALTH_LANES else 2
        return top + lane * index + lane / 2

    svg = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="health over time">'
    ]
    for health in _HEALTH_LANES:
        colour = _COLOURS[_level(health)]
        svg.append(
            f'<line x1="{left}" y1="{y(health):.1f}" x2="{width - right}" y2="{y(health):.1f}" '
            'stroke="#d1d9e0" stroke-dasharray="4 4"/>'
        )
        svg.append(
            f'<text x="{left - 8}" y="{y(health) + 5:.1f}" text-anchor="end" '
            f'font-size="13" font-weight="600" fill="{colour}">{health}</text>'
        )
    for a, b in itertools.pairwise(points):
        colour = _COLOURS[_level(a.health)]
        svg.append(
            f'<line x1="{x(a):.1f}" y1="{y(a.health):.1f}" x2="{x(b):.1f}" '
            f'y2="{y(a.health):.1f}" stroke="{colour}" stroke-width="4"/>'
        )
        if a.health != b.health:
            svg.append(
                f'<line x1="{x(b):.1f}" y1="{y(a.health):.1f}" x2="{x(b):.1f}" '
                f'y2="{y(b.health):.1f}" stroke="#8c959f" stroke-width="1.5"/>'
            )
    for p in points[-CHART_POINTS:]:
        colour = _COLOURS[_level(p.health)]
        svg.append(
            f'<circle cx="{x(p):.1f}" cy="{y(p.health):.1f}" r="4.5" fill="{colour}">'
            f"<title>{p.when:%Y-%m-%d %H:%M:%S} {_t(p.health)}: {_t(p.text)}</title></circle>"
        )
    base = top + lane * 3 + 18
    svg.append(
        f'<text x="{left}" y="{base}" font-size="12" fill="#59636e">{first:%Y-%m-%d %H:%M}</text>'
    )
    if total > 0:
        svg.append(
            f'<text x="{width - right}" y="{base}" font-size="12" fill="#59636e" '
            f'text-anchor="end">{last:%Y-%m-%d %H:%M}</text>'
        )
    svg.append("</svg>")
    return ["".join(svg)]


def _history(points: Sequence[HistoryPoint]) -> list[str]:
    out = ["<h2>Health over time</h2>"]
    if not points:
        out.append("<p>No runs in the monitor's daily logs yet.</p>")
        return out
    counts = {h: sum(p.health == h for p in points) for h in _HEALTH_LANES}
    summary = ", ".join(f"{n} {h}" for h, n in counts.items() if n)
    out.append(f"<p>{len(points)} runs from the daily logs: {summary}.</p>")
    out += _chart(points)
    out.append(f"<h3>The last {min(len(points), HISTORY_TABLE)} runs</h3>")
    out.append('<div class="scroll">')
    out.append("<table><thead><tr><th>time</th><th>health</th><th>result</th></tr></thead>")
    out.append("<tbody>")
    for p in reversed(points[-HISTORY_TABLE:]):
        out.append(
            f"<tr><td>{p.when:%Y-%m-%d %H:%M:%S}</td>"
            f'<td class="status {_level(p.health)}">{_t(p.health)}</td>'
            f'<td class="message">{_t(p.text, MESSAGE_LIMIT)}</td></tr>'
        )
    out.append("</tbody></table></div>")
    return out


def html_page(page: Page) -> str:
    """The page as one HTML document (text)."""
    level = page.level if page.level in _COLOURS else _level(page.verdict)
    detail = f' <span class="detail">{_t(page.detail)}</span>' if page.detail else ""
    body = [
        f"<h1>{_t(page.title)}</h1>",
        f'<div class="verdict {level}" id="verdict">'
        f'<span class="word">{_t(page.verdict)}</span>{detail}</div>',
    ]
    if page.notes:
        body.append(
            '<div class="notes">' + "<br>".join(_t(n, MESSAGE_LIMIT) for n in page.notes) + "</div>"
        )
    if page.rows:
        body += _matrix(page.rows)
        body += _findings(page.rows)
    if page.history is not None:
        body += _history(page.history)
    generated = f" at {_t(page.generated)}" if page.generated else ""
    body.append(f"<footer>written by {_t(page.title)}{generated}</footer>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_t(page.title)}: {_t(page.verdict)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def report_page(report: Report, *, title: str = "preflight check") -> str:
    """The page of one check: its verdict, its row of the matrix and its findings."""
    warned = report.status is not Verdict.NOT_READY and report.overall_status is Overall.WARNING
    skipped = len(_skipped(report))
    detail = f"({report.overall_status.value}) in {report.duration_s:.2f} s"
    if skipped:
        detail += f"; {plural(skipped, 'check')} skipped"
    return html_page(
        Page(
            title=title,
            verdict=report.status.value,
            level="warn" if warned else "",
            detail=detail,
            rows=(Row.of(report),),
            generated=report.timestamp,
            notes=(f"project {report.project}; lock {report.lock or '-'}",),
        )
    )
