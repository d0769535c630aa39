"""The deploy gate: the rule (a pure function) and running COMMAND with signals passed on.

COMMAND runs only when the verdict allows it: READY or READY_FALLBACK, where WARNING passes
unless ``strict`` (:func:`gate_decision`). COMMAND runs without a shell, with our stdin, stdout
and stderr, and its exit code is ours (a command killed by signal N gives 128 + N, as a shell
says).

While COMMAND runs, SIGTERM and SIGHUP sent to the gate are passed on to it, so a supervisor
that stops the gate stops the deploy too. Ctrl-C reaches COMMAND directly (it shares the
terminal's process group); the gate waits for it to end and passes its exit code through.

The handlers are in place before COMMAND starts: there is no moment in which a signal kills
the gate and leaves COMMAND running. A signal that arrives before COMMAND is started stops the
gate without starting it (128 + N); one that arrives while it is being started is passed on as
soon as it has started. COMMAND gets the default action of SIGINT, SIGTERM and SIGHUP (the
gate handles them, and exec resets a handled signal), even when the gate itself was started
with SIGINT ignored (a background job): only an ignored SIGHUP (``nohup``) is left ignored, as
``nohup`` promises, and is not passed on.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import FrameType

from preflight._checks.result import Status
from preflight._errors import UsageError
from preflight._report.model import Overall, Report, Verdict
from preflight._text import MESSAGE_LIMIT, shown

# What a shell answers for a command it cannot run.
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127
_SIGHUP = getattr(signal, "SIGHUP", None)
_FORWARDED = (signal.SIGTERM,) if _SIGHUP is None else (signal.SIGTERM, _SIGHUP)
_EXAMPLE = "e.g. preflight gate --python .venv/bin/python -- ./deploy.sh --prod"


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    reason: str


def gate_decision(status: Verdict, overall: Overall, *, strict: bool) -> GateDecision:
    """Whether a verdict lets the command run: the one rule of the gate, a pure function."""
    verdict = f"{status.value} ({overall.value})"
    if status is Verdict.NOT_READY:
        return GateDecision(False, f"the environment is {verdict}")
    if strict and overall is not Overall.PASSED:
        return GateDecision(False, f"the environment is {verdict} and --strict refuses warnings")
    return GateDecision(True, f"the environment is {verdict}")


def blocking_checks(report: Report, *, strict: bool) -> list[str]:
    """One line per check that stopped the deploy, with its remedies (shown: one line each)."""
    stopping = {Status.FAIL, Status.WARN} if strict else {Status.FAIL}
    lines = []
    for check in report.checks:
        if check.status in stopping:
            message = shown(check.message, limit=MESSAGE_LIMIT)
            lines.append(f"  {check.status.label} {shown(check.id)}: {message}")
            lines += [
                f"    fix: {shown(f.remedy, limit=MESSAGE_LIMIT)}"
                for f in check.findings
                if f.remedy
            ]
    if not lines and report.status is Verdict.NOT_READY:
        lines.append(f"  the interpreter is {shown(report.python_status)} under the policy")
    return lines


def command_of(values: Sequence[str]) -> list[str]:
    """The command after ``--``. argparse keeps the ``--`` of a REMAINDER argument: require it."""
    if not values:
        raise UsageError("gate: no command given", hint=_EXAMPLE)
    if values[0] != "--":
        raise UsageError(
            f"gate: put `--` between the options and the command: -- {shlex.join(values)}",
            hint=_EXAMPLE,
        )
    if len(values) == 1:
        raise UsageError("gate: no command after `--`", hint=_EXAMPLE)
    return list(values[1:])


def check_runnable(command: Sequence[str]) -> None:
    """A typo in COMMAND is a usage error found at once, not after a full check."""
    if shutil.which(command[0]) is None:
        raise UsageError(
            f"gate: {command[0]}: command not found or not executable",
            hint="give the path of the program, or check PATH",
        )


def run_command(command: Sequence[str]) -> int:
    """Run ``command`` (no shell, our stdio) and return its exit code; signal N gives 128 + N."""
    with forwarding() as forwarder:
        return forwarder.run(command)


class Forwarder:
    """The gate's handler of SIGTERM, SIGHUP and SIGINT, from before COMMAND starts to its end.

    Before :meth:`run` has a process, a signal is remembered (``pending``); once it has one,
    SIGTERM and SIGHUP are sent on to it, and SIGINT is left to the terminal, which sends it to
    COMMAND's process group itself.
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.pending: list[int] = []

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.process is None:
            self.pending.append(signum)
        elif signum != signal.SIGINT:
            self._send(signum)

    def _send(self, signum: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    def run(self, command: Sequence[str]) -> int:
        if self.pending:
            signum = self.pending[0]
            print(
                f"gate: not run: {signal.Signals(signum).name} arrived before {command[0]} started",
                file=sys.stderr,
            )
            return 128 + signum
        try:
            # restore_signals: SIGPIPE and SIGXFSZ, which Python ignores, are default again.
            process = subprocess.Popen(list(command), restore_signals=True)
        except FileNotFoundError as exc:
            print(f"gate: cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
            return EXIT_NOT_FOUND
        except OSError as exc:
            print(f"gate: cannot run {command[0]}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_NOT_EXECUTABLE
        # From here on the handler sends to the process; what came during Popen is sent now.
        self.process = process
        for signum in self.pending:
            self._send(signum)
        self.pending.clear()
        returncode = process.wait()
        return 128 - returncode if returncode < 0 else returncode


@contextlib.contextmanager
def forwarding() -> Iterator[Forwarder]:
    """Install a :class:`Forwarder` for SIGTERM, SIGHUP and SIGINT; restore our handlers after.

    SIGINT gets a handler, not SIG_IGN: an ignored signal stays ignored across exec and COMMAND
    would inherit it, while a handled one is reset to its default action.
    """
    forwarder = Forwarder()
    previous = {}
    for sig in (*_FORWARDED, signal.SIGINT):
        if sig == _SIGHUP and signal.getsignal(sig) is signal.SIG_IGN:
            continue  # nohup: SIGHUP stays ignored, for the gate and for COMMAND
        previous[sig] = signal.signal(sig, forwarder.handle)
    try:
        yield forwarder
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: set outside Python, cannot be put back from here
                signal.signal(sig, handler)
