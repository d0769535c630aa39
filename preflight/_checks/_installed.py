"""What is installed, by canonical name.

Which lock entries apply to a target is the lock's business (``_lock.read.applicable``).

Shared by ``package_dependencies`` and ``lock_sync``, which judge the same distributions
against the policy's requires and against the lock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from packaging.utils import NormalizedName, canonicalize_name

from preflight._facts.model import DistFacts


def installed(dists: Iterable[DistFacts]) -> dict[NormalizedName, list[DistFacts]]:
    """Installed distributions by canonical name (a list: the same name can appear twice)."""
    found: dict[NormalizedName, list[DistFacts]] = defaultdict(list)
    for dist in dists:
        found[canonicalize_name(dist.name)].append(dist)
    return dict(found)
