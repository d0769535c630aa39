"""Compile a PEP 751 lock (``pylock.toml``) with uv or pip, for ``relock`` to write safely.

``relock`` writes this format when the policy's ``lock`` names a PEP 751 file
(``pylock.toml``, ``pylock.py{major}{minor}.toml``); everything that keeps a lock from being
lost (the work folder, the validation, the atomic replace, ``--check``) is ``relock``'s own and
the same for both formats. Here: which resolver runs, and the metadata table.

What the resolvers support (README, "relock"):

* **uv** (``uv pip compile -o pylock.toml``, the default): a lock per interpreter, or one
  lock for all of them (``--universal``, with one entry per marker range), when the policy's
  ``lock`` has no ``{minor}``; uv's own settings (``UV_INDEX_URL``, ``uv.toml``) resolve.
* **pip** (``pip lock``, pip >= 25.1, experimental in pip): a lock for one interpreter only,
  resolved in a venv of that interpreter; pip's settings resolve.

Where ``requirements`` files carry ``# preflight-lock: {...}``, a PEP 751 lock carries the
same values in its ``[tool.preflight]`` table (PEP 751 keeps ``[tool]`` for tools).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from preflight._lock.meta import inputs_digest
from preflight._lock.pylock import META_KEY, parse_pylock_text
from preflight._policy.policy import Policy
from preflight._process import Completed, clean_env, run

__all__ = [
    "PIP_LOCK",
    "RESOLVERS",
    "CompileError",
    "Resolver",
    "comparable_lines",
    "compile_pylock",
    "finalize_pylock",
    "uv_argv",
]

Resolver = Literal["uv", "pip"]
RESOLVERS: tuple[Resolver, ...] = ("uv", "pip")
PIP_LOCK = "pip>=25.1"  # the first pip with `pip lock`
META_HEADER = f"[tool.{META_KEY}]"
_TIMEOUT = 900.0


class CompileError(Exception):
    """A resolver cannot run as asked; ``relock`` words it as its RelockError."""


def uv_argv() -> list[str]:
    """How to run uv: the ``uv`` package of the tool's interpreter, else ``uv`` on PATH."""
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    found = shutil.which("uv")
    if found is None:
        raise CompileError(
            "uv is not installed: install it (`pip install uv`) or use --resolver pip"
        )
    return [found]


def compile_pylock(
    folder: Path,
    input_name: str,
    output: Path,
    *,
    resolver: Resolver,
    interpreter: Path,
    universal_from: str | None,
    upgrade: Sequence[str],
    command: str,
    environ: Mapping[str, str] | None = None,
) -> Completed:
    """Run the resolver in ``folder`` on ``input_name``, writing ``output`` there.

    ``universal_from`` (uv only): the lowest X.Y of a lock shared by every interpreter; the
    lock is then resolved for all of them, not for ``interpreter`` alone."""
    env = clean_env(dict(environ or {}))
    if resolver == "uv":
        argv = [
            *uv_argv(),
            "pip",
            "compile",
            "--quiet",
            "--no-progress",
            "--custom-compile-command",
            command,
            "--output-file",
            output.name,
        ]
        if universal_from is not None:
            argv += ["--universal", "--python-version", universal_from]
        else:
            argv += ["--python", str(interpreter)]
        argv += _upgrade_args(upgrade)
        return run([*argv, input_name], timeout=_TIMEOUT, env=env, cwd=folder)
    if universal_from is not None:
        raise CompileError(
            "pip lock resolves for one interpreter only, and this lock is shared by all of "
            "them: use --resolver uv, or give each X.Y its own lock (pylock.py{major}{minor}.toml)"
        )
    if upgrade and "*" not in upgrade:
        raise CompileError("pip lock has no --upgrade-package: use --upgrade, or --resolver uv")
    # pip lock resolves from scratch: --upgrade changes nothing, and is accepted.
    argv = [str(interpreter), "-m", "pip", "lock", "--quiet", "--output", output.name]
    return run([*argv, "-r", input_name], timeout=_TIMEOUT, env=env, cwd=folder)


def _upgrade_args(upgrade: Sequence[str]) -> list[str]:
    if "*" in upgrade:
        return ["--upgrade"]
    return [arg for name in upgrade for arg in ("--upgrade-package", name)]


def finalize_pylock(
    raw: str, *, lock_path: Path, python: str, policy: Policy, now: datetime
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
            out.append('python = "' + ".".join(value.split(".")[:2]) + '"')
            continue
        out.append(line)
    return out
