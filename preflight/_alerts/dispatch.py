"""Alerts: decide from a JSON report whether to tell someone, then tell them, never crashing.

Three parts, each testable on its own:

* :func:`decide` is pure: report + saved state + time + config → :class:`Decision`. It alerts
  on any critical problem, or on more warnings than ``warning_threshold`` (the seed's rule);
  the same problems (a fingerprint of what triggered) alert again only after the cooldown; a
  change of problems alerts at once; the end of a problem sends a "recovered" alert.
* :func:`deliver` tries one sink with exponential backoff and returns a :class:`SinkResult`.
* :func:`dispatch` ties them to the state file. It never raises (``Exception``): a mail server
  that is down must not stop a check or a monitor. The state records a delivery only when at
  least one sink succeeded, so a total outage is retried on the next run. The monitors of one
  project share the file, one entry per interpreter: each saves its own under a lock.

``preflight alert --report PATH`` runs :func:`dispatch` for an existing report.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import fcntl
import hashlib
import json
import os
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from preflight._alerts.sinks import Sink, SinkError, build_sinks
from preflight._atomic import write_atomic
from preflight._cli.options import add_project_option
from preflight._errors import UsageError
from preflight._policy.alerts import AlertConfig
from preflight._policy.policy import load_policy
from preflight._render.report import REPORT_NAME
from preflight._report.model import EXIT_FAILED, EXIT_PASSED

STATE_SCHEMA = 1
BODY_LIMIT = 20  # problems listed per severity in one alert; the report has them all


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One violation of a report. The fingerprint uses (check, severity, message), not remedy."""

    check: str
    severity: str  # critical | warning
    message: str
    remedy: str | None = None


class AlertKind(enum.StrEnum):
    PROBLEM = "problem"
    RECOVERED = "recovered"


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    severity: str  # critical | warning | recovered
    subject: str  # one line, without the sink's prefix
    text: str  # the body, plain text
    project: str
    python: str
    host: str
    status: str  # the verdict: READY | READY_FALLBACK | NOT_READY
    overall_status: str  # PASSED | WARNING | FAILED
    timestamp: str  # of the report
    problems: tuple[Problem, ...]
    fingerprint: str | None


@dataclass(frozen=True)
class AlertState:
    """What was last delivered for one environment (one interpreter path)."""

    alerting: bool = False  # a problem alert was delivered and no recovery since
    fingerprint: str | None = None
    last_sent: datetime | None = None
    subject: str | None = None  # of the last alert, for people reading the state file


@dataclass(frozen=True)
class Decision:
    send: bool
    reason: str
    alert: Alert | None = None
    state: AlertState = field(default_factory=AlertState)  # to save once delivered


# --- reading a report --------------------------------------------------------------------------


