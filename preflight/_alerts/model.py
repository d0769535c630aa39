"""What an alert is, and the pure decision whether a report calls for one.

:func:`decide` is pure: report + saved state + time + config → :class:`Decision`. It alerts on
any critical problem, or on more warnings than ``warning_threshold`` (the seed's rule); the same
problems (a :func:`fingerprint` of what triggered) alert again only after the cooldown; a change
of problems alerts at once; the end of a problem sends a "recovered" alert.

This is the bottom of the alerts package: the sinks, the state file and the dispatcher import
it, it imports none of them.

The subject and the body (``Alert.subject``, ``Alert.text``) are plain text that mail and chat
show as lines: every field in them that comes from the report (the interpreter, the project,
each problem's check, message and remedy, the host) is :func:`preflight._text.shown` here,
where the text is built, so that no name adds a line, a header or a forged verdict, and each
is shortened. The typed fields (``problems``, ``python``, ``project``) keep the exact values for
the sinks that send structured data (JSON escapes them).
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from preflight._checks.result import Severity
from preflight._policy.alerts import AlertConfig
from preflight._render.report import REPORT_NAME
from preflight._report.model import Report
from preflight._text import MESSAGE_LIMIT, plural, shown

BODY_LIMIT = 20  # problems listed per severity in one alert; the report has them all


@dataclass(frozen=True)
class Problem:
    """One violation of a report. The fingerprint uses (check, severity, message), not remedy."""

    check: str
    severity: Severity
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
    # The alert that no sink has delivered yet (its identity: the fingerprint, or
    # "recovered"), the attempts spent on it so far (the most any one sink made) and when
    # the first of them was made. Cleared by a delivery.
    undelivered: str | None = None
    attempts: int = 0
    failing_since: datetime | None = None

    def spent(self, identity: str, now: datetime, cooldown: timedelta) -> int:
        """Attempts already spent on the alert ``identity``; they count for one cooldown from
        the first failure, after which the alert gets a fresh start (as a reminder would)."""
        if self.undelivered != identity or self.failing_since is None:
            return 0
        return self.attempts if now - self.failing_since < cooldown else 0


@dataclass(frozen=True)
class Decision:
    send: bool
    reason: str
    alert: Alert | None = None
    state: AlertState = field(default_factory=AlertState)  # to save once delivered
    identity: str | None = None  # of the alert: what its undelivered attempts count against
    spent: int = 0  # undelivered attempts already made on it (per sink, at most)
    attempts_left: int = 0  # per sink, of config.max_attempts, for this dispatch

    def undelivered(self, previous: AlertState, now: datetime, attempts: int) -> AlertState:
        """What to save when no sink delivered: ``previous`` (what was delivered before stays
        true) with ``attempts`` more spent on this alert."""
        since = previous.failing_since if self.spent and previous.failing_since else now
        return replace(
            previous,
            undelivered=self.identity,
            attempts=self.spent + attempts,
            failing_since=since,
        )


def problems_of(report: Report) -> tuple[Problem, ...]:
    return tuple(Problem(cid, f.severity, f.message, f.remedy) for cid, f in report.violations())


def python_of(report: Report) -> str:
    """The interpreter a report judged: what identifies its environment ("?" if unknown)."""
    return report.interpreter.path or "?"


# Numbers may differ on every run ("slow imports: 2.31 s", "compiled 25.3 hours ago", "5.5 hours"
# then "2 days"): the same slowness or staleness is the same problem. A number, with its unit if
# it has one, becomes "#".
_UNIT = r"%|(?:[kMGT]i?B|ms|s|sec(?:ond)?s?|min(?:ute)?s?|h|hours?|days?|weeks?|months?|years?)\b"
_NUMBER = re.compile(rf"\d+(?:\.\d+)*(?:\s?(?:{_UNIT}))?")


def fingerprint(problems: Sequence[Problem]) -> str:
    """A stable digest of the sorted (check, severity, message) set, every number masked."""
    keys = sorted({(p.check, p.severity.value, _NUMBER.sub("#", p.message)) for p in problems})
    return hashlib.sha256(json.dumps(keys).encode("utf-8")).hexdigest()[:16]


def decide(
    report: Report,
    state: AlertState,
    now: datetime,
    config: AlertConfig,
    *,
    force: bool = False,
    host: str = "",
) -> Decision:
    """Whether to alert for ``report`` given what was last sent (``state``), and what.

    ``force`` ignores the cooldown and the dedup (an alert is still only sent for a problem or
    a recovery).
    """
    problems = problems_of(report)
    critical = [p for p in problems if p.severity is Severity.CRITICAL]
    warnings = [p for p in problems if p.severity is Severity.WARNING]
    triggered = bool(critical) or len(warnings) > config.warning_threshold
    if not triggered:
        if not state.alerting:
            return Decision(
                send=False,
                reason="nothing to alert: no critical problem and "
                f"{plural(len(warnings), 'warning')} "
                f"(alerts start above {config.warning_threshold})",
                state=state,
            )
        alert = _recovered(report, state, host=host, warnings=warnings, config=config)
        return _bounded(
            Decision(
                send=True,
                reason="recovered: the problems alerted before are gone",
                alert=alert,
                state=AlertState(alerting=False, last_sent=now, subject=alert.subject),
                identity=RECOVERED_IDENTITY,
            ),
            state,
            now,
            config,
            force=force,
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
        return Decision(
            send=False,
            reason=f"suppressed: the same problems were alerted at {iso(state.last_sent)}; "
            f"the next reminder is due after {iso(state.last_sent + cooldown)}",
            state=state,
        )
    alert = _problem(report, problems, digest, host=host, critical=critical, warnings=warnings)
    return _bounded(
        Decision(
            send=True,
            reason=reason,
            alert=alert,
            state=AlertState(
                alerting=True, fingerprint=digest, last_sent=now, subject=alert.subject
            ),
            identity=digest,
        ),
        state,
        now,
        config,
        force=force,
    )


RECOVERED_IDENTITY = "recovered"


def _bounded(
    decision: Decision, state: AlertState, now: datetime, config: AlertConfig, *, force: bool
) -> Decision:
    """``decision`` with the attempts it may still make, or not sent at all once this alert
    has had ``max_attempts`` undelivered ones within the cooldown (``force`` gives it a fresh
    start)."""
    assert decision.identity is not None
    cooldown = timedelta(minutes=config.cooldown_minutes)
    spent = 0 if force else state.spent(decision.identity, now, cooldown)
    left = config.max_attempts - spent
    if left > 0:
        return replace(decision, spent=spent, attempts_left=left)
    assert state.failing_since is not None  # spent() > 0
    return Decision(
        send=False,
        reason=f"not tried again: {plural(state.attempts, 'attempt')} since "
        f"{iso(state.failing_since)} were not delivered (max_attempts = "
        f"{config.max_attempts}); the next try is after {iso(state.failing_since + cooldown)}, "
        "or sooner if the problems change",
        state=state,
        identity=decision.identity,
        spent=spent,
    )


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class _Basics:
    """The facts of the report every alert repeats."""

    project: str
    python: str
    host: str
    status: str
    overall_status: str
    timestamp: str

    @classmethod
    def of(cls, report: Report, host: str) -> _Basics:
        return cls(
            project=report.project or "?",
            python=python_of(report),
            host=host,
            status=report.status.value,
            overall_status=report.overall_status.value,
            timestamp=report.timestamp or "?",
        )

    @property
    def verdict(self) -> str:
        return f"{self.status} ({self.overall_status})"

    @property
    def where(self) -> str:
        return f" on {shown(self.host)}" if self.host else ""

    def header(self) -> list[str]:
        return [
            f"Project:     {shown(self.project)}",
            f"Interpreter: {shown(self.python)}",
            f"Host:        {shown(self.host or '?')}",
            f"Verdict:     {self.verdict} at {shown(self.timestamp)}",
        ]

    def alert(
        self,
        kind: AlertKind,
        *,
        severity: str,
        subject: str,
        lines: list[str],
        problems: tuple[Problem, ...],
        digest: str | None,
    ) -> Alert:
        return Alert(
            kind=kind,
            severity=severity,
            subject=subject,
            text="\n".join(lines) + "\n",
            project=self.project,
            python=self.python,
            host=self.host,
            status=self.status,
            overall_status=self.overall_status,
            timestamp=self.timestamp,
            problems=problems,
            fingerprint=digest,
        )


def _listing(title: str, problems: Sequence[Problem]) -> list[str]:
    if not problems:
        return []
    lines = ["", f"{title}:"]
    for p in problems[:BODY_LIMIT]:
        lines.append(f"- {shown(p.check)}: {shown(p.message, limit=MESSAGE_LIMIT)}")
        if p.remedy:
            lines.append(f"  fix: {shown(p.remedy, limit=MESSAGE_LIMIT)}")
    if len(problems) > BODY_LIMIT:
        lines.append(f"- ... and {len(problems) - BODY_LIMIT} more (see the report)")
    return lines


def _problem(
    report: Report,
    problems: tuple[Problem, ...],
    digest: str,
    *,
    host: str,
    critical: list[Problem],
    warnings: list[Problem],
) -> Alert:
    basics = _Basics.of(report, host)
    if critical:
        severity = "critical"
        subject = f"CRITICAL: {plural(len(critical), 'critical problem')}{basics.where}"
    else:
        severity = "warning"
        subject = f"WARNING: {plural(len(warnings), 'warning')}{basics.where}"
    subject += f" - {basics.verdict}"
    found = plural(len(critical), "critical problem") + " and " + plural(len(warnings), "warning")
    lines = [
        f"preflight found {found} in the environment of {shown(basics.python)}.",
        "",
        *basics.header(),
        *_listing("Critical", critical),
        *_listing("Warnings", warnings),
        "",
        f"The full report is {REPORT_NAME} in the report folder of the check.",
    ]
    return basics.alert(
        AlertKind.PROBLEM,
        severity=severity,
        subject=subject,
        lines=lines,
        problems=problems,
        digest=digest,
    )


def _recovered(
    report: Report,
    state: AlertState,
    *,
    host: str,
    warnings: list[Problem],
    config: AlertConfig,
) -> Alert:
    basics = _Basics.of(report, host)
    since = f" (alerted at {iso(state.last_sent)})" if state.last_sent else ""
    lines = [
        f"The problems alerted before{since} are gone from the environment of "
        f"{shown(basics.python)}.",
        "",
        *basics.header(),
    ]
    if warnings:
        lines += [
            "",
            f"{plural(len(warnings), 'warning')} remain; alerts start above "
            f"{config.warning_threshold}.",
            *_listing("Warnings", warnings)[1:],
        ]
    subject = f"RECOVERED{basics.where} - {basics.verdict}"
    return basics.alert(
        AlertKind.RECOVERED,
        severity="recovered",
        subject=subject,
        lines=lines,
        problems=tuple(warnings),
        digest=None,
    )
