"""``preflight gate [check options] [--strict] -- COMMAND...``: deploy only a ready environment.

The check runs first (the same as ``preflight check``, report included); COMMAND runs only when
the verdict allows it: READY or READY_FALLBACK, where WARNING passes unless ``--strict``.
COMMAND runs without a shell, with our stdin, stdout and stderr, and its exit code is ours
(a command killed by signal N gives 128 + N, as a shell says). A refused deploy exits 1 and
says why on stderr.

While COMMAND runs, SIGTERM and SIGHUP sent to the gate are passed on to it, so a supervisor
that stops the gate stops the deploy too. Ctrl-C reaches COMMAND directly (it shares the
terminal's process group); the gate waits for it to end and passes its exit code through.
"""

from __future__ import annotations

import argparse
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
from preflight._cli.check import add_check_options, check_environment
from preflight._errors import UsageError
from preflight._render.report import summary_lines
from preflight._report.model import EXIT_FAILED, Overall, Report, Verdict

# What a shell answers for a command it cannot run.
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127
_FORWARDED = (signal.SIGTERM, signal.SIGHUP) if hasattr(signal, "SIGHUP") else (signal.SIGTERM,)
_EXAMPLE = "e.g. preflight gate --python .venv/bin/python -- ./deploy.sh --prod"


def add_gate_options(parser: argparse.ArgumentParser) -> None:
    add_check_options(parser, data_output=False)
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse on warnings too (by default only a NOT_READY verdict refuses)",
    )
    parser.add_argument(
        "gate_command",  # not "command": that is the subcommand's name in the namespace
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND",
        help="what to run when the environment is ready, after `--` (no shell)",
    )


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
    """One line per check that stopped the deploy, with its remedies."""
    stopping = {Status.FAIL, Status.WARN} if strict else {Status.FAIL}
    lines = []
    for check in report.checks:
        if check.status in stopping:
            lines.append(f"  {check.status.label} {check.id}: {check.message}")
            lines += [f"    fix: {f.remedy}" for f in check.findings if f.remedy]
    if not lines and report.status is Verdict.NOT_READY:
        lines.append(f"  the interpreter is {report.python_status} under the policy")
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


def _check_runnable(command: Sequence[str]) -> None:
    """A typo in COMMAND is a usage error found at once, not after a full check."""
    if shutil.which(command[0]) is None:
        raise UsageError(
            f"gate: {command[0]}: command not found or not executable",
            hint="give the path of the program, or check PATH",
        )


def run_gate(args: argparse.Namespace) -> int:
    command = command_of(args.gate_command)
    _check_runnable(command)
    report = check_environment(args)
    for line in summary_lines(report):
        print(line, file=sys.stderr)
    decision = gate_decision(report.status, report.overall_status, strict=args.strict)
    if not decision.allowed:
        print(f"gate: deployment blocked: {decision.reason}", file=sys.stderr)
        for line in blocking_checks(report, strict=args.strict):
            print(line, file=sys.stderr)
        print(f"gate: not run: {shlex.join(command)}", file=sys.stderr)
        return EXIT_FAILED
    print(f"gate: {decision.reason}: running {shlex.join(command)}", file=sys.stderr)
    sys.stderr.flush()
    return run_command(command)


def run_command(command: Sequence[str]) -> int:
    """Run ``command`` (no shell, our stdio) and return its exit code; signal N gives 128 + N."""
    try:
        process = subprocess.Popen(list(command))
    except FileNotFoundError as exc:
        print(f"gate: cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except OSError as exc:
        print(f"gate: cannot run {command[0]}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_NOT_EXECUTABLE
    with _forwarding(process):
        returncode = process.wait()
    return 128 - returncode if returncode < 0 else returncode


@contextlib.contextmanager
def _forwarding(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """Pass SIGTERM / SIGHUP on to ``process`` while it runs; restore our handlers after."""

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    # Ctrl-C reaches the command from the terminal: the gate waits for the command instead of
    # dying and leaving it behind.
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.signal(signal.SIGINT, previous_int)