def validate_report(data: Any) -> dict[str, Any]:
    """``data`` if it has the shape :func:`decide` needs, else ValueError saying what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("is not a JSON object")
    violations = data.get("violations")
    if not isinstance(violations, list):
        raise ValueError("has no 'violations' list: is it a preflight report?")
    for index, item in enumerate(violations):
        if not isinstance(item, dict) or not all(
            isinstance(item.get(key), str) for key in ("check", "severity", "message")
        ):
            raise ValueError(
                f"violations[{index}] must be an object with 'check', 'severity' and 'message'"
            )
        if item["severity"] not in ("critical", "warning"):
            raise ValueError(
                f"violations[{index}].severity must be 'critical' or 'warning', "
                f"not {item['severity']!r}"
            )
    return data


def problems_of(report: Mapping[str, Any]) -> tuple[Problem, ...]:
    return tuple(
        Problem(v["check"], v["severity"], v["message"], v.get("remedy"))
        for v in report.get("violations", [])
    )


# Numbers may differ on every run ("slow imports: 2.31 s", "compiled 25.3 hours ago", "5.5 hours"
# then "2 days"): the same slowness or staleness is the same problem. A number, with its unit if
# it has one, becomes "#".
_UNIT = r"%|(?:[kMGT]i?B|ms|s|sec(?:ond)?s?|min(?:ute)?s?|h|hours?|days?|weeks?|months?|years?)\b"
_NUMBER = re.compile(rf"\d+(?:\.\d+)*(?:\s?(?:{_UNIT}))?")


def fingerprint(problems: Sequence[Problem]) -> str:
    """A stable digest of the sorted (check, severity, message) set, every number masked."""
    keys = sorted({(p.check, p.severity, _NUMBER.sub("#", p.message)) for p in problems})
    return hashlib.sha256(json.dumps(keys).encode("utf-8")).hexdigest()[:16]


# --- the decision (pure) ------------------------------------------------------------------------


def decide(
    report: Mapping[str, Any],
    state: AlertState,
    now: datetime,
    config: AlertConfig,
    *,
    force: bool = False,
    host: str = "",
) -> Decision:
    """Whether to alert for ``report`` given what was last sent (``state``), and what.

    ``force`` ignores the cooldown and the dedup (an alert is still only sent for a problem or
    a recovery). ``report`` must pass :func:`validate_report`.
    """
    problems = problems_of(report)
    critical = [p for p in problems if p.severity == "critical"]
    warnings = [p for p in problems if p.severity == "warning"]
    triggered = bool(critical) or len(warnings) > config.warning_threshold
    if not triggered:
        if not state.alerting:
            return Decision(
                send=False,
                reason=f"nothing to alert: no critical problem and {len(warnings)} warning(s) "
                f"(alerts start above {config.warning_threshold})",
                state=state,
            )
        alert = _recovered(report, state, host=host, warnings=warnings, config=config)
        return Decision(
            send=True,
            reason="recovered: the problems alerted before are gone",
            alert=alert,
            state=AlertState(alerting=False, last_sent=now, subject=alert.subject),
        )

    # What triggered is what identifies the problem: warnings beside a critical one do not.
    digest = fingerprint(critical or warnings)
    cooldown = timedelta(minutes=config.cooldown_minutes)
    if force:
        reason = "forced (--force)"
    elif not state.alerting:
        reason = "new problem"
    elif state.fingerprint != digest:
        reason = "the problems changed"
    elif state.last_sent is None or now - state.last_sent >= cooldown:
        reason = f"still failing after the cooldown of {config.cooldown_minutes:g} min"
    else:
        assert state.last_sent is not None
        return Decision(
            send=False,
            reason=f"suppressed: the same problems were alerted at {_iso(state.last_sent)}; "
            f"the next reminder is due after {_iso(state.last_sent + cooldown)}",
            state=state,
        )
    alert = _problem(report, problems, digest, host=host, critical=critical, warnings=warnings)
    return Decision(
        send=True,
        reason=reason,
        alert=alert,
        state=AlertState(alerting=True, fingerprint=digest, last_sent=now, subject=alert.subject),
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _basics(report: Mapping[str, Any], host: str) -> dict[str, Any]:
    interpreter = report.get("interpreter")
    python = interpreter.get("path") if isinstance(interpreter, Mapping) else None
    return {
        "project": str(report.get("project") or "?"),
        "python": str(python or "?"),
        "host": host,
        "status": str(report.get("status") or "?"),
        "overall_status": str(report.get("overall_status") or "?"),
        "timestamp": str(report.get("timestamp") or "?"),
    }


def _header(basics: Mapping[str, Any]) -> list[str]:
    return [
        f"Project:     {basics['project']}",
        f"Interpreter: {basics['python']}",
        f"Host:        {basics['host'] or '?'}",
        f"Verdict:     {basics['status']} ({basics['overall_status']}) at {basics['timestamp']}",
    ]


def _listing(title: str, problems: Sequence[Problem]) -> list[str]:
    if not problems:
        return []
    lines = ["", f"{title}:"]
    for p in problems[:BODY_LIMIT]:
        lines.append(f"- {p.check}: {p.message}")
        if p.remedy:
            lines.append(f"  fix: {p.remedy}")
    if len(problems) > BODY_LIMIT:
        lines.append(f"- ... and {len(problems) - BODY_LIMIT} more (see the report)")
    return lines


def _where(basics: Mapping[str, Any]) -> str:
    return f" on {basics['host']}" if basics["host"] else ""


def _problem(
    report: Mapping[str, Any],
    problems: tuple[Problem, ...],
    digest: str,
    *,
    host: str,
    critical: list[Problem],
    warnings: list[Problem],
) -> Alert:
    basics = _basics(report, host)
    if critical:
        severity = "critical"
        subject = f"CRITICAL: {_plural(len(critical), 'critical problem')}{_where(basics)}"
    else:
        severity = "warning"
        subject = f"WARNING: {_plural(len(warnings), 'warning')}{_where(basics)}"
    subject += f" - {basics['status']} ({basics['overall_status']})"
    found = _plural(len(critical), "critical problem") + " and " + _plural(len(warnings), "warning")
    lines = [
        f"preflight found {found} in the environment of {basics['python']}.",
        "",
        *_header(basics),
        *_listing("Critical", critical),
        *_listing("Warnings", warnings),
        "",
        f"The full report is {REPORT_NAME} in the report folder of the check.",
    ]
    return Alert(
        kind=AlertKind.PROBLEM,
        severity=severity,
        subject=subject,
        text="\n".join(lines) + "\n",
        problems=problems,
        fingerprint=digest,
        **basics,
    )


def _recovered(
    report: Mapping[str, Any],
    state: AlertState,
    *,
    host: str,
    warnings: list[Problem],
    config: AlertConfig,
) -> Alert:
    basics = _basics(report, host)
    since = f" (alerted at {_iso(state.last_sent)})" if state.last_sent else ""
    lines = [
        f"The problems alerted before{since} are gone from the environment of {basics['python']}.",
        "",
        *_header(basics),
    ]
    if warnings:
        lines += [
            "",
            f"{_plural(len(warnings), 'warning')} remain; alerts start above "
            f"{config.warning_threshold}.",
            *_listing("Warnings", warnings)[1:],
        ]
    return Alert(
        kind=AlertKind.RECOVERED,
        severity="recovered",
        subject=f"RECOVERED{_where(basics)} - {basics['status']} ({basics['overall_status']})",
        text="\n".join(lines) + "\n",
        problems=tuple(warnings),
        fingerprint=None,
        **basics,
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- delivery -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SinkResult:
    sink: str
    ok: bool
    attempts: int
    error: str | None = None


def deliver(
    alert: Alert,
    sink: Sink,
    *,
    retries: int,
    backoff_seconds: float,
    sleep: Callable[[float], object],
    log: TextIO,
) -> SinkResult:
    """Send through one sink: up to ``1 + retries`` attempts, waiting backoff, 2x backoff, ...

    A refusal that will not change (``SinkError.retryable`` false) is not retried. Never raises
    ``Exception``: an unexpected error in a sink is a failed delivery, not a crash.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            sink.send(alert)
        except SinkError as exc:
            error = exc
        except Exception as exc:  # a bug in a sink must not take the monitor down
            error = SinkError(f"unexpected {type(exc).__name__}: {exc}", retryable=False)
        else:
            _say(log, f"{sink.name}: sent ({alert.kind.value}: {alert.subject})")
            return SinkResult(sink.name, True, attempt)
        if not error.retryable or attempt > retries:
            final = "" if error.retryable else " (not retried: trying again will not help)"
            _say(log, f"{sink.name}: failed after {_plural(attempt, 'attempt')}: {error}{final}")
            return SinkResult(sink.name, False, attempt, str(error))
        delay = backoff_seconds * 2 ** (attempt - 1)
        _say(
            log,
            f"{sink.name}: attempt {attempt} of {retries + 1} failed: {error}; "
            f"retrying in {delay:g} s",
        )
        sleep(delay)


