"""``preflight check --sbom FILE``: a CycloneDX 1.6 JSON bill of materials of the judged env.

Built with the format's own library (cyclonedx-python-lib, the ``sbom`` extra), never by hand:
the library knows the schema, and the tests validate the output against it. This module is
imported only when an SBOM is asked for (``preflight._cli.check``), so the check itself does
not need the library.

What each component says, and where it comes from:

* name, version: the distribution's METADATA, as the probe read it; purl
  ``pkg:pypi/<canonical name>@<version>``;
* hashes: the lock's ``--hash`` values for that pin, when the installed version is the pinned
  one. One hash names the artifact installed, and is the component's hash; with several (a
  wheel per platform, an sdist) the installed one is one of them, so they are listed on a
  ``distribution`` reference, not claimed as the component's own; with ``--wheelhouse`` the
  integrity check found the very wheel by its hash, and that hash is the component's;
* licenses: ``License-Expression`` (PEP 639) when METADATA has one, else ``License``, both
  acknowledged as *declared* (nobody has looked at the files);
* the PEP 770 SBOMs the distribution ships in ``.dist-info/sboms/``, referenced (type
  ``bom``) by path and sha256, not merged: their components are the authors' claims about
  what they bundled, and stay theirs.

The document's metadata names the environment (its interpreter and prefix; for an image, the
image's name, and its digest in ``preflight:image``) and preflight's verdict on it: an SBOM
written for a NOT_READY environment says so.

Every name, version and path here comes from the judged environment, so none may stop the
SBOM (nor, since it is written last, any other output). A string that is not UTF-8 (a
dist-info folder named in Latin-1) is written with its bad bytes as ``\\xNN``; a name that is
not a distribution name (PEP 508: letters, digits, ``.``, ``_``, ``-``) gets no purl and a
``preflight:problem`` property saying why; a distribution the library still refuses (an
empty name) is left out, and the document's metadata says so in a ``preflight:left_out``
property (``<name> <version> (<path>): <why>``), as the terminal line ``sbom: ...`` does.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from cyclonedx.model import (
    AttachedText,
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    Property,
    XsUri,
)
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, LicenseAcknowledgement, LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL
from packaging.utils import canonicalize_name

try:  # cyclonedx-python-lib 11.x moved the factory to contrib (the old place warns)
    from cyclonedx.contrib.license.exceptions import InvalidLicenseExpressionException
    from cyclonedx.contrib.license.factories import LicenseFactory
except ImportError:  # releases before 11.x have only the old place
    from cyclonedx.exception.factory import (
        InvalidLicenseExpressionException,
    )
    from cyclonedx.factory.license import LicenseFactory

from preflight._atomic import UnsafeOutput, write_output_text
from preflight._errors import UsageError
from preflight._facts.model import AnchoredWheel, DistFacts
from preflight._facts.sboms import SbomFacts, ShippedSbom
from preflight._lock.requirements import LockEntry, is_digest
from preflight._report.model import Report
from preflight._version import __version__

__all__ = ["Sbom", "sbom_text", "write_sbom"]

_SHORT_LICENSE = 200  # a longer License field is a license text, not a name
_VERSION_LIMIT = 1024  # characters of a component's version (CycloneDX 1.6)
# PEP 508's name (the core metadata spec's too): what a purl and a canonical name are made of.
_NAME = re.compile(r"[A-Z0-9]([A-Z0-9._-]*[A-Z0-9])?", re.IGNORECASE)
# What the library may raise on a value it refuses (a purl without a name, say).
_REFUSED = (ValueError, TypeError, UnicodeError, LookupError)


@dataclass(frozen=True)
class Sbom:
    """The SBOM written: its text, how many components it lists, and the distributions left
    out of it with why (each also in the document, ``preflight:left_out``)."""

    text: str
    components: int
    left_out: tuple[str, ...] = ()


def write_sbom(path: Path, report: Report, facts: SbomFacts) -> Sbom:
    """Write the SBOM (atomically to a file, or to the FIFO or device at ``path``).

    Raises only :class:`UsageError`: the path cannot take it, or (never seen, but the
    library is not ours) the library refused the document as a whole."""
    try:
        sbom = render_sbom(report, facts)
    except _REFUSED as exc:
        raise UsageError(
            f"--sbom {path}: the SBOM could not be made: {type(exc).__name__}: {exc}",
            hint="report this to preflight with the environment's distribution names",
        ) from None
    text = sbom.text
    try:
        write_output_text(path, text)
    except UnsafeOutput as exc:
        raise UsageError(
            f"--sbom {path}: {exc.problem}",
            hint="pass --sbom a file, a FIFO or a character device",
        ) from None
    except OSError as exc:
        raise UsageError(
            f"--sbom {path}: cannot write the SBOM: {exc.strerror or exc}",
            hint="pass --sbom a path in a folder you can write to",
        ) from None
    return sbom


def sbom_text(report: Report, facts: SbomFacts) -> str:
    """The CycloneDX 1.6 JSON document."""
    return render_sbom(report, facts).text


def render_sbom(report: Report, facts: SbomFacts) -> Sbom:
    """The document of ``report`` and the ``facts`` it was judged on (:func:`sbom_facts`),
    and what was left out of it."""
    bom, left_out = _bom(report, facts)
    text = JsonV1Dot6(bom).output_as_string(indent=2) + "\n"
    return Sbom(text, len(bom.components), tuple(left_out))


def said(text: str) -> str:
    """``text`` as UTF-8 can carry it: the bytes a name or path held that are not UTF-8 (the
    lone surrogates ``os.fsdecode`` made of them) written as ``\\xNN``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


