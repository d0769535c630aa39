"""Turn one interpreter spec of the policy into an interpreter on this machine, or say why not.

``discovery`` finds what is installed; this module decides what a spec may use:

* the exact match (``3.12`` -> the highest 3.12.x; ``3.11.13`` -> exactly 3.11.13);
* with ``allow_substitute``, the nearest release of the same X.Y (3.11.7 for 3.11.13) when
  the pin accepts it as a substitute (``PythonSpec.accepts_substitute``: a final release),
  reported as a substitute in every output that uses it;
* else nothing, with a message that names what was searched, the nearest version found and
  how to install the exact one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from preflight._interpreters.discovery import Found, best_match, nearest, searched_locations
from preflight._policy.spec import PythonSpec

__all__ = ["Resolution", "resolve"]


@dataclass(frozen=True)
class Resolution:
    """What a spec resolved to. ``found`` is None when nothing usable exists."""

    spec: PythonSpec
    found: Found | None
    substitute: bool = False  # found is the nearest patch release, not what the spec asks
    nearest: Found | None = None  # the closest same-X.Y interpreter, when there is no match
    message: str = ""  # one paragraph for the terminal: what was used, or why nothing

    @property
    def ok(self) -> bool:
        return self.found is not None

    @property
    def short(self) -> str:
        """A few words for a table cell: why nothing was checked."""
        if self.nearest is None:
            return f"Python {self.spec} not installed (no {self.spec.minor}.x found)"
        return f"Python {self.spec} not installed (nearest {self.nearest.version})"


def install_hint(spec: str | PythonSpec) -> str:
    """How to install exactly ``spec`` with the usual tools."""
    return f"install it with `pyenv install {spec}` or `uv python install {spec}`"


def resolve(
    spec: str | PythonSpec,
    found: Sequence[Found],
    *,
    allow_substitute: bool = False,
    env: Mapping[str, str] | None = None,
) -> Resolution:
    """Resolve ``spec`` against the interpreters ``found`` (from ``find_interpreters``).

    ``spec`` may be the policy's text ("3.12", as the noxfile and the benchmarks have it): it
    is parsed here, once; a bad one raises ValueError naming the accepted forms.
    """
    if not isinstance(spec, PythonSpec):
        spec = PythonSpec.parse(spec)
    exact = best_match(spec, found)
    if exact is not None:
        return Resolution(spec, exact, message=f"Python {spec}: using {exact}")
    close = nearest(spec, found)
    # Only a final release of the same X.Y may stand in for an exact pin (one rule, the spec's).
    refused = None if close is None else spec.why_not_substitute(close.version)
    if close is not None and refused is None and allow_substitute:
        return Resolution(
            spec,
            close,
            substitute=True,
            nearest=close,
            message=(
                f"Python {spec} is not installed; using {close} as a patch-level substitute "
                f"(allowed on request). The result is not a check of {spec}: {install_hint(spec)}"
            ),
        )
    where = "; ".join(searched_locations(env=env))
    if close is None:
        near = f"no {spec.minor}.x was found"
    elif refused is not None:
        near = f"the nearest is {close}, which cannot stand in for it ({refused})"
    else:
        near = f"the nearest is {close}"
    return Resolution(
        spec,
        None,
        nearest=close,
        message=(
            f"Python {spec} was not found (searched {where}); {near}. {install_hint(spec)}"
            + (
                ", or accept the patch-level substitute with --allow-substitute"
                if close is not None and refused is None
                else ""
            )
        ),
    )
