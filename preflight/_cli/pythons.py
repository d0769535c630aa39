"""``preflight pythons``: the policy's interpreter list, for CI matrices.

    preflight pythons                      # ["3.12", "3.11.13"] on stdout
    preflight pythons --github-output "$GITHUB_OUTPUT"

With ``--github-output`` it appends two outputs for a GitHub Actions step: ``pythons``, the
JSON list (for ``fromJSON`` in a matrix), and ``python-versions``, one spec per line (for
``actions/setup-python``'s ``python-version`` to install them all).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

from preflight._cli.options import add_project_option
from preflight._errors import UsageError
from preflight._policy.policy import load_policy
from preflight._report.model import EXIT_PASSED
from preflight._text import plural


def add_pythons_options(parser: argparse.ArgumentParser) -> None:
    add_project_option(parser)
    parser.add_argument(
        "--github-output",
        type=Path,
        metavar="FILE",
        help="append the outputs `pythons` and `python-versions` to FILE ($GITHUB_OUTPUT)",
    )


def run_pythons(args: argparse.Namespace) -> int:
    specs = [str(spec) for spec in load_policy(args.project.resolve()).pythons]
    listing = json.dumps(specs)
    print(listing)
    if args.github_output is not None:
        marker = f"EOF_{uuid.uuid4().hex}"
        text = f"pythons={listing}\npython-versions<<{marker}\n" + "\n".join(specs)
        try:
            with args.github_output.open("a", encoding="utf-8") as handle:
                handle.write(f"{text}\n{marker}\n")
        except OSError as exc:
            raise UsageError(
                f"--github-output {args.github_output}: {exc.strerror or exc}",
                hint="pass the file GitHub Actions names in $GITHUB_OUTPUT",
            ) from None
    print(f"{plural(len(specs), 'interpreter')} in the policy", file=sys.stderr)
    return EXIT_PASSED
