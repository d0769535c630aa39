"""What is particular to a PEP 751 lock (``pylock.toml``) in ``relock``: ``pip lock``'s
command line, and the metadata table.

``relock`` writes this format when the policy's ``lock`` names a PEP 751 file
(``pylock.toml``, ``pylock.py{major}{minor}.toml``); everything that keeps a lock from being
lost (the work folder, the validation, the atomic replace, ``--check``) and uv's command line
(the same for both formats) are ``relock``'s own.

What the resolvers support (docs/nox.md, "relock"):

* **uv** (``uv pip compile -o pylock.toml``, the default): a lock per interpreter, or one
  lock for all of them (``--universal``, with one entry per marker range), when the policy's
  ``lock`` names one file for every interpreter; uv's own settings (``UV_INDEX_URL``,
  ``uv.toml``) resolve.
* **pip** (``pip lock``, pip >= 25.1, experimental in pip): a lock for one interpreter only,
  resolved in a venv of that interpreter; pip's settings resolve.

Where ``requirements`` files carry ``# preflight-lock: {...}``, a PEP 751 lock carries the
same values in its ``[tool.preflight]`` table (PEP 751 keeps ``[tool]`` for tools).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from preflight._lock.meta import inputs_digest
from preflight._lock.pylock import META_KEY, parse_pylock_text
from preflight._policy.policy import Policy
from preflight._policy.spec import minor_of

__all__ = [
    "PIP_LOCK",
    "RESOLVERS",
    "Resolver",
    "comparable_lines",
    "finalize_pylock",
    "pip_lock_argv",
]

Resolver = Literal["uv", "pip"]
RESOLVERS: tuple[Resolver, ...] = ("uv", "pip")
PIP_LOCK = "pip>=25.1"  # the first pip with `pip lock`
META_HEADER = f"[tool.{META_KEY}]"


def pip_lock_argv(
    pip: Sequence[str], output: str, input_name: str, upgrade: Sequence[str]
) -> list[str]:
    """``pip lock`` of ``input_name`` into ``output``; ``pip`` runs pip (``python -m pip``).

    ``pip lock`` resolves from scratch: ``--upgrade`` changes nothing and is accepted; it has
    no ``--upgrade-package`` (a ValueError saying what to use instead)."""
    if upgrade and "*" not in upgrade:
        raise ValueError("pip lock has no --upgrade-package: use --upgrade, or --resolver uv")
    return [*pip, "lock", "--quiet", "--output", output, "-r", input_name]


def finalize_pylock(
    raw: str,
    *,
    lock_path: Path,
    python: str,
    policy: Policy,
    now: datetime,
    universal: bool = False,
) -> str:
    """Validate the resolver's PEP 751 output and add the ``[tool.preflight]`` table.

    Raises ``LockError`` when it does not parse and ``ValueError`` naming the packages that
    are not pinned with hashes (the caller words both; the old lock stays)."""
    lock = parse_pylock_text(raw.removeprefix("\ufeff"), lock_path)
    unsound = [e.raw_name for e in lock.entries if not e.sound]
    if unsound:
        raise ValueError(", ".join(unsound))
    meta = {
        "compiled": now.astimezone(UTC).replace(microsecond=0).isoformat(timespec="seconds"),
        "inputs": inputs_digest(policy.requires),
        "python": python,
    }
    if universal:  # as the requirements header says it (``LockHeader.universal``)
        meta["universal"] = "true"
    body = raw.rstrip("\n")
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in sorted(meta.items()))
    text = f"{body}\n\n{META_HEADER}\n{table}\n"
    parse_pylock_text(text, lock_path)  # a [tool.preflight] the resolver wrote: a LockError
    return text


def comparable_lines(lines: Sequence[str]) -> list[str]:
    """The lines of a PEP 751 lock without the compile time, and its Python as X.Y."""
    out, inside = [], False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped == META_HEADER
        elif inside and stripped.startswith("compiled"):
            continue
        elif inside and stripped.startswith("python"):
            value = stripped.partition("=")[2].strip().strip('"')
            with contextlib.suppress(ValueError):  # a garbled value compares as it is
                value = minor_of(value)
            out.append(f'python = "{value}"')
            continue
        out.append(line)
    return out
