"""Writing a baseline: the manifest of an environment that passed its check, kept read-only.

The manifest is the anchor of ``check --baseline``: whoever can rewrite it can make any
environment match. So it is never written inside the environment it describes (a path under
its prefix or any of its install folders is refused), it is written atomically (a reader sees
the old manifest or the new one) and read-only (0o444): replacing it takes a deliberate
``preflight baseline`` again, not a stray write. Where it is kept (another host, a read-only
medium) is the operator's choice; docs/operations.md says why it matters.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from preflight._atomic import UnsafeOutput, output_target, write_output_text
from preflight._errors import UsageError
from preflight._facts.baseline import Manifest, build_manifest, manifest_json, roots_of
from preflight._facts.model import InterpreterFacts
from preflight._version import __version__

__all__ = ["MANIFEST_MODE", "Written", "check_output", "refuse_inside", "write_baseline"]

MANIFEST_MODE = 0o444


@dataclass(frozen=True)
class Written:
    path: Path
    manifest: Manifest
    size: int  # bytes of the manifest


def check_output(output: Path) -> None:
    """Fail before the check runs when nothing can be written at ``output``: a regular file
    (or nothing yet) is replaced, a FIFO, a character device or /dev/stdout written to."""
    try:
        target = output_target(output)
    except UnsafeOutput as exc:
        raise UsageError(f"--output {output}: {exc.problem}", hint=_OUTPUT_HINT) from None
    parent = output.parent
    if target.kind == "file" and parent.exists() and not parent.is_dir():
        raise UsageError(f"--output {output}: {parent} is not a folder", hint=_OUTPUT_HINT)


_OUTPUT_HINT = (
    "pass --output the path of a file (a FIFO, a character device or /dev/stdout is written "
    "to as a stream)"
)


def refuse_inside(output: Path, facts: InterpreterFacts) -> None:
    """Refuse a manifest path inside the environment it would describe (symlinks resolved)."""
    real = os.path.realpath(output)
    folders = [facts.prefix, *(path for _, path in roots_of(facts))]
    for folder in folders:
        inside = os.path.realpath(folder)
        if os.path.commonpath([real, inside]) == inside:
            raise UsageError(
                f"--output {output}: is inside the environment it describes ({folder}); "
                "whoever can change the environment could rewrite its baseline too",
                hint="keep the baseline outside the environment, ideally on another host or "
                "a read-only medium",
            )


def write_baseline(
    output: Path, facts: InterpreterFacts, *, stop: threading.Event | None = None
) -> Written:
    """Hash the environment and write its manifest to ``output``: a file atomically, 0o444;
    a FIFO, a device or /dev/stdout as a stream (never replaced)."""
    refuse_inside(output, facts)
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    manifest = build_manifest(facts, created=created, tool_version=__version__, stop=stop)
    text = manifest_json(manifest)
    try:
        write_output_text(output, text, mode=MANIFEST_MODE)
    except UnsafeOutput as exc:
        raise UsageError(f"--output {output}: {exc.problem}", hint=_OUTPUT_HINT) from None
    except OSError as exc:
        raise UsageError(
            f"--output {output}: cannot write the baseline: {exc.strerror or exc}",
            hint="pass --output a file in a folder you can write to",
        ) from None
    return Written(output, manifest, len(text.encode("ascii")))
