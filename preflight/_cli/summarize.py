"""``preflight summarize DIR...``: one matrix from the reports of several jobs or hosts.

The rows come from :mod:`preflight._ops.summarize` (the matrix model of ``nox -s preflight``);
here they are printed as a table on stderr, written as ``summary.json`` (atomically), appended
to the GitHub step summary when ``GITHUB_STEP_SUMMARY`` is set, and, on request, written as
JUnit XML and as an HTML page. Exit 1 when a row is NOT_READY or ERROR (a folder without a
report, a report that does not read), 2 when an interpreter was not checked, else 0.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from preflight._cli.outputs import (
    add_html_option,
    add_junit_option,
    check_output_paths,
    write_output,
)
from preflight._errors import UsageError
from preflight._ops import matrix
from preflight._ops.summarize import collect, exit_code_of, page_of
from preflight._render.html import html_page
from preflight._render.junit import junit_xml
from preflight._text import shown


def add_summarize_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dirs",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="a folder of reports: a job's downloaded artifact, a host's --report-dir (searched "
        "a few folders down), or a JSON report itself",
    )
    parser.add_argument(
        "--summary",
        type=Path,
        metavar="FILE",
        help=f"where the merged matrix is written as JSON (default: ./{matrix.SUMMARY_NAME}, "
        "unless no DIR exists)",
    )
    add_junit_option(parser)
    add_html_option(parser)


def run_summarize(args: argparse.Namespace) -> int:
    summary = args.summary or Path(matrix.SUMMARY_NAME)
    outputs = (("--summary", summary), ("--junit", args.junit), ("--html", args.html))
    check_output_paths(outputs)
    entries = collect(args.dirs)
    outcomes = [e.outcome for e in entries]
    print(matrix.summary_table(outcomes, where=True), file=sys.stderr)
    if args.summary is None and not any(d.exists() or d.is_symlink() for d in args.dirs):
        # Every DIR mistyped: no summary.json of errors left behind in the current folder.
        print(
            "summary: not written: no DIR exists (--summary FILE writes one anyway)",
            file=sys.stderr,
        )
    else:
        write_output("--summary", summary, matrix.summary_json(outcomes))
        print(f"summary: {shown(str(summary))}", file=sys.stderr)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        markdown = matrix.summary_markdown(outcomes, where=True, title="preflight summary")
        try:
            with open(step_summary, "a", encoding="utf-8") as handle:
                handle.write(markdown)
        except OSError as exc:
            raise UsageError(
                f"GITHUB_STEP_SUMMARY {step_summary}: cannot append to it: {exc.strerror or exc}",
                hint="unset GITHUB_STEP_SUMMARY outside GitHub Actions",
            ) from None
    if args.junit is not None:
        reports = [e.report for e in entries if e.report is not None]
        errors = [(e.outcome.session, e.outcome.message) for e in entries if e.report is None]
        write_output("--junit", args.junit, junit_xml(reports, errors))
        print(f"junit: {shown(str(args.junit))}", file=sys.stderr)
    if args.html is not None:
        generated = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        write_output("--html", args.html, html_page(page_of(entries, generated=generated)))
        print(f"html: {shown(str(args.html))}", file=sys.stderr)
    return exit_code_of(entries)
