"""``preflight summarize DIR...``: the reports of several jobs or hosts, merged into one matrix.

Each CI job of the matrix uploads its ``reports/`` folder (``preflight-3.12/`` holding the
JSON report and the session's ``outcome.json``); each host running the monitor has its own
report folder. Given those folders, this finds every report (and outcome) in them and makes
one row per interpreter, in the matrix model of ``nox -s preflight`` (:class:`Outcome`,
:func:`matrix_verdict`, the table, ``summary.json`` and the step summary of
:mod:`preflight._ops.matrix`), each row with its host and interpreter.

What a folder holds decides its row:

* a report (``runtime_verification_results.json``) that reads: its verdict, with the
  session's fields from an ``outcome.json`` beside it (spec, time). Nothing is believed that
  cannot be checked: a report whose checks contradict its verdict or exit code does not read
  (:meth:`Report.from_dict`), and an outcome that says other than its report (its verdict,
  overall status, failed or warned checks, Python version, substitute) is an ERROR row naming
  both files;
* an outcome of ERROR or NOT_CHECKED (the session failed before its check, or found no
  interpreter): that, whatever older report is beside it;
* an outcome without its report, a file that does not read (not JSON, not a report, a FIFO,
  too large), a DIR that does not exist or holds neither: an ERROR row naming the file and
  what is wrong with it. Never a traceback: a summary of broken jobs is what this is for.

The report is read as ``preflight alert`` reads one (:mod:`preflight._read`, then
:func:`report_from_json`, bounded by what it holds): the same typed value as a fresh check, so
the JUnit and HTML pages render it as ``check`` does. Each report is folded into its row as
soon as it is read and the rest dropped (:func:`folded`: its checks and their statuses, at most
:data:`FINDINGS_KEPT` findings, no details), so a summary of many big reports holds one of
them at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from preflight._checks.result import Finding
from preflight._ops.matrix import (
    ERROR,
    NOT_CHECKED,
    OUTCOME_NAME,
    Outcome,
    matrix_verdict,
    read_outcome,
)
from preflight._policy.spec import minor_of
from preflight._read import REPORT_LIMIT, ReadError, read_text
from preflight._render.html import Page, Row
from preflight._render.report import REPORT_NAME
from preflight._report.model import (
    EXIT_FAILED,
    EXIT_PASSED,
    EXIT_WARNING,
    Report,
    ReportFormatError,
    report_from_json,
)

__all__ = ["Entry", "collect", "exit_code_of", "page_of"]

MAX_DEPTH = 4  # DIR/artifact/reports/preflight-3.12/: deep enough for a downloaded artifact
MAX_FOLDERS = 1000  # report folders read under one DIR
FINDINGS_KEPT = 500  # per row, as many as the page shows; the JSON report has them all


@dataclass(frozen=True)
class Entry:
    """One row: its outcome (the matrix model), and the report behind it when there is one."""

    outcome: Outcome
    report: Report | None = None

    @property
    def row(self) -> Row:
        """The row as the HTML page shows it."""
        o = self.outcome
        return Row(
            verdict=o.verdict,
            host=o.host,
            interpreter=o.interpreter or "-",
            python=o.python or "?",
            report=self.report,
            message=o.message if self.report is None else "",
        )


def collect(dirs: Sequence[Path]) -> list[Entry]:
    """The rows of every DIR, in the order given (and, inside one, by folder name)."""
    entries: list[Entry] = []
    for given in dirs:
        entries += _entries_of(given)
    return entries


def _error(name: str, message: str, *, host: str | None = None) -> Entry:
    return Entry(Outcome(name, "-", "", ERROR, message=message, host=host))


def _entries_of(given: Path) -> list[Entry]:
    if given.is_file() or (given.exists() and not given.is_dir()):
        return [_entry(given.parent, report_path=given)]  # a report named directly
    if not given.is_dir():
        return [_error(str(given), f"{given}: does not exist")]
    folders = list(_report_folders(given))
    if not folders:
        return [
            _error(
                str(given),
                f"{given}: holds no preflight report ({REPORT_NAME}) or session outcome "
                f"({OUTCOME_NAME}), even {MAX_DEPTH} folders down",
            )
        ]
    entries = [_entry(folder) for folder in folders[:MAX_FOLDERS]]
    if len(folders) > MAX_FOLDERS:
        left = len(folders) - MAX_FOLDERS
        entries.append(_error(str(given), f"{given}: {left} more report folders not read"))
    return entries


def _report_folders(top: Path) -> Iterator[Path]:
    """The folders under ``top`` (itself included) holding a report or an outcome, sorted,
    at most MAX_DEPTH down; symlinked folders are not followed (no loops, no escape)."""
    base = len(top.parts)
    found: list[Path] = []
    for root, folders, files in os.walk(top, onerror=lambda exc: None):
        here = Path(root)
        if REPORT_NAME in files or OUTCOME_NAME in files:
            found.append(here)
        if len(here.parts) - base >= MAX_DEPTH:
            folders[:] = []
        folders.sort()
        if len(found) > MAX_FOLDERS:
            break
    yield from sorted(found)


def _entry(folder: Path, *, report_path: Path | None = None) -> Entry:
    path = report_path or folder / REPORT_NAME
    outcome_path = folder / OUTCOME_NAME
    outcome: Outcome | None = None
    if report_path is None and (outcome_path.exists() or outcome_path.is_symlink()):
        try:
            outcome = read_outcome(outcome_path)
        except ReadError as exc:
            return _error(str(folder), str(exc))
        except ValueError as exc:
            return _error(str(folder), f"{outcome_path}: not a session outcome: {exc}")
    if outcome is not None and outcome.verdict in (ERROR, NOT_CHECKED):
        return Entry(outcome)  # any report beside it is an older run's
    if not path.exists() and not path.is_symlink():
        verdict = outcome.verdict if outcome is not None else "?"
        return _error(
            outcome.session if outcome is not None else str(folder),
            f"{path}: missing (the outcome says {verdict}, but its report is not there)",
            host=outcome.host if outcome is not None else None,
        )
    try:
        report = read_report(path)
    except ValueError as exc:
        return _error(str(folder), str(exc), host=outcome.host if outcome is not None else None)
    return _believed(report, path, outcome, outcome_path)


def _believed(report: Report, path: Path, session: Outcome | None, session_path: Path) -> Entry:
    """The row of a report that read, unless the session's outcome beside it says otherwise:
    then neither is believed, and the row is an ERROR naming both files."""
    checked = _outcome_of(report, path, session)
    differences = _disagreements(session, checked) if session is not None else []
    if session is not None and differences:
        return _error(
            session.session,
            f"{session_path} and {path} disagree: {'; '.join(differences)}. Neither is "
            "believed: run the session again",
            host=session.host,
        )
    return Entry(checked, folded(report, path))


# What an outcome says that its report decides (Outcome.from_report derives each from it).
_DERIVED = ("verdict", "overall", "failed", "warned", "python", "substitute")


def _disagreements(session: Outcome, checked: Outcome) -> list[str]:
    """Where the session's outcome says other than the outcome its report gives."""
    return [
        f"the outcome says {name} {getattr(session, name)!r}, the report {getattr(checked, name)!r}"
        for name in _DERIVED
        if getattr(session, name) != getattr(checked, name)
    ]


