"""The monitor's history, read back from its daily logs for the page (``monitor --html``).

The monitor appends one line per run to ``runtime_health_YYYYmmdd.log``
(``2024-12-02 10:05:00 - health DEGRADED - READY (WARNING) - warn: performance``) and prunes
the logs after ``--keep-days``: those files are the history, so no second store is kept. Lines
of another kind (started, stopped, state changed, alert sent) are not runs and are passed
over; so is a line that does not parse (a log edited by hand, a line cut by a full disk): a
page is never refused for one bad line. Each file is read bounded (:mod:`preflight._read`),
and one that cannot be read is named in the notes, not a reason to fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from preflight._ops.monitor import DAILY_PATTERN, RunOutcome
from preflight._read import MIB, ReadError, read_text
from preflight._render.html import HistoryPoint, Page, Row, html_page

__all__ = ["History", "monitor_page", "read_history"]

LOG_LIMIT = 16 * MIB  # one day at one run a second is about 6 MB
POINTS_LIMIT = 20_000  # the most recent runs kept for the chart (14 days every minute)
_RUN = re.compile(
    r"(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) - health (?P<health>GOOD|DEGRADED|DOWN)"
    r"(?: - (?P<text>.*))?\Z"
)


@dataclass(frozen=True)
class History:
    points: tuple[HistoryPoint, ...]  # oldest first
    notes: tuple[str, ...] = ()  # the daily logs that could not be read, and why


def read_history(log_dir: Path) -> History:
    """Every run in the daily logs of ``log_dir``, oldest first (the last POINTS_LIMIT)."""
    try:
        names = sorted(entry.name for entry in log_dir.iterdir() if DAILY_PATTERN.match(entry.name))
    except OSError:
        return History(())  # no log yet
    points: list[HistoryPoint] = []
    notes: list[str] = []
    for name in names:
        try:
            text = read_text(log_dir / name, what="a daily monitor log", limit=LOG_LIMIT)
        except ReadError as exc:
            notes.append(f"not read: {exc}")
            continue
        for line in text.splitlines():
            point = _point(line)
            if point is not None:
                points.append(point)
    points.sort(key=lambda p: p.when)  # a clock set back, or logs of two time zones
    return History(tuple(points[-POINTS_LIMIT:]), tuple(notes))


def _point(line: str) -> HistoryPoint | None:
    match = _RUN.match(line)
    if match is None:
        return None
    try:
        when = datetime.strptime(match["when"], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None  # 2024-02-31
    return HistoryPoint(when, match["health"], match["text"] or "")


def monitor_page(outcome: RunOutcome, history: History) -> str:
    """The monitor's page after a run: its health first, the run's matrix and findings (or
    why the check could not run), then the history of the daily logs as a chart."""
    report = outcome.report
    if outcome.judged:
        row = Row.of(report)
    else:
        row = Row(
            verdict="ERROR",
            host=report.host,
            interpreter=report.interpreter.path or "-",
            python="?",
            message=f"the check could not run: {outcome.detail}",
        )
    return html_page(
        Page(
            title="preflight monitor",
            verdict=outcome.health.value,
            detail=outcome.summary + (f" - {outcome.detail}" if outcome.detail else ""),
            rows=(row,),
            history=history.points,
            generated=report.timestamp,
            notes=history.notes,
        )
    )
