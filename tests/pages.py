"""The HTML pages the tests render: check, summarize and monitor, with hostile names in them.

Shared by ``test_html.py`` (the markup, parsed) and ``test_html_browser.py`` (Chromium).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._ops.history import History, monitor_page
from preflight._ops.matrix import ERROR, Outcome
from preflight._ops.monitor import outcome_of
from preflight._ops.summarize import Entry, page_of
from preflight._render.html import HistoryPoint, html_page, report_page
from preflight._report.interpreter import Interpreter
from preflight._report.model import Report

# Markup, both quotes, an ampersand, a newline and a bidi override: what a name may hold.
HOSTILE = '<script>alert("pwned")</script> & \'x\' "y"\n\u202eevil'
CHECK_IDS = ("python_version", "lock_sync", "integrity", "performance")


def report(*, hostile: bool = True, failed: bool = True, host: str = "ci-1") -> Report:
    name = HOSTILE if hostile else "alpha"
    lock_sync = (
        CheckResult(
            "lock_sync", "Lock sync", Status.FAIL, f"{name}: 1.0 installed, 2.0 locked",
            (Finding(Severity.CRITICAL, f"{name} 1.0 is installed but the lock pins 2.0",
                     f"pip install '{name}==2.0'", file=f"/lock{name}.txt", line=7),),
        )
        if failed
        else CheckResult("lock_sync", "Lock sync", Status.PASS, "every pin is installed")
    )  # fmt: skip
    return Report(
        timestamp="2026-11-27T07:00:00Z",
        interpreter=Interpreter.of(path=f"/env/{name}/bin/python", version="3.12.1"),
        python_status="primary",
        checks=(
            CheckResult("python_version", "Python", Status.PASS, "3.12.1 is the primary"),
            lock_sync,
            CheckResult(
                "integrity",
                "Integrity",
                Status.WARN,
                "1 warning",
                (Finding(Severity.WARNING, f"{name}: no RECORD", "reinstall it"),),
            ),
            CheckResult("performance", "Performance", Status.SKIP, "skipped on request"),
        ),
        duration_s=2.5,
        project="/project",
        lock="/project/requirements/py3.12.txt",
        tool_version="0.1.0",
        host=f"{host}{HOSTILE}" if hostile else host,
    )


def check_html() -> str:
    return report_page(report())


def summarize_html() -> str:
    good = report(hostile=False, failed=False, host="runner-a")
    bad = report(host="runner-b")
    entries = [
        Entry(Outcome.from_report(good, session="a", spec="3.12", run_id="r"), good),
        Entry(Outcome.from_report(bad, session="b", spec="3.12", run_id="r"), bad),
        Entry(Outcome(f"c{HOSTILE}", "-", "", ERROR, message=f"/x/{HOSTILE}: does not exist")),
    ]
    return html_page(page_of(entries, generated="2026-11-27T07:00:00Z"))


def history(runs: int = 48) -> History:
    start = datetime(2026, 11, 26, 8, 0, 0)
    states = ["GOOD"] * 20 + ["DEGRADED"] * 6 + ["DOWN"] * 4 + ["GOOD"] * (runs - 30)
    return History(
        tuple(
            HistoryPoint(start + timedelta(minutes=30 * i), state, f"run {i} {HOSTILE}")
            for i, state in enumerate(states[:runs])
        )
    )


def monitor_html() -> str:
    return monitor_page(outcome_of(report()), history())


def write_pages(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    pages = {"check": check_html(), "summarize": summarize_html(), "monitor": monitor_html()}
    paths = {}
    for name, text in pages.items():
        paths[name] = folder / f"{name}.html"
        paths[name].write_text(text, encoding="utf-8")
    return paths


class Visible(HTMLParser):
    """The text a reader sees: the body's text, without style, script, head or tooltips
    (an SVG ``<title>``, an attribute)."""

    HIDDEN = frozenset({"style", "script", "head", "title", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.tags: list[str] = []
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.glue = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))
        if tag == "wbr":  # a place the line may break, not a space: the words join
            self.glue = True
        if tag not in ("br", "meta", "link", "img", "input", "hr", "wbr"):
            self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        while self.tags:
            if self.tags.pop() == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.HIDDEN.intersection(self.tags):
            if self.glue and self.parts:
                self.parts[-1] += data
            else:
                self.parts.append(data)
        self.glue = False

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def visible(page: str) -> Visible:
    parser = Visible()
    parser.feed(page)
    parser.close()
    return parser