def read_report(path: Path) -> Report:
    """The JSON report in ``path``; ``ValueError`` naming the file and what is wrong."""
    text = read_text(path, what="a JSON report", limit=REPORT_LIMIT)  # ReadError names it
    try:
        return report_from_json(text)
    except ReportFormatError as exc:
        raise ValueError(f"{path}: not a preflight report: {exc}") from None
    except ValueError as exc:  # JSONError: not JSON, or over a limit of what a report holds
        raise ValueError(f"{path}: not JSON that a report holds: {exc}") from None


def folded(report: Report, path: Path) -> Report:
    """What a row keeps of its report: every check with its status and message, at most
    :data:`FINDINGS_KEPT` findings in all (then one saying how many more, and where), no
    details, the interpreter's path, version and implementation. The verdict, which comes
    from the statuses, is the report's."""
    left = FINDINGS_KEPT
    checks = []
    for check in report.checks:
        kept = check.findings[: max(left, 0)]
        left -= len(check.findings)
        if len(kept) < len(check.findings):
            cut = check.findings[len(kept)]
            more = len(check.findings) - len(kept)
            note = Finding(cut.severity, f"… and {more} more findings of this check: see {path}")
            kept = (*kept, note)
        checks.append(replace(check, findings=kept, details={}))
    interpreter = report.interpreter.only("path", "version", "implementation")
    return replace(report, checks=tuple(checks), interpreter=interpreter)


def _minor(version: str) -> str:
    """The X.Y of a report's version; a garbled one (the report is untrusted) as it is."""
    try:
        return minor_of(version)
    except ValueError:
        return version


def _outcome_of(report: Report, path: Path, session: Outcome | None) -> Outcome:
    version = report.interpreter.version or ""
    spec = report.substitute_for or _minor(version) or "-"
    interpreter = report.interpreter.path or None
    if session is None:
        return Outcome.from_report(
            report, session=path.parent.name, spec=spec, run_id="", interpreter=interpreter,
            substitute=report.substitute_for is not None, seconds=report.duration_s,
            report=str(path),
        )  # fmt: skip
    return Outcome.from_report(
        report, session=session.session, spec=session.spec, run_id=session.run_id,
        interpreter=interpreter or session.interpreter,
        substitute=report.substitute_for is not None,
        seconds=session.seconds, backend=session.backend, report=str(path),
        message=session.message, timings=dict(session.timings),
    )  # fmt: skip


def exit_code_of(entries: Sequence[Entry]) -> int:
    """1 when a row is NOT_READY or ERROR; 2 when one was not checked (no interpreter); 0."""
    verdict = matrix_verdict([e.outcome for e in entries])
    if verdict == "NOT_READY":
        return EXIT_FAILED
    if verdict in ("INCOMPLETE", "NOTHING_RUN"):
        return EXIT_WARNING
    return EXIT_PASSED


def page_of(entries: Sequence[Entry], *, generated: str) -> Page:
    outcomes = [e.outcome for e in entries]
    hosts = {o.host for o in outcomes if o.host is not None}
    unknown = sum(o.host is None for o in outcomes)
    rows = len(outcomes)
    detail = f"{rows} interpreter{'s' * (rows != 1)} on {len(hosts)} host{'s' * (len(hosts) != 1)}"
    return Page(
        title="preflight summarize",
        verdict=matrix_verdict(outcomes),
        detail=detail + (f" ({unknown} of unknown host)" if unknown else ""),
        rows=tuple(e.row for e in entries),
        generated=generated,
    )
