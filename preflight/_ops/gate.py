"""The deploy gate: the rule (a pure function) and running COMMAND with signals passed on.

COMMAND runs only when the verdict allows it: READY or READY_FALLBACK, where WARNING passes
unless ``strict`` (:func:`gate_decision`). COMMAND runs without a shell, with our stdin, stdout
and stderr, and its exit code is ours (a command killed by signal N gives 128 + N, as a shell
says).

COMMAND runs in a process group of its own, so that what it starts can be stopped with it:
SIGTERM, SIGHUP and SIGINT sent to the gate are passed on to that whole group, and a supervisor
that stops the gate stops the deploy and its children. At a terminal the gate hands COMMAND's
group the foreground, as a shell does with a job: Ctrl-C and Ctrl-\\ reach COMMAND and its
children directly, COMMAND may read the terminal, and Ctrl-Z stops COMMAND and then the gate
(the shell's ``fg`` continues both). The gate takes the foreground back when COMMAND ends, and
exits only after COMMAND has.

The handlers are in place before COMMAND starts: there is no moment in which a signal kills the
gate and leaves COMMAND running, and a gate killed with SIGKILL, which no handler sees, still
has SIGTERM sent to COMMAND's group (:mod:`preflight._tether`). A signal that arrives before
COMMAND is started stops the gate without starting it (128 + N); one that arrives while it is
being started is passed on as soon as it has started. COMMAND gets the default action of
SIGINT, SIGTERM and SIGHUP (the gate handles them, and exec resets a handled signal), even when
the gate itself was started with SIGINT ignored (a background job): only an ignored SIGHUP
(``nohup``) is left ignored, as ``nohup`` promises, and is not passed on.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import FrameType

from preflight._checks.result import Status
from preflight._errors import UsageError
from preflight._process import Foreground
from preflight._process import foreground as start_foreground
from preflight._report.model import Overall, Report, Verdict
from preflight._tether import tether, untether
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
    each is sent on to COMMAND's process group.
    """

    def __init__(self) -> None:
        self.process: Foreground | None = None
        self.pending: list[int] = []

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.process is None:
            self.pending.append(signum)
        else:
            self._send(signum)

    def _send(self, signum: int) -> None:
        # COMMAND leads its group: its pid names the group while any member lives, and no
        # other process can take that number meanwhile.
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)

    def run(self, command: Sequence[str]) -> int:
        if self.pending:
            signum = self.pending[0]
            print(
                f"gate: not run: {signal.Signals(signum).name} arrived before {command[0]} started",
                file=sys.stderr,
            )
            return 128 + signum
        try:
            # SIGPIPE and SIGXFSZ, which Python ignores, are default again; COMMAND leads a
            # group of its own (set before it is exec'd).
            process = start_foreground(command)
        except FileNotFoundError as exc:
            print(f"gate: cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
            return EXIT_NOT_FOUND
        except OSError as exc:
            print(f"gate: cannot run {command[0]}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_NOT_EXECUTABLE
        # From here on the handler sends to the group; what came during Popen is sent now.
        self.process = process
        tether(process.pid, signal.SIGTERM)  # a gate killed with SIGKILL still stops it
        try:
            with foreground(process.pid) as terminal:
                for signum in self.pending:
                    self._send(signum)
                self.pending.clear()
                returncode = _wait(process, terminal)
        finally:
            untether(process.pid)
        return 128 - returncode if returncode < 0 else returncode


class Terminal:
    """The controlling terminal (one of our standard streams) while COMMAND's group has it."""

    def __init__(self, fd: int, group: int) -> None:
        self.fd = fd
        self.group = group

    def give(self) -> None:
        _set_foreground(self.fd, self.group)

    def take_back(self) -> None:
        _set_foreground(self.fd, os.getpgrp())


def _controlling_fd() -> tuple[int, bool] | None:
    """A descriptor of our controlling terminal whose foreground group is ours (only then are
    we a shell's foreground job, with a foreground to hand on), and whether we opened it.

    One of stdin, stdout, stderr when it is that terminal; else ``/dev/tty`` itself: a
    COMMAND with every stream redirected may still read the terminal (``sudo``, ``ssh``
    asking for a password), and in a background group it would be stopped for it."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                return fd, False
        except OSError:
            continue
    try:
        fd = os.open(os.ctermid(), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None  # no controlling terminal: nothing to hand on
    try:
        if os.tcgetpgrp(fd) == os.getpgrp():
            return fd, True
    except OSError:
        pass
    os.close(fd)
    return None


def _set_foreground(fd: int, group: int) -> None:
    """``tcsetpgrp`` with SIGTTOU blocked: a process of a background group may then call it
    (taking the foreground back once COMMAND's group has it) instead of being stopped."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
    try:
        with contextlib.suppress(OSError):  # the terminal went away (hung up): nothing to move
            os.tcsetpgrp(fd, group)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


@contextlib.contextmanager
def foreground(group: int) -> Iterator[Terminal | None]:
    """Give ``group`` the terminal's foreground if we have it; take it back after."""
    found = _controlling_fd()
    if found is None:
        yield None
        return
    fd, opened = found
    terminal = Terminal(fd, group)
    terminal.give()
    try:
        yield terminal
    finally:
        terminal.take_back()
        if opened:
            os.close(fd)


def _wait(process: Foreground, terminal: Terminal | None) -> int:
    """COMMAND's return code (-N: killed by signal N). At a terminal, a COMMAND stopped by
    Ctrl-Z stops the gate too, so the shell gets its terminal back; ``fg`` continues the gate,
    which gives the foreground back to COMMAND and continues it."""
    if terminal is None:
        return process.wait()
    while True:
        _, status = os.waitpid(process.pid, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode
        terminal.take_back()
        # SIGTSTP, not SIGSTOP: in a group with no shell to continue it (an orphaned group)
        # the kernel discards it, and the gate goes on at once instead of hanging.
        os.kill(os.getpid(), signal.SIGTSTP)
        terminal.give()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGCONT)


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
