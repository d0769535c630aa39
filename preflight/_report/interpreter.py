"""The interpreter a report judged, as a typed value (``Report.interpreter``).

Its JSON form (the report's ``interpreter`` object) is unchanged: the keys a report was
written with, in their order, and only those (a check names ``path``, ``executable``,
``version``, ``implementation`` and ``prefix``, with ``null`` for what is unknown, and
``error`` when the probe failed; a root filesystem adds ``root``, ``inside``,
``read_from_files`` and ``sources``; an image ``image``; a failed monitor run only ``path``),
so that :meth:`Interpreter.from_dict` and :meth:`Interpreter.to_dict` round-trip exactly. Its
readers (the renderers, the alerts, the matrix, summarize) read its fields, never a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from preflight._strict import Node

__all__ = ["ImageSummary", "Interpreter"]


# A text of a report is capped as the report caps it, not refused (a report written before the
# caps reads too): only what its bytes allow bounds it here.
_ANY_LENGTH = 1 << 62


def _text(node: Node) -> str:
    return node.string(empty=True, max_length=_ANY_LENGTH)


def _optional_text(node: Node | None) -> str | None:
    return None if node is None else node.string_or_null(max_length=_ANY_LENGTH)


def _count(node: Node) -> int:
    return node.integer(minimum=0)


def _texts(node: Node) -> tuple[str, ...]:
    return tuple(node.strings(max_length=_ANY_LENGTH))


_IMAGE_KEYS = ("source", "kind", "digest", "name", "layers", "members", "bytes",
               "stdlib_files_not_read", "skipped")  # fmt: skip
_IMAGE_OPTIONAL = ("work", "work_folder")  # where the layers were applied (added later)


@dataclass(frozen=True)
class ImageSummary:
    """The image a report judged (``check --image``): where it came from, its digest and
    name, its layers, what was applied of it and what was not made (FIFOs, devices)."""

    source: str
    kind: str  # "oci-layout" or "docker-archive"
    digest: str
    name: str | None
    layers: tuple[str, ...] = ()
    members: int = 0
    bytes: int = 0
    stdlib_files_not_read: int = 0
    skipped: tuple[str, ...] = ()
    work: str | None = None  # "memory (/dev/shm)" or "disk (TMPDIR)"
    work_folder: str | None = None  # the work folder (removed once judged)

    @property
    def label(self) -> str:
        """``NAME@DIGEST``, the image as the outputs name it."""
        return f"{self.name or 'image'}@{self.digest}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "digest": self.digest,
            "name": self.name,
            "layers": list(self.layers),
            "members": self.members,
            "bytes": self.bytes,
            "stdlib_files_not_read": self.stdlib_files_not_read,
            **({} if self.work is None else {"work": self.work}),
            **({} if self.work_folder is None else {"work_folder": self.work_folder}),
            "skipped": list(self.skipped),
        }

    @classmethod
    def from_dict(cls, node: Node) -> ImageSummary:
        """The ``image`` object of a report's interpreter (a :class:`~preflight._strict.Node`);
        a key missing, unknown or of the wrong type is a ``ShapeError`` naming it."""
        table = node.table(
            _IMAGE_KEYS + _IMAGE_OPTIONAL,
            problem="is not a JSON object",
            unknown="unknown key",
            missing="is missing",
        )
        return cls(
            source=_text(table["source"]),
            kind=_text(table["kind"]),
            digest=_text(table["digest"]),
            name=_optional_text(table["name"]),
            layers=_texts(table["layers"]),
            members=_count(table["members"]),
            bytes=_count(table["bytes"]),
            stdlib_files_not_read=_count(table["stdlib_files_not_read"]),
            skipped=_texts(table["skipped"]),
            work=_optional_text(table.get("work")),
            work_folder=_optional_text(table.get("work_folder")),
        )


# The keys a report's interpreter may hold, each a field of Interpreter.
_TEXTS = ("path", "executable", "version", "implementation", "prefix", "error", "root", "inside")
KNOWN = (*_TEXTS, "read_from_files", "sources", "image")


@dataclass(frozen=True)
class Interpreter:
    """The interpreter a report judged. ``keys`` are those of its JSON object, in order:
    a field not among them is not in the report (which is not the same as ``null``).
    ``extra`` keeps, as read, the keys of a report this preflight does not know."""

    path: str | None = None  # as the user gave it (a root's or an image's: ROOT:PYTHON)
    executable: str | None = None
    version: str | None = None
    implementation: str | None = None
    prefix: str | None = None
    error: str | None = None  # the probe's failure kind, when it failed
    root: str | None = None  # the root filesystem read (``--root``)
    inside: str | None = None  # the interpreter's path inside the root
    read_from_files: bool | None = None  # a root's facts: read, nothing of it ran
    sources: Mapping[str, str] | None = None  # fact -> the root's file it was read from
    image: ImageSummary | None = None  # ``--image``
    extra: Mapping[str, Any] = field(default_factory=dict)
    keys: tuple[str, ...] = ()

    @classmethod
    def of(cls, **values: Any) -> Interpreter:
        """An interpreter of exactly these keys, in this order."""
        return cls(**values, keys=tuple(values))

    def with_values(self, **values: Any) -> Interpreter:
        """These keys set (new ones after the others)."""
        keys = self.keys + tuple(k for k in values if k not in self.keys)
        return replace(self, **values, keys=keys)

    def without(self, *names: str) -> Interpreter:
        """These keys gone."""
        cleared: dict[str, Any] = {name: None for name in names if name in KNOWN}
        extra = {k: v for k, v in self.extra.items() if k not in names}
        keys = tuple(k for k in self.keys if k not in names)
        return replace(self, **cleared, extra=extra, keys=keys)

    def only(self, *names: str) -> Interpreter:
        """Only these keys, of those it has."""
        return self.without(*(k for k in self.keys if k not in names))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in self.keys:
            if key in self.extra:
                out[key] = self.extra[key]
            elif key == "image":
                out[key] = self.image.to_dict() if self.image is not None else None
            elif key == "sources":
                out[key] = dict(self.sources) if self.sources is not None else None
            else:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], key: str = "interpreter") -> Interpreter:
        """The interpreter a report's ``interpreter`` object names; a known key of the wrong
        type is a ``ShapeError`` naming it (``interpreter.image.members``), an unknown one
        kept as it is."""
        table = Node(data, key).table(problem="is not a JSON object")
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name, node in table.nodes():
            if name in _TEXTS:
                values[name] = _optional_text(node)
            elif name == "read_from_files":
                values[name] = None if node.value is None else node.boolean()
            elif name == "sources":
                values[name] = (
                    None
                    if node.value is None
                    else {
                        k: _text(v) for k, v in node.table(problem="is not a JSON object").nodes()
                    }
                )
            elif name == "image":
                values[name] = None if node.value is None else ImageSummary.from_dict(node)
            else:
                extra[name] = node.value
        return cls(**values, extra=extra, keys=tuple(data))
