"""``preflight audit-db update``: download the vulnerability data the check reads.

    preflight audit-db update --output osv/PyPI-all.zip
    preflight audit-db update            # to the policy's [tool.preflight.audit] database

The URL is OSV's PyPI export, or ``--url`` / ``$PREFLIGHT_AUDIT_DB_URL`` (a mirror). A download
that fails (no network, a refused or unreachable host, a timeout) or that is not OSV data exits
1 with what happened and how to get the file otherwise; the old copy is kept.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from preflight._atomic import UnsafeOutput, output_target
from preflight._cli.options import add_project_option, seconds
from preflight._errors import UsageError, format_error
from preflight._ops.auditdb import DEFAULT_URL, URL_ENV, FetchError, check_url, update
from preflight._policy.policy import load_policy
from preflight._report.model import EXIT_FAILED, EXIT_PASSED
from preflight._text import plural


def add_audit_db_options(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    fetch = actions.add_parser(
        "update",
        help="download OSV's PyPI export and replace the old copy atomically",
        description="Download OSV's PyPI export (all.zip), check that it is OSV data, and "
        "replace --output atomically. Exit 0 done, 1 not downloaded, 3 usage.",
    )
    add_project_option(fetch)
    fetch.add_argument(
        "--output",
        type=Path,
        metavar="PATH",
        help="where to write it (default: the policy's [tool.preflight.audit] database)",
    )
    fetch.add_argument(
        "--url",
        default=os.environ.get(URL_ENV) or DEFAULT_URL,
        help=f"where to download it from (default: ${URL_ENV}, else {DEFAULT_URL})",
    )
    fetch.add_argument(
        "--timeout",
        type=seconds,
        default=600.0,
        metavar="SECONDS",
        help="how long the whole command may take: the download and reading it back (default: 600)",
    )


_OUTPUT_HINT = "pass the path of the zip file to write (a regular file, replaced atomically)"


def run_audit_db(args: argparse.Namespace) -> int:
    output: Path | None = args.output
    if output is None:
        policy = load_policy(args.project.resolve())
        output = policy.audit.database_path(policy.project_dir)
        if output is None:
            raise UsageError(
                "audit-db update: where to? pass --output PATH",
                hint='or set [tool.preflight.audit] database = "PATH" in pyproject.toml',
            )
    if output.is_dir():
        raise UsageError(
            f"--output {output}: is a folder",
            hint="pass the path of the zip file to write (a folder of records is made by "
            "extracting it)",
        )
    try:
        target = output_target(output)
    except UnsafeOutput as exc:
        raise UsageError(
            f"--output {output}: cannot write there: {exc.problem}", hint=_OUTPUT_HINT
        ) from None
    if target.kind != "file":  # the check reads it back as a zip: a stream cannot be one
        raise UsageError(
            f"--output {output}: is {target.what}, not a file (the database is read back "
            "as a file, and what is at the path is not replaced)",
            hint=_OUTPUT_HINT,
        )
    check_url(args.url)
    print(f"downloading {args.url} ...", file=sys.stderr)
    try:
        done = update(output, url=args.url, timeout=args.timeout)
    except FetchError as exc:
        print(format_error(exc), file=sys.stderr)
        return EXIT_FAILED
    date = done.data.newest_modified
    print(
        f"{done.path}: {done.size} bytes in {done.seconds:.1f} s; "
        f"{plural(done.data.pypi_records, 'PyPI advisory', 'PyPI advisories')}, data of "
        f"{date.date().isoformat() if date else 'unknown date'}"
        + (f", {plural(done.data.malformed, 'malformed record')}" if done.data.malformed else ""),
        file=sys.stderr,
    )
    return EXIT_PASSED