def _bom(report: Report, given: SbomFacts) -> tuple[Bom, list[str]]:

    facts, pins, python = given.interpreter, given.pins, given.python
    properties = [
        Property(name="preflight:status", value=str(report.status)),
        Property(name="preflight:overall_status", value=str(report.overall_status)),
        Property(name="preflight:python", value=python),
    ]
    if report.lock is not None:
        properties.append(Property(name="preflight:lock", value=report.lock))
    name, of = Path(facts.prefix).name if facts is not None else "environment", python
    image = report.interpreter.image
    if image is not None:  # the image's name, not its prefix's ("local" of /usr/local)
        name = said(image.name or os.path.basename(image.source.rstrip("/")) or "image")
        of = said(report.interpreter.path or python)  # NAME@DIGEST:/usr/...
        properties.append(Property(name="preflight:image", value=of.rpartition(":/")[0]))
    root = Component(
        type=ComponentType.APPLICATION,
        name=name,
        version=facts.version if facts is not None else None,
        bom_ref="environment",
        description=(
            f"the Python environment of {of}, as preflight {__version__} judged it: "
            f"{report.status} ({report.overall_status})"
        ),
        properties=properties,
    )
    bom = Bom()
    bom.metadata.component = root
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="preflight-env", version=__version__)
    )
    components = []
    left_out: list[str] = []
    seen: dict[str, int] = {}
    for dist in facts.distributions if facts is not None else ():
        name, version = said(dist.name), said(dist.version)
        ref = f"{canonicalize_name(name)}=={version}"
        seen[ref] = seen.get(ref, 0) + 1
        if seen[ref] > 1:  # installed twice (lock_sync reports it): both are in the env
            ref = f"{ref}#{seen[ref]}"
        entry = pins.get(canonicalize_name(name))
        anchor = given.anchor
        try:
            wheel = anchor.wheel_of(dist.name, dist.version) if anchor is not None else None
            shipped = given.shipped.get(dist.path, ())
            components.append(_component(dist, ref, entry, wheel, shipped))
        except _REFUSED as exc:
            why = "an empty name" if not name.strip() else f"{type(exc).__name__}: {exc}"
            left_out.append(f"{name!r} {version!r} ({said(dist.path)}): {why}")
    for component in components:
        bom.components.add(component)
    bom.register_dependency(root, components)
    for note in left_out:
        root.properties.add(Property(name="preflight:left_out", value=note))
    return bom, left_out


