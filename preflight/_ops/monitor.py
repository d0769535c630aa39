"""The health monitor: re-check an installed environment on an interval, log its health.

Each run appends one line to the daily log ``runtime_health_YYYYmmdd.log`` (local time):

    2024-12-02 10:05:00 - health DEGRADED - READY (WARNING) - warn: performance

GOOD is PASSED, DEGRADED is WARNING, DOWN is FAILED (or NOT_READY) or a check that could not run
at all. A change of state gets its own line ("state changed DEGRADED -> GOOD"). Daily logs and
the per-run check logs older than ``--keep-days`` are deleted, so the history stays bounded.
After each run the alerts of the policy are dispatched, if any sink is configured.

One failed run never ends the monitor: it is logged as DOWN with its message. SIGTERM and
SIGINT end it cleanly at any point: the wait between runs wakes at once, and a run in progress
is abandoned (the subprocess boundary kills the check's children). It then logs "stopped" and
exits 0 for SIGTERM, 130 for SIGINT. A log line is written whole or not at all.

:class:`Monitor` is given the check to run (``Callable[[], Report]``): it knows no command
line (``preflight._cli.monitor`` builds it from the options). Every run, even one whose check
could not run at all, gives a typed :class:`Report`, so the alerts see one type.
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import select
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TextIO

from preflight._alerts.dispatch import dispatch
from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._errors import PreflightError
from preflight._facts.probes import locate
from preflight._ops.sdnotify import Notifier
from preflight._policy.alerts import AlertConfig
from preflight._report.interpreter import Interpreter
from preflight._report.model import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PASSED,
    EXIT_USAGE,
    Overall,
    Report,
    Verdict,
)
from preflight._text import shown
from preflight._version import __version__

DAILY_LOG = "runtime_health_{day}.log"  # day: YYYYmmdd
DAILY_PATTERN = re.compile(r"runtime_health_(\d{8})\.log\Z")
_RUN_LOG = re.compile(r"preflight_check_(\d{8})_\d{6}\.log\Z")  # written by each check
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A line of the monitor is our words around one or two fields of the environment (an error, a
# path, a sink's answer): the whole line is shown once (escaped, shortened to this length).
LINE_LIMIT = 1000


class Health(enum.StrEnum):
    GOOD = "GOOD"
    DEGRADED = "DEGRADED"
    DOWN = "DOWN"


@dataclass(frozen=True)
class RunOutcome:
    """One run of the check, as the monitor logs and alerts on it."""

    health: Health
    summary: str  # "READY (WARNING)", or "the check could not run"
    detail: str  # "fail: a, b; warn: c", or the error
    report: Report  # what the alerts judge (a one-check report when the check could not run)
    exit_code: int  # what --once exits with
    hint: str | None = None
    judged: bool = True  # False: the check could not run at all (nothing was judged)

    def line(self) -> str:
        return f"health {self.health.value} - {self.summary}" + (
            f" - {self.detail}" if self.detail else ""
        )


def outcome_of(report: Report) -> RunOutcome:
    overall = report.overall_status
    if report.status is Verdict.NOT_READY or overall is Overall.FAILED:
        health = Health.DOWN
    elif overall is Overall.WARNING:
        health = Health.DEGRADED
    else:
        health = Health.GOOD
    parts = []
    for status, label in ((Status.FAIL, "fail"), (Status.WARN, "warn")):
        ids = [c.id for c in report.checks if c.status is status]
        if ids:
            parts.append(f"{label}: {', '.join(ids)}")
    return RunOutcome(
        health=health,
        summary=f"{report.status.value} ({overall.value})",
        detail="; ".join(parts),
        report=report,
        exit_code=report.exit_code,
    )


def failed_run(
    message: str, *, python: str, project: Path, exit_code: int, hint: str | None = None
) -> RunOutcome:
    """A check that could not run is DOWN, and alerts as one critical problem.

    Its report holds one failed ``monitor`` check saying what broke (not a check of the
    environment: nothing was judged), with the interpreter's status "unknown": NOT_READY.
    """
    what = f"the check could not run: {message}"
    report = Report(
        timestamp=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        interpreter=Interpreter.of(path=python),
        python_status="unknown",
        checks=(
            CheckResult(
                "monitor",
                "Monitor run",
                Status.FAIL,
                what,
                (Finding(Severity.CRITICAL, what, hint),),
            ),
        ),
        duration_s=0.0,
        project=str(project),
        lock=None,
        tool_version=__version__,
        host=socket.gethostname(),
    )
    return RunOutcome(
        Health.DOWN, "the check could not run", message, report, exit_code, hint=hint, judged=False
    )


# --- bounded history -----------------------------------------------------------------------


def prune_logs(folders: Iterable[Path], today: date, keep_days: int) -> list[Path]:
    """Delete our daily and per-run logs dated more than ``keep_days`` before ``today``.

    Only files whose names we write are touched; a name with an impossible date is left alone.
    """
    cutoff = today - timedelta(days=keep_days)
    removed = []
    for folder in dict.fromkeys(folders):  # the same folder twice is pruned once
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue  # not created yet
        for entry in entries:
            match = DAILY_PATTERN.match(entry.name) or _RUN_LOG.match(entry.name)
            if match is None:
                continue
            try:
                day = datetime.strptime(match.group(1), "%Y%m%d").date()
            except ValueError:
                continue
            if day < cutoff and entry.is_file():
                try:
                    entry.unlink()
                except OSError:
                    continue  # gone already, or not ours to delete: never a reason to stop
                removed.append(entry)
    return removed


# --- stopping on a signal ------------------------------------------------------------------


class _Stop(BaseException):
    """Raised by the signal handler to abandon a run in progress (not an ``Exception``)."""


class _Signals:
    """SIGTERM / SIGINT as a stop request: wakes :meth:`wait`, aborts an :meth:`abortable` run.

    Outside an abortable block the handler only records the signal and writes a byte to a
    socket pair that :meth:`wait` selects on (a flag alone would not wake a blocked wait).
    A SIGINT that is ignored when we start (``nohup``, a background job) stays ignored.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._abortable = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for sig in _STOP_SIGNALS:
            current = signal.getsignal(sig)
            if sig == signal.SIGINT and current is signal.SIG_IGN:
                continue
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._wake_r.close()
        self._wake_w.close()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")
        if self._abortable:
            self._abortable = False  # raise once; a second signal during cleanup is recorded
            raise _Stop

    @contextlib.contextmanager
    def abortable(self) -> Iterator[None]:
        """A signal inside raises :class:`_Stop` at once; one before entering, on entry."""
        if self.signum is not None:
            raise _Stop
        self._abortable = True
        try:
            yield
        finally:
            self._abortable = False

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True as soon as a stop was requested."""
        deadline = time.monotonic() + seconds
        while self.signum is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            select.select([self._wake_r], [], [], remaining)
            with contextlib.suppress(OSError):
                self._wake_r.recv(64)
        return True


# --- the loop ------------------------------------------------------------------------------


def _local_now() -> datetime:
    return datetime.now().astimezone()


@dataclass(frozen=True)
class Monitor:
    check: Callable[[], Report]  # one run of the check (raises on a check that cannot run)
    alerts: Callable[[], AlertConfig | None]  # the alert configuration, read for each run
    log_dir: Path
    project_dir: Path
    python: str
    interval: float = 300.0
    once: bool = False
    keep_days: int = 14
    prune_dirs: tuple[Path, ...] = ()  # besides log_dir: where the per-run check logs go
    stderr: TextIO | None = None
    clock: Callable[[], datetime] = _local_now
    environ: Mapping[str, str] | None = None  # where alert secrets are read (default os.environ)
    # Told of every run once it is logged (the CLI writes its --prometheus file there); a
    # PreflightError it raises is logged, and the monitor goes on.
    after_run: Callable[[RunOutcome], None] | None = None
    notifier: Notifier | None = None  # systemd's notify socket, when run as a service

    def run(self) -> int:
        previous: Health | None = None
        with _Signals() as signals:
            try:
                if not self.once:
                    self._log(
                        f"monitoring started (every {self.interval:g} s; python {self.python}; "
                        f"project {self.project_dir})"
                    )
                if self.notifier is not None:
                    self.notifier.ready(self._status("started; the first check is running"))
                while True:
                    self._prune()
                    with signals.abortable():
                        outcome = self._check()
                    self._log(outcome.line())
                    if outcome.hint:
                        self._say(f"hint: {outcome.hint}")
                    if previous is not None and previous is not outcome.health:
                        self._log(f"state changed {previous.value} -> {outcome.health.value}")
                    previous = outcome.health
                    self._after(outcome)
                    with signals.abortable():
                        self._alert(outcome)
                    if self.once:
                        return outcome.exit_code
                    if self.notifier is not None:
                        self.notifier.status(
                            self._status(f"{outcome.line()}; next run in {self.interval:g} s")
                        )
                    if self._wait(signals):
                        break
            except _Stop:
                pass
            signum = signals.signum if signals.signum is not None else signal.SIGTERM
            self._log(f"stopped ({signal.Signals(signum).name})")
            if self.notifier is not None:
                self.notifier.stopping(f"stopped ({signal.Signals(signum).name})")
            return EXIT_INTERRUPTED if signum == signal.SIGINT else EXIT_PASSED

    def _wait(self, signals: _Signals) -> bool:
        """Wait the interval (True when stopped), pinging systemd's watchdog on the way: at
        the end of a run and every half period while waiting. A run itself is bounded by the
        probes' timeouts; ``WatchdogSec`` must be longer than the longest run
        (docs/operations.md)."""
        notifier = self.notifier
        every = notifier.ping_every if notifier is not None else None
        if notifier is None or every is None:
            return signals.wait(self.interval)
        deadline = time.monotonic() + self.interval
        while True:
            notifier.watchdog()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if signals.wait(min(remaining, every)):
                return True

    @staticmethod
    def _status(text: str) -> str:
        """A STATUS= text: shown, since it may quote an error or a check's id."""
        return shown(text, limit=LINE_LIMIT)

    def _after(self, outcome: RunOutcome) -> None:
        if self.after_run is None:
            return
        try:
            self.after_run(outcome)
        except PreflightError as exc:
            self._log(exc.message)

    def _check(self) -> RunOutcome:
        try:
            report = self.check()
        except PreflightError as exc:
            return self._failed(exc.message, EXIT_USAGE, hint=exc.hint)
        except Exception as exc:  # one broken run must not end the monitor
            return self._failed(f"{type(exc).__name__}: {exc}", EXIT_FAILED)
        return outcome_of(report)

    def _failed(self, message: str, exit_code: int, *, hint: str | None = None) -> RunOutcome:
        # The interpreter as a judged run names it (probes.locate, made absolute, never
        # resolved), so that a failed run's metrics and alerts keep the same label.
        python = str(locate(self.python).absolute())
        return failed_run(
            message, python=python, project=self.project_dir, exit_code=exit_code, hint=hint
        )

    def _alert(self, outcome: RunOutcome) -> None:
        try:
            config = self.alerts()
        except PreflightError as exc:
            self._say(f"alert: not sent: {exc.message}")
            return
        if config is None or not config.enabled:
            return
        result = dispatch(
            outcome.report,
            config,
            project_dir=self.project_dir,
            environ=self.environ,
            log=self._stream,
        )
        if not result.due:
            return
        sent = [r.sink for r in result.results if r.ok]
        failed = [f"{r.sink}: {r.error}" for r in result.results if not r.ok]
        if sent:
            self._log(f"alert sent via {', '.join(sent)}")
        if failed or result.error:
            self._log(f"alert failed: {'; '.join(failed) or result.error}")

    def _prune(self) -> None:
        today = self.clock().date()
        for path in prune_logs((self.log_dir, *self.prune_dirs), today, self.keep_days):
            self._say(f"removed old log {path}")

    @property
    def _stream(self) -> TextIO:
        return self.stderr if self.stderr is not None else sys.stderr

    def _say(self, text: str) -> None:
        """One line on stderr: ``text`` is shown, so a name in it cannot start another."""
        with contextlib.suppress(OSError, ValueError):
            print(shown(text, limit=LINE_LIMIT), file=self._stream, flush=True)

    def _log(self, message: str) -> None:
        """Append one whole line to today's log (one write on an O_APPEND file), echo it.

        ``message`` is shown (escaped and shortened) here, once for the log and the echo: a
        name with a newline in it cannot add a forged line to the history.
        """
        now = self.clock()
        line = f"{now:%Y-%m-%d %H:%M:%S} - {shown(message, limit=LINE_LIMIT)}\n"
        path = self.log_dir / DAILY_LOG.format(day=f"{now:%Y%m%d}")
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            self._say(f"monitor: cannot write {path}: {exc.strerror or exc}")
        with contextlib.suppress(OSError, ValueError):
            print(line, end="", file=self._stream, flush=True)
