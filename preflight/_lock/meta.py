"""The metadata line our relock writes into a lock header, and the digest of its inputs.

    # preflight-lock: {"compiled": "2026-11-25T18:00:00+00:00", "inputs": "sha256:...",
    #                   "python": "3.12.1"}   (on one line)

It lets ``preflight check`` tell offline when a lock was compiled (a fresh clone resets file
mtimes, so they say nothing) and whether it still matches the policy's ``requires``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime

from packaging.requirements import Requirement

PREFIX = "# preflight-lock: "


def inputs_digest(requires: Iterable[Requirement]) -> str:
    """A digest of what a lock was compiled from: order- and spelling-insensitive."""
    lines = sorted({str(Requirement(str(r))) for r in requires})
    return "sha256:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()


def header_line(*, python: str, compiled: datetime, inputs: str, universal: bool = False) -> str:
    """``universal``: resolved for every interpreter (``uv pip compile --universal``), so
    ``python`` names the interpreter that ran the resolver, not the only one it is for."""
    payload = {
        "python": python,
        "compiled": compiled.isoformat(timespec="seconds"),
        "inputs": inputs,
    }
    if universal:
        payload["universal"] = "true"
    return PREFIX + json.dumps(payload, sort_keys=True)


def compiled_at(meta: dict[str, str]) -> datetime | None:
    try:
        when = datetime.fromisoformat(meta["compiled"])
    except (KeyError, ValueError):
        return None
    return when if when.tzinfo else None