def _component(
    dist: DistFacts,
    ref: str,
    entry: LockEntry | None,
    wheel: AnchoredWheel | None = None,
    shipped_sboms: tuple[ShippedSbom, ...] = (),
) -> Component:

    name, version = said(dist.name), said(dist.version)
    if not name.strip():
        raise ValueError("a distribution needs a name")
    canonical = canonicalize_name(name)
    problems = []
    if len(version) > _VERSION_LIMIT:
        problems.append(
            f"its version has {len(version)} characters, over CycloneDX's {_VERSION_LIMIT}: "
            "left out"
        )
        version = ""
    hashes = []
    references = []
    locked = entry is not None and entry.version == dist.version
    if entry is not None and locked:
        hashes = [
            HashType(alg=HashAlgorithm.SHA_256, content=value.partition(":")[2])
            for value in entry.hashes
            if value.startswith("sha256:") and is_digest(value)
        ]
        if len(hashes) > 1:
            installed = (
                f"the installed one is {Path(wheel.wheel).name}, found by its hash in the "
                "wheelhouse"
                if wheel is not None
                else "the installed one is one of them"
            )
            references.append(
                ExternalReference(
                    type=ExternalReferenceType.DISTRIBUTION,
                    url=XsUri(f"https://pypi.org/project/{canonical}/{version}/"),
                    comment=f"the artifacts the lock pins (line {entry.line}); {installed}",
                    hashes=hashes,
                )
            )
    for shipped in shipped_sboms:
        references.append(
            ExternalReference(
                type=ExternalReferenceType.BOM,
                url=XsUri(said(Path(shipped.path).as_uri())),
                comment=f"PEP 770 SBOM shipped by {name}: {said(shipped.relative)}"
                + (f" (unreadable: {shipped.problem})" if shipped.problem else ""),
                hashes=(
                    [HashType(alg=HashAlgorithm.SHA_256, content=shipped.sha256)]
                    if shipped.sha256
                    else []
                ),
            )
        )
    properties = [
        Property(name="preflight:dist_info", value=said(dist.path)),
        Property(name="preflight:locked", value="true" if locked else "false"),
    ]
    if dist.installer:
        properties.append(Property(name="preflight:installer", value=said(dist.installer)))
    purl = None
    if _NAME.fullmatch(name):
        purl = PackageURL(type="pypi", name=canonical, version=version or None)
    else:
        problems.append(f"{name!r} is not a distribution name (PEP 508): no purl")
    properties += [Property(name="preflight:problem", value=problem) for problem in problems]
    own = hashes if len(hashes) == 1 else []
    if wheel is not None:  # --wheelhouse found the very artifact: its hash is the component's
        own = [HashType(alg=HashAlgorithm.SHA_256, content=wheel.sha256.partition(":")[2])]
        properties.append(Property(name="preflight:artifact", value=Path(wheel.wheel).name))
    return Component(
        type=ComponentType.LIBRARY,
        name=name,
        version=version or None,
        bom_ref=ref,
        purl=purl,
        hashes=own,
        licenses=_licenses(dist),
        external_references=references,
        properties=properties,
    )


def _licenses(dist: DistFacts) -> list[LicenseExpression | DisjunctiveLicense]:

    factory = LicenseFactory()
    declared = LicenseAcknowledgement.DECLARED
    expression = said(dist.license_expression) if dist.license_expression else None
    if expression:
        try:
            return [factory.make_with_expression(expression, acknowledgement=declared)]
        except InvalidLicenseExpressionException:
            return [factory.make_with_name(expression, acknowledgement=declared)]
    text = said(dist.license) if dist.license else None
    if not text:
        return []
    if len(text) <= _SHORT_LICENSE:
        return [factory.make_from_string(text, license_acknowledgement=declared)]
    name = text[:_SHORT_LICENSE].rsplit(" ", 1)[0] + " ..."
    return [factory.make_with_name(name, text=AttachedText(content=text), acknowledgement=declared)]
