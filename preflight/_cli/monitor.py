"""``preflight monitor``: the options of a check and of the loop, and the Monitor they make.

The loop itself (``preflight._ops.monitor``) is handed the check as a function: the command
line's check (report and log written, as ``preflight check`` does) is chosen here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from preflight._cli.check import CheckOptions, add_check_options, check_and_report
from preflight._cli.options import days, seconds
from preflight._errors import UsageError
from preflight._ops.monitor import Monitor
from preflight._policy.policy import load_policy


def add_monitor_options(parser: argparse.ArgumentParser) -> None:
    add_check_options(parser, data_output=False)
    parser.add_argument(
        "--interval",
        type=seconds,
        default=300.0,
        metavar="SECONDS",
        help="time between the end of one run and the start of the next (default: 300)",
    )
    parser.add_argument(
        "--once", action="store_true", help="run once, log it and exit with the check's code"
    )
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=Path("reports"),
        help="where the daily runtime_health_YYYYmmdd.log goes (default: ./reports)",
    )
    parser.add_argument(
        "--keep-days",
        type=days,
        default=14,
        metavar="DAYS",
        help="delete daily and per-run logs older than this (default: 14)",
    )


def run_monitor(args: argparse.Namespace) -> int:
    if args.log_dir.exists() and not args.log_dir.is_dir():
        raise UsageError(
            f"--log-dir {args.log_dir}: is a file, not a folder",
            hint="pass --log-dir a folder (it is created if missing)",
        )
    project = args.project.resolve()
    options = CheckOptions.from_args(args)
    monitor = Monitor(
        check=lambda: check_and_report(options),
        alerts=lambda: load_policy(project).alerts,
        log_dir=args.log_dir,
        project_dir=project,
        python=args.python,
        interval=args.interval,
        once=args.once,
        keep_days=args.keep_days,
        prune_dirs=(args.report_dir,),
    )
    return monitor.run()
