"""``preflight check``: judge one environment; its options and pipeline serve gate and monitor.

Policy -> facts (probes, in the target) -> checks -> report on disk and on the terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from preflight import __version__, interpreter
from preflight.checks import ALL, BY_ID, run_checks
from preflight.checks.base import Context
from preflight.errors import UsageError
from preflight.facts import InterpreterFacts
from preflight.gather import gather
from preflight.options import add_project_option, seconds
from preflight.policy import Policy, load_policy
from preflight.report import dumps, github_annotations, summary_lines, write_reports
from preflight.results import Report


def add_check_options(parser: argparse.ArgumentParser, *, data_output: bool = True) -> None:
    """The options of a check; ``data_output=False`` for commands whose stdout is not ours
    (gate: COMMAND's; monitor: a log), which have no ``--format``."""
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the target interpreter (default: the one running preflight)",
    )
    add_project_option(parser)
    parser.add_argument(
        "--lock", type=Path, help="pip-tools lock (default: the policy's lock for the X.Y)"
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports"),
        help="where the JSON report and the log are written (default: ./reports)",
    )
    if data_output:
        parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--substitute-for",
        metavar="SPEC",
        help="accept this interpreter as a patch-level substitute for SPEC, an exact pin of "
        "the policy (e.g. 3.11.7 for 3.11.13); a warning in the report says so",
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long the interpreter probe may take before it is killed (default: 30)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        # python_version decides the verdict (READY / READY_FALLBACK): it cannot be left out.
        choices=sorted(set(BY_ID) - {"python_version"}),
        metavar="CHECK",
        help="leave a check out (repeatable), e.g. --skip performance; any but python_version",
    )


def run_check(args: argparse.Namespace) -> int:
    report = check_environment(args)
    if args.format == "json":
        _write_data(dumps(report))
    for line in summary_lines(report):
        print(line, file=sys.stderr)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        # Annotations on the run's page; the runner reads workflow commands on stderr too.
        for line in github_annotations(report):
            print(line, file=sys.stderr)
    return report.exit_code


def _write_data(text: str) -> None:
    """Data to stdout. A reader that went away (``| head``) is its choice, not our error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit and would complain: point it at devnull.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def check_environment(args: argparse.Namespace) -> Report:
    """Policy → facts → checks → report on disk. Shared by check, gate and monitor."""
    started_local = datetime.now().astimezone()
    start = time.perf_counter()
    policy = load_policy(args.project.resolve())
    substitute_for = _substitute_for(policy, args.substitute_for)
    python = _resolve_python(args.python)
    lock = _resolve_lock(args.lock)
    _check_report_dir(args.report_dir)
    ctx = gather(
        policy,
        python,
        lock=lock,
        performance="performance" not in args.skip,
        suite="suite" not in args.skip,
        probe_timeout=args.timeout,
        perf_timeout=max(args.timeout, 120.0),
    )
    ctx = replace(ctx, substitute_for=substitute_for)
    results = run_checks(ctx, tuple(c for c in ALL if c.id not in args.skip))
    report = Report(
        timestamp=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        interpreter=_interpreter_summary(ctx),
        python_status=_python_status(ctx),
        checks=tuple(results),
        duration_s=round(time.perf_counter() - start, 3),
        project=str(policy.project_dir),
        lock=str(ctx.lock_path) if ctx.lock_path else None,
        tool_version=__version__,
        substitute_for=ctx.substitute_for,
    )
    try:
        json_path, log_path = write_reports(report, args.report_dir, started=started_local)
    except OSError as exc:
        raise UsageError(
            f"--report-dir {args.report_dir}: cannot write the report: {exc.strerror or exc}",
            hint="pass --report-dir a folder you can write to",
        ) from None
    print(f"report: {json_path}\nlog: {log_path}", file=sys.stderr)
    return report


def _resolve_python(value: str) -> str:
    """The interpreter to probe; a path that cannot be run at all is a usage error (exit 3).

    A broken symlink is let through: it is how a venv looks once its base interpreter was
    removed, a broken environment that the python_version check reports (exit 1). So is an
    executable that turns out not to be Python.
    """
    path = interpreter.locate(value)
    problem = interpreter.path_problem(path)
    broken_link = path.is_symlink() and not path.exists()
    if problem is not None and not broken_link:
        raise UsageError(
            f"--python: {problem.message}",
            hint="pass the path of an interpreter, e.g. .venv/bin/python",
        )
    return str(path.absolute())  # not resolved: a venv's python is a symlink to its base


def _substitute_for(policy: Policy, spec: str | None) -> str | None:
    """``--substitute-for`` must name an exact pin of the policy (a X.Y takes any patch)."""
    pins = [str(s) for s in policy.pythons if s.exact]
    if spec is not None and spec not in pins:
        raise UsageError(
            f"--substitute-for {spec}: not an exact pin of the policy",
            hint=f"the policy's exact pins: {', '.join(pins) or 'none'}",
        )
    return spec


def _resolve_lock(value: Path | None) -> Path | None:
    return value.absolute() if value is not None else None


def _check_report_dir(folder: Path) -> None:
    """Fail before the checks run, not after, when the report cannot be written there."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(
            f"--report-dir {folder}: is a file, not a folder",
            hint="pass --report-dir a folder (it is created if missing)",
        )


def _interpreter_summary(ctx: Context) -> dict[str, object]:
    facts = ctx.interpreter
    if isinstance(facts, InterpreterFacts):
        return {
            "path": ctx.python,
            "executable": facts.executable,
            "version": facts.version,
            "implementation": facts.implementation,
            "prefix": facts.prefix,
        }
    # The same keys as above where they are known, so consumers need not special-case.
    return {
        "path": ctx.python,
        "executable": None,
        "version": facts.version,
        "implementation": None,
        "prefix": None,
        "error": facts.kind,
    }


def _python_status(ctx: Context) -> str:
    if isinstance(ctx.interpreter, InterpreterFacts):
        return ctx.policy.status_of(ctx.interpreter.version, ctx.substitute_for)
    return "unknown"
