"""The metadata line our relock writes into a lock header, and the digest of its inputs.

    # preflight-lock: {"compiled": "2026-11-25T18:00:00+00:00", "inputs": "sha256:...",
    #                   "python": "3.12.1"}   (on one line)

It lets ``preflight check`` tell offline when a lock was compiled (a fresh clone resets file
mtimes, so they say nothing) and whether it still matches the policy's ``requires``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime

from packaging.requirements import Requirement

from preflight._policy.spec import minor_of

PREFIX = "# preflight-lock: "


def inputs_digest(requires: Iterable[Requirement]) -> str:
    """A digest of what a lock was compiled from: order- and spelling-insensitive."""
    lines = sorted({str(Requirement(str(r))) for r in requires})
    return "sha256:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()


def stamp_meta(
    *, python: str, compiled: datetime, inputs: str, universal: bool = False
) -> dict[str, str]:
    """What ``preflight relock`` records of a lock, in either format (a requirements file's
    header line, a PEP 751 lock's ``[tool.preflight]`` table).

    ``universal``: resolved for every interpreter (``uv pip compile --universal``), so
    ``python`` names the interpreter that ran the resolver, not the only one it is for."""
    payload = {
        "python": python,
        "compiled": compiled.isoformat(timespec="seconds"),
        "inputs": inputs,
    }
    if universal:
        payload["universal"] = "true"
    return payload


def meta_line(meta: Mapping[str, object]) -> str:
    """The header line of a requirements file that records ``meta``."""
    return PREFIX + json.dumps(dict(meta), sort_keys=True)


def header_line(*, python: str, compiled: datetime, inputs: str, universal: bool = False) -> str:
    """The header line of a lock compiled by ``python`` at ``compiled`` (:func:`stamp_meta`)."""
    return meta_line(
        stamp_meta(python=python, compiled=compiled, inputs=inputs, universal=universal)
    )


def python_minor(value: str) -> str | None:
    """The X.Y of a recorded Python, which "unchanged" compares (a lock is per X.Y: resolved
    again by 3.11.14 instead of 3.11.7 with the same pins, it has not changed); None for a
    garbled value, which compares as it is."""
    try:
        return minor_of(value)
    except ValueError:
        return None


def compiled_at(meta: dict[str, str]) -> datetime | None:
    try:
        when = datetime.fromisoformat(meta["compiled"])
    except (KeyError, ValueError):
        return None
    return when if when.tzinfo else None
