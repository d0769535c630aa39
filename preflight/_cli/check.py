"""``preflight check``: judge one environment; its options and pipeline serve gate and monitor.

The options become a typed :class:`CheckOptions`; the API's ``check()`` judges; the report and
the log are written to disk and summarised on the terminal.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from preflight import CheckRequest, Judged, check_request, judge
from preflight._atomic import UnsafeOutput
from preflight._cli.options import add_project_option, seconds
from preflight._cli.outputs import (
    add_html_option,
    add_junit_option,
    add_nagios_option,
    add_prometheus_option,
    check_output_path,
    check_output_paths,
    write_output,
)
from preflight._errors import UsageError
from preflight._facts.request import SKIPPABLE
from preflight._facts.sboms import sbom_facts
from preflight._render.html import report_page
from preflight._render.junit import junit_xml
from preflight._render.nagios import nagios
from preflight._render.prometheus import prometheus_text
from preflight._render.report import (
    REPORT_NAME,
    dumps,
    github_annotations,
    github_workspace,
    summary_lines,
    write_reports,
)
from preflight._report.model import Report
from preflight._text import shown


def add_check_options(parser: argparse.ArgumentParser, *, data_output: bool = True) -> None:
    """The options of a check; ``data_output=False`` for commands whose stdout is not ours
    (gate: COMMAND's; monitor: a log), which have no ``--format``."""
    parser.add_argument(
        "--python",
        metavar="PATH",
        help="the interpreter of the environment to judge, e.g. /srv/app/venv/bin/python "
        "(default: the one running preflight, which is then said on stderr)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help="judge the root filesystem in DIR (an unpacked image) from its files, running "
        "nothing of it; --python then names the interpreter inside it",
    )
    parser.add_argument(
        "--image",
        metavar="PATH",
        help="judge the container image at PATH (an OCI image layout, folder or tar, or a "
        "`docker save` archive) from its files, running nothing of it; --python then names "
        "the interpreter inside it",
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
        add_junit_option(parser)
        add_prometheus_option(parser)
        add_html_option(parser)
        add_nagios_option(parser)
        parser.add_argument(
            "--sbom",
            type=Path,
            metavar="FILE",
            help="also write a CycloneDX 1.6 JSON SBOM of the environment to FILE (needs the "
            "sbom extra: pip install 'preflight-env[sbom]')",
        )
    parser.add_argument(
        "--vulnerability-db",
        type=Path,
        metavar="PATH",
        help="OSV's PyPI export (all.zip) or a folder of OSV records, for the vulnerabilities "
        "check (default: [tool.preflight.audit] database; `preflight audit-db update` "
        "downloads it)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="a manifest `preflight baseline` wrote for this environment: report every file "
        "added, removed or changed since, whatever RECORD says now",
    )
    parser.add_argument(
        "--wheelhouse",
        type=Path,
        metavar="DIR",
        help="the locked artifacts (`pip download --require-hashes --no-deps -r LOCK -d DIR`): "
        "integrity then checks each installed file against the wheel the lock's hashes vouch "
        "for, not the RECORD beside it",
    )
    parser.add_argument(
        "--substitute-for",
        metavar="SPEC",
        help="accept this interpreter as a patch-level substitute for SPEC, an exact pin of "
        "the policy (e.g. 3.11.7 for 3.11.13); a warning in the report says so",
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="how long each probe (interpreter, bytecode, performance) may take before it is "
        "killed (default: 30 for the interpreter probe, 600 for the bytecode probe, 120 for "
        "the performance probe)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=SKIPPABLE,
        metavar="CHECK",
        help="leave a check out (repeatable), e.g. --skip performance; any but python_version",
    )


def run_check(args: argparse.Namespace) -> int:
    if args.nagios and args.format == "json":
        raise UsageError(
            "--nagios and --format json both write stdout",
            hint="keep one; the JSON report is in --report-dir either way",
        )
    files = (
        ("--junit", args.junit),
        ("--prometheus", args.prometheus),
        ("--html", args.html),
        ("--sbom", args.sbom),
    )
    check_output_paths(files)
    sbom = _sbom_writer(args.sbom) if args.sbom is not None else None
    options = CheckOptions.from_args(args)
    if sbom is not None:  # made of the facts too, which only the engine's judge() keeps
        judged = judge_and_report(options)
        report = judged.report
        failed = _write_files(args, report, (sbom, judged))
    else:
        report = check_and_report(options)
        failed = _write_files(args, report, None)
    if args.format == "json":
        _write_data(dumps(report))
    for line in summary_lines(report):
        print(line, file=sys.stderr)
    image = report.interpreter.image
    if image is not None:  # what of the image was never made (FIFOs, devices)
        for note in image.skipped:
            print(f"image: not made: {shown(note)}", file=sys.stderr)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        # Annotations on the run's page; the runner reads workflow commands on stderr too.
        for line in github_annotations(report, workspace=github_workspace(os.environ)):
            print(line, file=sys.stderr)
    for exc in failed[1:]:
        print(f"error: {shown(exc.message)}", file=sys.stderr)
    if failed:
        raise failed[0]
    if args.nagios:
        result = nagios(report)
        _write_data(result.text, what="--nagios: cannot write the status line")
        return result.exit_code
    return report.exit_code


def _write_files(
    args: argparse.Namespace, report: Report, sbom: tuple[ModuleType, Judged] | None
) -> list[UsageError]:
    """Every output file, each written whatever another one does; what failed, to be said
    once all were tried (exit 3). The SBOM (its writer, and the report with its facts), made
    of what the environment named, goes last."""
    failed: list[UsageError] = []
    writes: list[tuple[str, Path | None, Callable[[], str]]] = [
        ("--junit", args.junit, lambda: junit_xml([report])),
        ("--prometheus", args.prometheus, lambda: prometheus_text(report)),
        ("--html", args.html, lambda: report_page(report)),
    ]
    written = []
    for flag, path, render in writes:
        if path is not None:
            try:
                write_output(flag, path, render())
            except UsageError as exc:
                failed.append(exc)
            else:
                written.append(f"{flag[2:]}: {shown(str(path))}")
    for line in written:  # beside the report's and the log's paths
        print(line, file=sys.stderr)
    if sbom is not None and args.sbom is not None:
        writer, judged = sbom
        try:
            written = writer.write_sbom(args.sbom, report, sbom_facts(judged.context))
        except UsageError as exc:
            failed.append(exc)
        else:
            _said_sbom(args.sbom, written)
    return failed


def _write_data(text: str, *, what: str = "--format json: cannot write the report") -> None:
    """Data to stdout. A reader that went away (``| head``) is its choice, not our error; a
    stdout that cannot take it (a full disk, ``> /dev/full``) is a usage error (exit 3)."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_stdout()
    except OSError as exc:
        _drop_stdout()
        raise UsageError(
            f"{what} to stdout: {exc.strerror or exc}",
            hint="free some space, or redirect stdout elsewhere (the report file was written)",
        ) from None


def _drop_stdout() -> None:
    """Python flushes stdout again at exit and would complain: point it at devnull."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


@dataclass(frozen=True)
class CheckOptions:
    """A check as the CLI's check, gate, monitor and baseline take it: the API's request, and
    what only the command line has (where the report goes, whether --python was left out)."""

    request: CheckRequest
    report_dir: Path
    own_interpreter: bool = False  # no --python: the interpreter running preflight

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CheckOptions:
        request = CheckRequest(
            python=args.python or ("" if _root(args) else sys.executable),
            root=getattr(args, "root", None),
            image=getattr(args, "image", None),
            project=args.project,
            lock=args.lock,
            skip=tuple(args.skip),
            substitute_for=args.substitute_for,
            timeout=args.timeout,
            vulnerability_db=args.vulnerability_db,
            baseline=args.baseline,
            wheelhouse=args.wheelhouse,
        )
        own = args.python is None and not _root(args)
        return cls(request, args.report_dir, own_interpreter=own)


def _root(args: argparse.Namespace) -> bool:
    """Whether the check reads a root or an image (then --python is a path inside it)."""
    return getattr(args, "root", None) is not None or getattr(args, "image", None) is not None


_NOTED: list[bool] = []  # the note below was printed


def _own_interpreter_note() -> None:
    """Without ``--python`` the interpreter judged is the one running preflight: right for
    ``.venv/bin/python -m preflight check`` run from inside the environment, a surprise from a
    preflight installed on its own (pipx, uv tool), so it is said, never silent (once the
    check ran: a usage error is then the first and only thing said). Once per process: the
    monitor judges again every interval."""
    if _NOTED:
        return
    _NOTED.append(True)
    print(
        f"no --python: judged the interpreter running preflight, {shown(sys.executable)} "
        "(pass --python PATH to judge another environment)",
        file=sys.stderr,
    )


def check_and_report(options: CheckOptions) -> Report:
    """The API's check, then the report and the log on disk. Shared by check, gate, monitor."""
    started = _before(options)
    report = check_request(options.request)
    _after(options, report, started)
    return report


def judge_and_report(
    options: CheckOptions, *, while_there: Callable[[Judged], object] | None = None
) -> Judged:
    """:func:`check_and_report`, keeping the facts the report was judged on: for the outputs
    made of them (the SBOM, the baseline's manifest). ``while_there``: called while the
    environment's files are there (``judge``'s: an image's work folder)."""
    started = _before(options)
    judged = judge(options.request, while_there=while_there)
    _after(options, judged.report, started)
    return judged


def _before(options: CheckOptions) -> datetime:
    """When the check started (the log's name), once the report is known to be writable."""
    started_local = datetime.now().astimezone()
    _check_report_dir(options.report_dir)
    return started_local


def _after(options: CheckOptions, report: Report, started: datetime) -> None:
    """The report and the log on disk, their paths said."""
    if options.own_interpreter:
        _own_interpreter_note()
    try:
        json_path, log_path = write_reports(report, options.report_dir, started=started)
    except UnsafeOutput as exc:
        raise UsageError(
            f"--report-dir {options.report_dir}: cannot write the report: {exc}",
            hint="pass --report-dir a folder you can write to",
        ) from None
    except OSError as exc:
        raise UsageError(
            f"--report-dir {options.report_dir}: cannot write the report: {exc.strerror or exc}",
            hint="pass --report-dir a folder you can write to",
        ) from None
    print(f"report: {json_path}\nlog: {log_path}", file=sys.stderr)


def _said_sbom(path: Path, written: Any) -> None:
    """The terminal line of ``--sbom``: where, how many, and what was left out (said in the
    document too: ``preflight:left_out``)."""
    left = written.left_out
    print(
        f"sbom: {shown(str(path))} ({written.components} components"
        + (f"; {len(left)} left out" if left else "")
        + ")",
        file=sys.stderr,
    )
    for note in left:
        print(f"sbom: left out {shown(note)}", file=sys.stderr)


def _sbom_writer(path: Path) -> ModuleType:
    """``preflight._render.sbom``, checked before the checks run: the library it needs (an
    optional extra) is installed (``run_check`` checks the path, as for every output file).
    Imported only here, so that a check without --sbom does not need the library."""
    try:
        return importlib.import_module("preflight._render.sbom")
    except ImportError as exc:
        raise UsageError(
            f"--sbom {path}: writing an SBOM needs cyclonedx-python-lib, which cannot be "
            f"imported ({exc})",
            hint="install the sbom extra: pip install 'preflight-env[sbom]'",
        ) from None


def _check_report_dir(folder: Path) -> None:
    """Fail before the checks run, not after, when the report cannot be written there (a
    FIFO or a device put where the report goes is written to, as every output is)."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(
            f"--report-dir {folder}: is a file, not a folder",
            hint="pass --report-dir a folder (it is created if missing)",
        )
    check_output_path("--report-dir", folder / REPORT_NAME)
