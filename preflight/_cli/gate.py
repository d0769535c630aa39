"""``preflight gate [check options] [--strict] -- COMMAND...``: deploy only a ready environment.

The check runs first (the same as ``preflight check``, report included); COMMAND runs only when
the verdict allows it (``preflight._ops.gate``, which also says how signals reach COMMAND). A
refused deploy exits 1 and says why on stderr.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from preflight._cli.check import CheckOptions, add_check_options, check_and_report
from preflight._ops.gate import (
    blocking_checks,
    check_runnable,
    command_of,
    gate_decision,
    run_command,
)
from preflight._render.report import summary_lines
from preflight._report.model import EXIT_FAILED


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


def run_gate(args: argparse.Namespace) -> int:
    command = command_of(args.gate_command)
    check_runnable(command)
    report = check_and_report(CheckOptions.from_args(args))
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
