"""``preflight alert --report PATH``: send the policy's alerts for a JSON report on disk.

The file is read back into a typed :class:`Report` (``Report.from_dict``), the same value a
fresh check gives the monitor's alerts; a file that is not such a report is a usage error
naming the file and the bad key.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from preflight._alerts.dispatch import dispatch
from preflight._cli.options import add_project_option
from preflight._errors import UsageError
from preflight._json import JSONError
from preflight._policy.alerts import AlertConfig
from preflight._policy.policy import load_policy
from preflight._read import REPORT_LIMIT, ReadError, read_text
from preflight._render.report import REPORT_NAME
from preflight._report.model import EXIT_FAILED, EXIT_PASSED, Report, report_from_json


def add_alert_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report",
        type=Path,
        required=True,
        help=f"the JSON report of a check (e.g. reports/{REPORT_NAME})",
    )
    add_project_option(parser)
    parser.add_argument(
        "--force",
        action="store_true",
        help="alert even if the same problems were alerted within the cooldown",
    )


def read_report(path: Path) -> Report:
    """The report at ``path``, or a UsageError naming the file and what is wrong with it."""
    hint = "run `preflight check` first: it writes reports/" + REPORT_NAME
    try:
        text = read_text(path, what="a JSON report", limit=REPORT_LIMIT)
    except ReadError as exc:
        if exc.kind == "missing":
            raise UsageError(f"--report {path}: no such file", hint=hint) from None
        if exc.kind == "directory":
            raise UsageError(
                f"--report {path}: is a folder, not a report",
                hint=f"did you mean {path / REPORT_NAME}?",
            ) from None
        where = f"line {exc.line}: " if exc.line is not None else ""
        raise UsageError(f"--report {path}: {where}{exc.problem}", hint=hint) from None
    try:
        return report_from_json(text)
    except JSONError as exc:
        what = "is not valid JSON" if exc.kind == "syntax" else "is not JSON that a report holds"
        raise UsageError(f"--report {path}: {what}: {exc}", hint=hint) from None
    except ValueError as exc:
        raise UsageError(f"--report {path}: {exc}", hint=hint) from None


def run_alert(args: argparse.Namespace) -> int:
    """0: delivered, or nothing was due; 1: an alert was due and no sink delivered it."""
    report = read_report(args.report)
    project = args.project.resolve()
    config = require_sinks(load_policy(project).alerts, project)
    result = dispatch(report, config, project_dir=project, force=args.force)
    if result.error is not None:
        return EXIT_FAILED
    return EXIT_FAILED if result.due and not result.delivered else EXIT_PASSED


def require_sinks(config: AlertConfig, project: Path) -> AlertConfig:
    if not config.enabled:
        raise UsageError(
            f"{project / 'pyproject.toml'}: no alert sink is configured",
            hint="add [tool.preflight.alerts.smtp] (host, from, to) or "
            "[tool.preflight.alerts.webhook] (the URL goes in $PREFLIGHT_WEBHOOK_URL)",
        )
    return config
