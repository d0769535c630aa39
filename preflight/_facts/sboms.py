"""What the SBOM (``check --sbom``) is made of besides the report, gathered as typed values
(:class:`SbomFacts`, :func:`sbom_facts`): the renderer (``_render/sbom.py``) reads no file and
knows neither the engine nor the checks.

Among them, the SBOM files a distribution ships itself (PEP 770: ``<name>.dist-info/sboms/``).

Read from the judged environment, so bounded like every other read of it: at most
:data:`MAX_FILES` files per distribution, each at most :data:`SBOM_LIMIT` bytes, regular files
only, no symlinked folder followed. What is kept is what a reference needs: where the file
is and its sha256, or why it could not be read.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from preflight._facts.context import Context
from preflight._facts.model import AnchorFacts, DistFacts, InterpreterFacts
from preflight._lock.requirements import Lock, LockEntry
from preflight._lock.select import Ambiguity
from preflight._read import MIB, ReadError, read_bytes

__all__ = ["MAX_FILES", "SBOM_LIMIT", "SbomFacts", "ShippedSbom", "sbom_facts", "shipped_sboms"]

SBOM_LIMIT = 16 * MIB
MAX_FILES = 64


@dataclass(frozen=True)
class ShippedSbom:
    path: str  # absolute
    relative: str  # inside the .dist-info folder, e.g. "sboms/openssl.cdx.json"
    sha256: str | None  # hex; None when it could not be read
    size: int | None
    problem: str | None = None  # why it could not be read


def shipped_sboms(dist: DistFacts) -> tuple[ShippedSbom, ...]:
    """The files under the distribution's ``sboms/`` folder, in name order."""
    if dist.kind != "dist-info":
        return ()
    folder = Path(dist.path) / "sboms"
    try:  # a path the environment named: too long, not UTF-8, a loop... is no SBOM folder
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return ()
    except (OSError, ValueError):
        return ()
    found: list[ShippedSbom] = []
    for root, dirs, files in os.walk(folder, followlinks=False, onerror=lambda exc: None):
        dirs.sort()
        for name in sorted(files):
            if len(found) == MAX_FILES:
                return tuple(found)
            path = Path(root) / name
            relative = str(path.relative_to(Path(dist.path)))
            try:
                data = read_bytes(path, what="an SBOM file", limit=SBOM_LIMIT)
            except ReadError as exc:
                found.append(ShippedSbom(str(path), relative, None, None, exc.problem))
                continue
            digest = hashlib.sha256(data).hexdigest()
            found.append(ShippedSbom(str(path), relative, digest, len(data)))
    return tuple(found)


@dataclass(frozen=True)
class SbomFacts:
    """The judged environment as the SBOM describes it: the interpreter as it was given
    (``python``) and its facts (None: it could not be probed), the pin of each distribution
    (by the lock's name, the one selected for this interpreter from a universal lock), the
    wheels ``--wheelhouse`` found, and the SBOMs each distribution ships (by its folder)."""

    python: str
    interpreter: InterpreterFacts | None = None
    pins: Mapping[str, LockEntry] = field(default_factory=dict)
    anchor: AnchorFacts | None = None
    shipped: Mapping[str, tuple[ShippedSbom, ...]] = field(default_factory=dict)


def sbom_facts(ctx: Context) -> SbomFacts:
    """The SBOM's facts of the context a report was judged on (reads each distribution's
    ``sboms/`` folder, bounded)."""
    facts = ctx.interpreter if isinstance(ctx.interpreter, InterpreterFacts) else None
    pins: dict[str, LockEntry] = {}
    if isinstance(ctx.lock, Lock):
        lock = ctx.lock
        selected = lock.applicable(facts.marker_env) if facts is not None else lock.entries
        pins = {e.name: e for e in (lock.entries if isinstance(selected, Ambiguity) else selected)}
    dists = facts.distributions if facts is not None else ()
    return SbomFacts(
        python=ctx.python,
        interpreter=facts,
        pins=pins,
        anchor=ctx.integrity.anchor if ctx.integrity is not None else None,
        shipped={dist.path: shipped_sboms(dist) for dist in dists},
    )
