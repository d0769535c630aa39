"""Command-line options shared by several subcommands, defined once."""

from __future__ import annotations

import argparse
from pathlib import Path

from preflight._args import MAX_DAYS, MAX_SECONDS, Parser, days, seconds

__all__ = ["MAX_DAYS", "MAX_SECONDS", "Parser", "add_project_option", "days", "seconds"]


def add_project_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project",
        type=Path,
        default=Path.cwd(),
        help="folder holding pyproject.toml with [tool.preflight] (default: .)",
    )
