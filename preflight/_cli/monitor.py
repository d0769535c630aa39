"""``preflight monitor``: the options of a check and of the loop, and the Monitor they make.

The loop itself (``preflight._ops.monitor``) is handed the check as a function: the command
line's check (report and log written, as ``preflight check`` does) is chosen here.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from preflight._cli.check import CheckOptions, add_check_options, check_and_report
from preflight._cli.options import days, seconds
from preflight._cli.outputs import (
    add_html_option,
    add_nagios_option,
    add_prometheus_option,
    check_output_paths,
    write_output,
)
from preflight._errors import UsageError
from preflight._ops.history import monitor_page, read_history
from preflight._ops.monitor import Monitor, RunOutcome
from preflight._ops.sdnotify import Notifier
from preflight._policy.policy import load_policy
from preflight._render.nagios import NagiosResult, nagios, nagios_unknown
from preflight._render.prometheus import prometheus_text


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
    add_prometheus_option(parser, every_run=True)
    add_html_option(parser, every_run=True)
    add_nagios_option(parser, note=" (with --once)")


def run_monitor(args: argparse.Namespace) -> int:
    if args.log_dir.exists() and not args.log_dir.is_dir():
        raise UsageError(
            f"--log-dir {args.log_dir}: is a file, not a folder",
            hint="pass --log-dir a folder (it is created if missing)",
        )
    if args.nagios and not args.once:
        raise UsageError(
            "--nagios needs --once: a plugin gives one status and exits",
            hint="run `preflight monitor --once --nagios` from the monitoring system, or "
            "`preflight check --nagios`",
        )
    check_output_paths((("--prometheus", args.prometheus), ("--html", args.html)))
    project = args.project.resolve()
    options = CheckOptions.from_args(args)
    runs: list[RunOutcome] = []

    def after_run(outcome: RunOutcome) -> None:
        runs[:] = [outcome]
        if args.prometheus is not None:
            text = prometheus_text(outcome.report, ran=outcome.judged)
            write_output("--prometheus", args.prometheus, text)
        if args.html is not None:
            write_output("--html", args.html, monitor_page(outcome, read_history(args.log_dir)))

    monitor = Monitor(
        check=lambda: check_and_report(options),
        alerts=lambda: load_policy(project).alerts,
        log_dir=args.log_dir,
        project_dir=project,
        python=options.request.python or "",
        interval=args.interval,
        once=args.once,
        keep_days=args.keep_days,
        prune_dirs=(args.report_dir,),
        after_run=after_run,
        notifier=Notifier.from_environ(os.environ),
    )
    code = monitor.run()
    if not args.nagios:
        return code
    result = _nagios_of(runs[0]) if runs else nagios_unknown("stopped before the check ran")
    sys.stdout.write(result.text)
    return result.exit_code


def _nagios_of(outcome: RunOutcome) -> NagiosResult:
    """A judged run's status; a run whose check could not run at all is UNKNOWN."""
    if outcome.judged:
        return nagios(outcome.report)
    return nagios_unknown(f"the check could not run: {outcome.detail}", outcome.hint)
