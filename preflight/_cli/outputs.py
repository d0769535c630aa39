"""The outputs for other systems and people: ``--junit``, ``--prometheus``, ``--nagios``,
``--html``.

Each renders the one result model (``preflight._render``): none reads the JSON report back
(``summarize`` reads the reports of other jobs, as typed :class:`Report` values).
Files are written atomically (a temporary file in the same folder, then a rename), so a CI
uploader or node_exporter's textfile collector never reads half a file. Where an output
applies:

* ``check``: all of them. ``--nagios`` puts the status line on stdout and exits 0/1/2/3 as
  the plugin API wants (so it excludes ``--format json``).
* ``monitor``: ``--prometheus`` (rewritten after every run) and, with ``--once``,
  ``--nagios``; a monitor that runs forever has no one exit code to give.
* ``--html FILE`` (a page for a person, :mod:`preflight._render.html`): on ``check``,
  ``summarize`` and ``monitor`` (rewritten after every run, with the history of its logs).
* ``gate``: none. Its exit code is COMMAND's, and its stdout too; a monitoring system or a
  CI test tab wants ``check``.

Where a regular file (or nothing yet) is, the output is replaced atomically; where a FIFO, a
character device or ``/dev/stdout`` is, it is written to as a stream, never replaced
(:mod:`preflight._atomic`). A path that can take neither (a folder, a socket, a block device,
a parent that is a file) is a usage error (exit 3) found before the checks run, not after.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from preflight._atomic import OutputTarget, UnsafeOutput, output_target, write_output_text
from preflight._errors import UsageError

NAGIOS_COMMANDS = ("check", "monitor")  # where --nagios exists (see main's UNKNOWN line)


def add_junit_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--junit",
        type=Path,
        metavar="FILE",
        help="also write the result as JUnit XML to FILE (one testsuite, a testcase per check)",
    )


def add_html_option(parser: argparse.ArgumentParser, *, every_run: bool = False) -> None:
    when = ", rewritten after every run with the history of the daily logs" if every_run else ""
    parser.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help=f"also write the result as one self-contained HTML page to FILE{when}",
    )


def add_prometheus_option(parser: argparse.ArgumentParser, *, every_run: bool = False) -> None:
    when = " after every run" if every_run else ""
    parser.add_argument(
        "--prometheus",
        type=Path,
        metavar="FILE",
        help=f"write the result as Prometheus metrics to FILE{when}, atomically (for "
        "node_exporter's textfile collector: name it *.prom in its folder)",
    )


def add_nagios_option(parser: argparse.ArgumentParser, *, note: str = "") -> None:
    parser.add_argument(
        "--nagios",
        action="store_true",
        help="act as a Nagios plugin: one status line with perfdata on stdout, exit 0 OK, "
        f"1 WARNING, 2 CRITICAL, 3 UNKNOWN{note}",
    )


def check_output_paths(outputs: Sequence[tuple[str, Path | None]]) -> None:
    """Fail before the checks run when an output cannot be written where it is named: what
    sits there is neither a regular file (or nothing yet), a FIFO, a character device, nor
    a descriptor of ours (``/dev/stdout``), or its folder is a file."""
    for flag, path in outputs:
        if path is not None:
            check_output_path(flag, path)


def check_output_path(flag: str, path: Path) -> OutputTarget:
    """How ``path`` will be written (:func:`preflight._atomic.output_target`), or the usage
    error naming ``flag`` when nothing can be."""
    try:
        target = output_target(path)
    except UnsafeOutput as exc:
        raise UsageError(f"{flag} {path}: {exc.problem}", hint=_hint(flag)) from None
    if target.kind != "file":
        return target
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise UsageError(
            f"{flag} {path}: {parent} is a file, not a folder",
            hint=f"pass {flag} a path in a folder (missing folders are created)",
        )
    return target


def _hint(flag: str) -> str:
    return (
        f"pass {flag} the path of a file (replaced whole on each run), a FIFO or a character "
        "device (written to), or /dev/stdout"
    )


def write_output(flag: str, path: Path, text: str, *, mode: int | None = None) -> None:
    """``text`` to ``path``: a file atomically, a stream written to (:mod:`preflight._atomic`);
    a failure is a usage error naming the option. A reader of a stream that went away
    (``| head``) is its choice, not our error."""
    try:
        write_output_text(path, text, mode=mode)
    except BrokenPipeError:
        return
    except UnsafeOutput as exc:
        raise UsageError(f"{flag} {path}: {exc.problem}", hint=_hint(flag)) from None
    except OSError as exc:
        raise UsageError(
            f"{flag} {path}: cannot write it: {exc.strerror or exc}",
            hint=f"pass {flag} a file in a folder you can write to",
        ) from None
