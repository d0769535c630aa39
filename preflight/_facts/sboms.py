"""The SBOM files a distribution ships itself (PEP 770: ``<name>.dist-info/sboms/``).

Read from the judged environment, so bounded like every other read of it: at most
:data:`MAX_FILES` files per distribution, each at most :data:`SBOM_LIMIT` bytes, regular files
only, no symlinked folder followed. What is kept is what a reference needs: where the file
is and its sha256, or why it could not be read.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from preflight._facts.model import DistFacts
from preflight._read import MIB, ReadError, read_bytes

__all__ = ["MAX_FILES", "SBOM_LIMIT", "ShippedSbom", "shipped_sboms"]

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