@dataclass(frozen=True)
class DispatchResult:
    decision: Decision | None  # None when the dispatch itself failed (see error)
    results: tuple[SinkResult, ...] = ()
    error: str | None = None

    @property
    def due(self) -> bool:
        return self.decision is not None and self.decision.send

    @property
    def delivered(self) -> bool:
        return any(r.ok for r in self.results)


def dispatch(
    report: Mapping[str, Any],
    config: AlertConfig,
    *,
    project_dir: Path,
    now: datetime | None = None,
    environ: Mapping[str, str] | None = None,
    sinks: Sequence[Sink] | None = None,
    sleep: Callable[[float], object] = time.sleep,
    log: TextIO | None = None,
    force: bool = False,
    host: str | None = None,
) -> DispatchResult:
    """Decide, send through every sink, record the delivery; never raises ``Exception``.

    ``sinks`` defaults to those of ``config`` (secrets read from ``environ``, default
    ``os.environ``); ``sleep`` is what waits between retries.
    """
    out = log if log is not None else sys.stderr
    try:
        when = now if now is not None else datetime.now(UTC)
        path = config.state_path(project_dir)
        states = load_states(path, out)
        key = _state_key(report)
        decision = decide(
            validate_report(dict(report)),
            states.get(key, AlertState()),
            when,
            config,
            force=force,
            host=socket.gethostname() if host is None else host,
        )
        if not decision.send or decision.alert is None:
            _say(out, decision.reason)
            return DispatchResult(decision)
        _say(out, f"sending ({decision.reason}): {decision.alert.subject}")
        chosen = sinks if sinks is not None else build_sinks(config, environ or os.environ)
        results = tuple(
            deliver(
                decision.alert,
                sink,
                retries=config.retries,
                backoff_seconds=config.backoff_seconds,
                sleep=sleep,
                log=out,
            )
            for sink in chosen
        )
        result = DispatchResult(decision, results)
        if result.delivered:
            _save_state(path, key, decision.state, out)
        else:
            _say(out, "no sink delivered the alert; it will be sent again on the next run")
        return result
    except Exception as exc:  # an alert problem must never stop a check or a monitor
        _say(out, f"could not dispatch: {type(exc).__name__}: {exc}")
        return DispatchResult(None, error=f"{type(exc).__name__}: {exc}")


