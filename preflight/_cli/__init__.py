"""The command line: ``main(argv) -> int``, one registry of subcommands.

Each subcommand lives in a module of its own with an ``add_*_options(parser)`` and a
``run_*(args) -> int``; only the module of the subcommand being run is imported (as pip does),
so ``preflight check`` does not pay for smtplib. Human text goes to stderr, data to stdout.
Domain errors are translated once, here, into ``error: ...`` and ``hint: ...`` lines with
exit code 3.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

from preflight._cli.options import Parser
from preflight._cli.outputs import NAGIOS_COMMANDS
from preflight._errors import PreflightError, format_error
from preflight._render.nagios import nagios_unknown
from preflight._report.model import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE
from preflight._version import __version__


@dataclass(frozen=True)
class Command:
    name: str
    module: str  # holds add_<name>_options(parser) and run_<name>(args) -> int
    summary: str
    description: str


COMMANDS = (
    Command(
        "check",
        "preflight._cli.check",
        "judge one environment against the policy and its lock",
        "Judge the environment of one interpreter against the policy in pyproject.toml and a "
        "pip-tools lock. Exit 0 passed, 1 failed, 2 warnings, 3 usage (with --nagios: 0 OK, "
        "1 WARNING, 2 CRITICAL, 3 UNKNOWN).",
    ),
    Command(
        "gate",
        "preflight._cli.gate",
        "run a deploy command only if the environment is ready",
        "Check the environment, then run COMMAND (after --, no shell) only for a READY or "
        "READY_FALLBACK verdict (WARNING passes unless --strict). Exit: COMMAND's code "
        "(128+N if killed by signal N), 1 refused, 3 usage.",
    ),
    Command(
        "monitor",
        "preflight._cli.monitor",
        "re-check an environment on an interval and log its health",
        "Re-check the environment every --interval seconds; append GOOD, DEGRADED or DOWN to "
        "reports/runtime_health_YYYYmmdd.log; dispatch the policy's alerts. Stops cleanly on "
        "SIGTERM (exit 0) or Ctrl-C (130); --once exits with the check's code (with --nagios, "
        "the plugin's). Under systemd (NOTIFY_SOCKET) it sends READY, STATUS and WATCHDOG.",
    ),
    Command(
        "baseline",
        "preflight._cli.baseline",
        "record every file of a passing environment, for check --baseline",
        "Check the environment; only if it is ready (warnings too, unless --strict) write a "
        "manifest of every file of its site-packages and scripts (size, sha256, mode, owner) "
        "to --output, atomically and read-only, outside the environment. `check --baseline "
        "FILE` reports every file added, removed or changed since. Exit 0 written, 1 refused "
        "(nothing written), 3 usage.",
    ),
    Command(
        "alert",
        "preflight._cli.alert",
        "send the policy's alerts for an existing JSON report",
        "Alert through [tool.preflight.alerts] for a report written by check: on critical "
        "problems or too many warnings, deduplicated within the cooldown. Exit 0 sent or "
        "nothing due, 1 no sink delivered, 3 usage.",
    ),
    Command(
        "relock",
        "preflight._cli.relock",
        "compile every interpreter's lock of the policy with pip-tools, safely",
        "Compile requirements/py<X.Y>.txt for each interpreter of the policy, under an "
        "interpreter of that X.Y, with hashes; replace a lock only when it changed. Exit 0 "
        "done, 1 failed or (with --check) stale, 3 usage.",
    ),
    Command(
        "audit-db",
        "preflight._cli.auditdb",
        "download OSV's PyPI vulnerability export for the vulnerabilities check",
        "update: download OSV's PyPI export (all.zip) to --output, check that it reads as "
        "OSV data, and replace the old copy atomically. Exit 0 done, 1 could not download "
        "or not OSV data, 3 usage.",
    ),
    Command(
        "summarize",
        "preflight._cli.summarize",
        "merge the reports of several jobs or hosts into one matrix",
        "Read the reports (and nox session outcomes) in each DIR, a CI job's artifact or a "
        "host's report folder, and show them as one matrix: a table, summary.json, the GitHub "
        "step summary, and with --junit / --html those files. Exit 0 ready, 1 a row NOT_READY "
        "or ERROR (a DIR without a readable report), 2 an interpreter not checked, 3 usage.",
    ),
    Command(
        "pythons",
        "preflight._cli.pythons",
        "print the policy's interpreters as JSON (for CI matrices)",
        "Print [tool.preflight] pythons as a JSON list; with --github-output, also write it "
        "(and one spec per line) as GitHub Actions step outputs.",
    ),
)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the subcommand it names is fully set up (imported)."""
    parser = Parser(
        prog="preflight",
        description="Verify that a Python environment is exactly what its lock says, and fit "
        "to run. Exit codes: 0 passed, 1 failed, 2 warnings, 3 usage or configuration error.",
    )
    parser.add_argument("--version", action="version", version=f"preflight {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    chosen = None if argv is None else next((a for a in argv if not a.startswith("-")), None)
    for command in COMMANDS:
        subparser = sub.add_parser(
            command.name, help=command.summary, description=command.description
        )
        if chosen is None or chosen == command.name:
            module = importlib.import_module(command.module)
            stem = command.name.replace("-", "_")  # audit-db: add_audit_db_options
            getattr(module, f"add_{stem}_options")(subparser)
            subparser.set_defaults(handler=getattr(module, f"run_{stem}"))
    return parser


class Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C so that every child process is killed on the way out."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    # A supervisor's stop (CI cancel, systemd, kill) must not leave the probe or the suite
    # running detached in their own sessions: unwind as for Ctrl-C. (monitor and gate set
    # handlers of their own while they wait or run COMMAND.)
    previous = signal.signal(signal.SIGTERM, _terminate)
    nagios = _nagios(arguments)
    try:
        args = build_parser(arguments).parse_args(arguments)
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except PreflightError as exc:
        if nagios:
            _unknown(exc.message, exc.hint)
        return _error(exc)
    except KeyboardInterrupt:
        print("preflight: interrupted", file=sys.stderr)
        return _unknown("interrupted") if nagios else EXIT_INTERRUPTED
    except Terminated:
        print("preflight: terminated", file=sys.stderr)
        return _unknown("terminated") if nagios else EXIT_TERMINATED
    finally:
        signal.signal(signal.SIGTERM, previous)


def _error(exc: PreflightError) -> int:
    print(format_error(exc), file=sys.stderr)
    return EXIT_USAGE


def _nagios(arguments: list[str]) -> bool:
    """``--nagios`` given to a command that has it (before a ``--``): whatever goes wrong
    then, even a usage error argparse finds, is an UNKNOWN status line (the plugin API)."""
    ours = arguments[: arguments.index("--")] if "--" in arguments else arguments
    command = next((a for a in ours if not a.startswith("-")), None)
    return command in NAGIOS_COMMANDS and "--nagios" in ours


def _unknown(message: str, hint: str | None = None) -> int:
    result = nagios_unknown(message, hint)
    with contextlib.suppress(OSError):
        sys.stdout.write(result.text)
        sys.stdout.flush()
    return result.exit_code
