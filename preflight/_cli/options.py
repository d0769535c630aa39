"""Command-line options shared by several subcommands, defined once."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from preflight._errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage, which would read as WARNING: raise instead."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}", hint=f"see `{self.prog} --help`")


def add_project_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project",
        type=Path,
        default=Path.cwd(),
        help="folder holding pyproject.toml with [tool.preflight] (default: .)",
    )


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, more than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0")
    return value
