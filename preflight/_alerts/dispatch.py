"""Delivering alerts: each sink tried with retries and backoff, the delivery recorded, no crash.

* :func:`deliver` tries one sink with exponential backoff and returns a :class:`SinkResult`.
  Every attempt counts, one whose outcome is unknown (sent, never answered) too, and the
  attempts are bounded three times: ``1 + retries`` of them (retries is at most 10), no retry
  starts after :data:`SINK_SECONDS` of trying (plus one call's timeout at most), and one alert
  gets at most ``max_attempts`` per sink over all the runs that try it (the state file counts
  them) before it waits for the cooldown.
* :func:`dispatch` ties the decision (:func:`preflight._alerts.model.decide`), the sinks and
  the state file together. It never raises (``Exception``): a mail server that is down must
  not stop a check or a monitor. The state records a delivery only when at least one sink
  succeeded, so a total outage is retried on the next run, until the alert's attempts are
  spent.

``preflight alert --report PATH`` (``preflight._cli.alert``) runs :func:`dispatch` for a report
on disk; the monitor runs it after each check.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from preflight._alerts.log import say
from preflight._alerts.model import Alert, AlertState, Decision, decide
from preflight._alerts.sinks import Sink, SinkError, build_sinks
from preflight._alerts.state import load_states, save_state, state_key
from preflight._policy.alerts import AlertConfig
from preflight._report.model import Report
from preflight._text import plural

SINK_SECONDS = 60.0  # of attempts and waits per sink and dispatch: a monitor's run must end


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
    budget_seconds: float = SINK_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> SinkResult:
    """Send through one sink: up to ``1 + retries`` attempts, waiting backoff, 2x backoff, ...

    A refusal that will not change (``SinkError.retryable`` false) is not retried, and no retry
    is started whose wait would end after ``budget_seconds`` of trying. Never raises
    ``Exception``: an unexpected error in a sink is a failed delivery, not a crash.
    """
    started = clock()
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
            say(log, f"{sink.name}: sent ({alert.kind.value}: {alert.subject})")
            return SinkResult(sink.name, True, attempt)
        delay = backoff_seconds * 2 ** min(attempt - 1, 32)  # retries <= 10: never capped
        late = clock() - started + delay > budget_seconds
        if not error.retryable or attempt > retries or late:
            if not error.retryable:
                final = " (not retried: trying again will not help)"
            elif late and attempt <= retries:
                final = f" (not retried: {budget_seconds:g} s of trying are spent)"
            else:
                final = ""
            say(log, f"{sink.name}: failed after {plural(attempt, 'attempt')}: {error}{final}")
            return SinkResult(sink.name, False, attempt, str(error))
        say(
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


@dataclass(frozen=True)
class Delivery:
    """How an alert goes out: through ``sinks`` (default: those of the config, their secrets
    read from the dispatch's ``environ``), waiting between retries with ``sleep``."""

    sinks: Sequence[Sink] | None = None
    sleep: Callable[[float], object] = time.sleep


def dispatch(
    report: Report,
    config: AlertConfig,
    *,
    project_dir: Path,
    now: datetime | None = None,
    environ: Mapping[str, str] | None = None,
    log: TextIO | None = None,
    force: bool = False,
    delivery: Delivery = Delivery(),
) -> DispatchResult:
    """Decide, send through every sink, record the delivery; never raises ``Exception``.

    The sinks are those of ``config`` (secrets read from ``environ``, default ``os.environ``)
    unless ``delivery`` names others; its ``sleep`` is what waits between retries.
    """
    out = log if log is not None else sys.stderr
    try:
        when = now if now is not None else datetime.now(UTC)
        path = config.state_path(project_dir)
        states = load_states(path, out, when)
        key = state_key(report)
        previous = states.get(key, AlertState())
        decision = decide(
            report,
            previous,
            when,
            config,
            force=force,
            host=socket.gethostname(),
        )
        if not decision.send or decision.alert is None:
            say(out, decision.reason)
            return DispatchResult(decision)
        say(out, f"sending ({decision.reason}): {decision.alert.subject}")
        sinks = delivery.sinks
        chosen = sinks if sinks is not None else build_sinks(config, environ or os.environ)
        results = tuple(
            deliver(
                decision.alert,
                sink,
                # The attempts this alert has left (max_attempts over all runs) bound these.
                retries=min(config.retries, decision.attempts_left - 1),
                backoff_seconds=config.backoff_seconds,
                sleep=delivery.sleep,
                log=out,
            )
            for sink in chosen
        )
        result = DispatchResult(decision, results)
        if result.delivered:
            save_state(path, key, decision.state, out)
        else:
            made = max((r.attempts for r in results), default=0)
            failed = decision.undelivered(previous, when, made)
            left = config.max_attempts - failed.attempts
            if left > 0:
                say(
                    out,
                    "no sink delivered the alert; it will be sent again on the next run "
                    f"({plural(left, 'attempt')} left of max_attempts = {config.max_attempts})",
                )
            else:
                say(
                    out,
                    f"no sink delivered the alert in {plural(failed.attempts, 'attempt')}: "
                    f"not tried again until the cooldown of {config.cooldown_minutes:g} min has "
                    "passed or the problems change",
                )
            save_state(path, key, failed, out)
        return result
    except Exception as exc:  # an alert problem must never stop a check or a monitor
        say(out, f"could not dispatch: {type(exc).__name__}: {exc}")
        return DispatchResult(None, error=f"{type(exc).__name__}: {exc}")
