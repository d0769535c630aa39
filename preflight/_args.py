"""Argument types shared by the front ends (the command line and the nox sessions), defined
once, below both: ``preflight.nox`` parses its session's flags with them and imports nothing of
the CLI."""

from __future__ import annotations

import argparse
from typing import NoReturn

from preflight._errors import UsageError

__all__ = ["MAX_DAYS", "MAX_SECONDS", "Parser", "days", "seconds"]


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage, which would read as WARNING: raise instead."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}", hint=f"see `{self.prog} --help`")


MAX_SECONDS = 10_000_000.0  # about 115 days: more than any timeout or interval needs
MAX_DAYS = 36_500  # a hundred years of logs


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, more than 0, at most :data:`MAX_SECONDS`."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= MAX_SECONDS:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(
            f"{text!r} must be more than 0 and at most {MAX_SECONDS:.0f}"
        )
    return value


def days(text: str) -> int:
    """An argparse type: a whole number of days, from 1 to :data:`MAX_DAYS`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if not 1 <= value <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"{text!r} must be from 1 to {MAX_DAYS}")
    return value