def _say(log: TextIO, message: str) -> None:
    try:
        log.write(f"alert: {message}\n")
        log.flush()
    except (OSError, ValueError):
        pass  # a closed stderr must not turn a delivered alert into a crash


# --- the state file -----------------------------------------------------------------------------


def _state_key(report: Mapping[str, Any]) -> str:
    """One entry per environment: two monitors of one project keep separate dedup state."""
    interpreter = report.get("interpreter")
    path = interpreter.get("path") if isinstance(interpreter, Mapping) else None
    return str(path or "?")


def load_states(path: Path, log: TextIO) -> dict[str, AlertState]:
    """The saved states; a missing file is none, a damaged one is logged and treated as none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _say(log, f"ignoring the unreadable state file {path}: {exc}")
        return {}
    try:
        return {key: _state_from_json(entry) for key, entry in data["environments"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        _say(log, f"ignoring the state file {path}: unexpected content ({exc!r})")
        return {}


def _state_from_json(entry: Mapping[str, Any]) -> AlertState:
    last = entry.get("last_sent")
    return AlertState(
        alerting=bool(entry["alerting"]),
        fingerprint=entry.get("fingerprint"),
        last_sent=datetime.fromisoformat(last) if last else None,
        subject=entry.get("subject"),
    )


def states_json(states: Mapping[str, AlertState]) -> str:
    return (
        json.dumps(
            {
                "schema_version": STATE_SCHEMA,
                "environments": {
                    key: {
                        "alerting": s.alerting,
                        "fingerprint": s.fingerprint,
                        "last_sent": s.last_sent.isoformat() if s.last_sent else None,
                        "subject": s.subject,
                    }
                    for key, s in sorted(states.items())
                },
            },
            indent=2,
        )
        + "\n"
    )


def _save_state(path: Path, key: str, state: AlertState, log: TextIO) -> None:
    """Record ``state`` for ``key``, keeping the entries other monitors saved meanwhile.

    The file is read again under the lock: what was loaded before the delivery (seconds ago,
    with retries) may be out of date, and writing it back would drop another monitor's entry.
    """
    try:
        with _locked(path):
            write_atomic(path, states_json({**load_states(path, log), key: state}))
    except OSError as exc:
        _say(log, f"could not save {path}: {exc.strerror or exc}; the next run may alert again")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock``, which stays: deleting it would race a waiter."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


# --- ``preflight alert`` ------------------------------------------------------------------------


def add_alert_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report",
        type=Path,
        required=True,
        help=f"the JSON report of a check (e.g. reports/{REPORT_NAME})",
    )
    add_project_option(parser)
    parser.add_argument(
        "--force",
        action="store_true",
        help="alert even if the same problems were alerted within the cooldown",
    )


def read_report(path: Path) -> dict[str, Any]:
    """The report at ``path``, or a UsageError naming the file and what is wrong with it."""
    hint = "run `preflight check` first: it writes reports/" + REPORT_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--report {path}: no such file", hint=hint) from None
    except IsADirectoryError:
        raise UsageError(
            f"--report {path}: is a folder, not a report",
            hint=f"did you mean {path / REPORT_NAME}?",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--report {path}: cannot be read: {exc}") from None
    try:
        return validate_report(json.loads(text))
    except json.JSONDecodeError as exc:
        raise UsageError(f"--report {path}: is not valid JSON: {exc}", hint=hint) from None
    except ValueError as exc:
        raise UsageError(f"--report {path}: {exc}", hint=hint) from None


def run_alert(args: argparse.Namespace) -> int:
    """0: delivered, or nothing was due; 1: an alert was due and no sink delivered it."""
    report = read_report(args.report)
    project = args.project.resolve()
    config = require_sinks(load_policy(project).alerts, project)
    result = dispatch(report, config, project_dir=project, force=args.force)
    if result.error is not None:
        return EXIT_FAILED
    return EXIT_FAILED if result.due and not result.delivered else EXIT_PASSED


def require_sinks(config: AlertConfig, project: Path) -> AlertConfig:
    if not config.enabled:
        raise UsageError(
            f"{project / 'pyproject.toml'}: no alert sink is configured",
            hint="add [tool.preflight.alerts.smtp] (host, from, to) or "
            "[tool.preflight.alerts.webhook] (the URL goes in $PREFLIGHT_WEBHOOK_URL)",
        )
    return config
