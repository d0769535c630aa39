"""A report as Prometheus metrics: the text exposition format, for node_exporter's textfile
collector (``--collector.textfile.directory``, which reads ``*.prom`` files).

Every metric carries the label ``interpreter`` (the judged interpreter's path), so that
several environments of one host, each with its own file, stay apart. What is exported:

* ``preflight_ready`` (1 for READY or READY_FALLBACK) and ``preflight_verdict{verdict}``
  (1 for the verdict given, 0 for the two others), ``preflight_exit_code``;
* ``preflight_check_status{check}``: 0 pass, 1 skip, 2 warn, 3 fail (the order of gravity),
  ``preflight_check_findings{check,severity}`` and ``preflight_check_duration_seconds{check}``;
* ``preflight_run_duration_seconds``, ``preflight_last_run_timestamp_seconds`` (alert on its
  age: a monitor that stopped writing is as bad as one that says DOWN), ``preflight_run_success``
  (0 when the check could not run at all: a usage or configuration error);
* ``preflight_lock_age_seconds`` (as of the run) and ``preflight_lock_compiled_timestamp_seconds``
  when the lock's age is known.

Label values from the environment (the interpreter's path) are shown (escaped, shortened) and
then escaped as the format wants (backslash, double quote, newline).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from preflight._checks.details import lock_age
from preflight._checks.result import Severity, Status
from preflight._report.model import Report, Verdict
from preflight._text import shown

_WHEEL_STATUS = "wheel_status"  # the check whose details hold the lock's age


def _label(text: str) -> str:
    # shown() has escaped every newline already: backslashes and quotes remain.
    return shown(text).replace("\\", "\\\\").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{name}="{_label(value)}"' for name, value in labels.items()) + "}"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


def _epoch(text: object) -> float | None:
    """Seconds since the epoch of an ISO 8601 time, or None for anything else."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def _metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{labels} {_number(value)}" for labels, value in samples]
    return lines


def _families(report: Report, *, ran: bool) -> Iterator[list[str]]:
    who = {"interpreter": report.interpreter.path or "?"}
    only = _labels(**who)
    yield _metric(
        "preflight_ready",
        "gauge",
        "1 if the last run's verdict lets the environment run (READY or READY_FALLBACK).",
        [(only, int(report.status is not Verdict.NOT_READY))],
    )
    yield _metric(
        "preflight_verdict",
        "gauge",
        "1 for the verdict of the last run, 0 for the others.",
        [(_labels(**who, verdict=v.value), int(report.status is v)) for v in Verdict],
    )
    yield _metric(
        "preflight_exit_code",
        "gauge",
        "The exit code of the last run (0 passed, 1 failed, 2 warnings, 3 usage).",
        [(only, report.exit_code)],
    )
    yield _metric(
        "preflight_run_success",
        "gauge",
        "1 if the last run judged the environment, 0 if the check could not run at all.",
        [(only, int(ran))],
    )
    yield _metric(
        "preflight_check_status",
        "gauge",
        "The status of each check: 0 pass, 1 skip, 2 warn, 3 fail.",
        [(_labels(**who, check=c.id), int(c.status)) for c in report.checks],
    )
    yield _metric(
        "preflight_check_findings",
        "gauge",
        "The number of findings of each check, by severity.",
        [
            (
                _labels(**who, check=c.id, severity=s.value),
                sum(f.severity is s for f in c.findings),
            )
            for c in report.checks
            for s in Severity
        ],
    )
    yield _metric(
        "preflight_check_duration_seconds",
        "gauge",
        "How long each check took to judge its facts.",
        [(_labels(**who, check=c.id), c.seconds) for c in report.checks],
    )
    yield _metric(
        "preflight_run_duration_seconds",
        "gauge",
        "How long the last run took, probes included.",
        [(only, report.duration_s)],
    )
    finished = _epoch(report.timestamp)
    if finished is not None:
        yield _metric(
            "preflight_last_run_timestamp_seconds",
            "gauge",
            "When the last run was made (Unix time): alert when it gets old.",
            [(only, finished)],
        )
    lock = next((c for c in report.checks if c.id == _WHEEL_STATUS), None)
    if lock is not None and lock.status is not Status.SKIP:
        age = lock_age(lock)
        if age.age_days is not None:
            yield _metric(
                "preflight_lock_age_seconds",
                "gauge",
                "The age of the lock at the last run (from its header, or its last git commit).",
                [(only, age.age_days * 86400)],
            )
        compiled = _epoch(age.compiled_at)
        if compiled is not None:
            yield _metric(
                "preflight_lock_compiled_timestamp_seconds",
                "gauge",
                "When the lock was compiled (Unix time).",
                [(only, compiled)],
            )


def prometheus_text(report: Report, *, ran: bool = True) -> str:
    """The metrics of one run; ``ran=False`` for a run whose check could not run at all."""
    return "".join(f"{line}\n" for family in _families(report, ran=ran) for line in family)
