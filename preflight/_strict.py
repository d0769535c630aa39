"""One strict reader of untrusted values: what ``tomllib`` or :mod:`preflight._json` parsed,
read field by field.

A validator asks a :class:`Node` (a value and the key it was found at) for what it expects:
``node.integer(minimum=0, maximum=10)``, ``node.table(known={...})``, ``table["port"]``. Every
getter checks the type (a bool is not a number, ``nan`` and ``inf`` are not numbers, an integer
is bounded), the length of strings and lists, and says what is wrong with the key it is at
(``alerts.smtp.port``, ``ignore[2].until``) in a :class:`ShapeError`. The caller translates that
once into its own error, adding the file (``ConfigError`` for the policy, ``ValueError`` for a
report or a state file): no validator checks a type by hand. A free-form value (a report's
``details``) is read whole by :meth:`Node.plain` (JSON types only, bounded depth and numbers),
a digest by :meth:`Node.hex_digest`.

Its users: the policy's tables, ``env_vars``, alerts and audit; the JSON report
(``_report.model``); the baseline manifest; the probes' payloads (interpreter, performance,
bytecode); OSV records; the alert state; the matrix ``Outcome``. A reader whose messages
users already know keeps its words (``table(problem=..., unknown=..., missing=...)``,
``integer(what=...)``); where it tolerated unknown keys (a report's details, a probe of a later
version, fields OSV adds) it still does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from itertools import repeat
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_INT",
    "MAX_ITEMS",
    "MAX_STRING",
    "Node",
    "ShapeError",
    "Table",
    "shown",
]

MAX_INT = 2**63 - 1  # no count, size or time of ours is larger; a 400-digit number is refused
MAX_STRING = 65_536  # characters, unless the caller says otherwise
MAX_ITEMS = 100_000  # elements of one list, unless the caller says otherwise
MAX_DEPTH = 64  # nested lists and tables of a free-form value (as preflight._json bounds)
_HEX = frozenset("0123456789abcdef")


class ShapeError(ValueError):
    """A value that is not what its key must hold: ``key`` (dotted, ``""`` for the document
    itself), ``problem`` (what is wrong, quoting the value shortened), ``hint`` if any."""

    def __init__(self, key: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(f"key {key!r}: {problem}" if key else problem)
        self.key = key
        self.problem = problem
        self.hint = hint


def shown(value: object) -> str:
    """``value`` for a message, short: a 400-digit number is said to be one (and the repr of
    one over 4300 digits would raise)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
        return f"a number of about {round(value.bit_length() * 0.30103)} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Node:
    """One untrusted value and the key it was found at."""

    __slots__ = ("key", "value")

    def __init__(self, value: Any, key: str = "") -> None:
        self.value = value
        self.key = key

    def error(self, problem: str, *, hint: str | None = None) -> ShapeError:
        return ShapeError(self.key, problem, hint=hint)

    def at(self, name: str | int) -> str:
        """The key of a member: ``a.b`` for a table's, ``a[2]`` for a list's."""
        if isinstance(name, int):
            return f"{self.key}[{name}]"
        return f"{self.key}.{name}" if self.key else name

    def table(
        self,
        known: Iterable[str] | None = None,
        *,
        example: str = "",
        problem: str | None = None,
        unknown: str | None = None,
        missing: str = "is required",
    ) -> Table:
        """A table (a JSON object) whose keys are strings, all of them ``known`` if given.

        A reader whose users already know its words keeps them: ``problem`` for a value that
        is no table, ``unknown`` for a key not ``known``, ``missing`` for a required member
        that is not there (what :meth:`Table.__getitem__` says)."""
        if not isinstance(self.value, Mapping) or not all(isinstance(k, str) for k in self.value):
            such = f", e.g. {example}" if example else ""
            raise self.error(problem or f"must be a table{such}, not {shown(self.value)}")
        table = Table(self.value, self.key, missing=missing)
        if known is not None:
            allowed = set(known)
            extra = [name for name in self.value if name not in allowed]
            if extra:
                first = extra[0] if unknown else sorted(extra)[0]
                raise ShapeError(
                    self.at(first),
                    unknown or f"unknown key; expected one of: {', '.join(sorted(allowed))}",
                )
        return table

    def items(self, *, max_items: int = MAX_ITEMS, what: str = "a list") -> list[Node]:
        """The elements of a list, each a node at ``key[i]``; at most ``max_items``."""
        if not isinstance(self.value, list | tuple):
            raise self.error(f"must be {what}, not {shown(self.value)}")
        if len(self.value) > max_items:
            raise self.error(f"holds {len(self.value)} elements, more than {max_items}")
        return [Node(item, self.at(index)) for index, item in enumerate(self.value)]

    def strings(self, *, max_items: int = MAX_ITEMS, max_length: int = MAX_STRING) -> list[str]:
        """A list of strings (each at most ``max_length`` characters, empty ones too)."""
        value = self.value
        # map() over the builtins, not a generator: an OSV export lists a million versions
        if not isinstance(value, list) or not all(map(isinstance, value, repeat(str))):
            raise self.error(f"must be a list of strings, not {shown(value)}")
        if len(value) > max_items:
            raise self.error(f"holds {len(value)} elements, more than {max_items}")
        if max(map(len, value), default=0) > max_length:
            index, item = next((i, v) for i, v in enumerate(value) if len(v) > max_length)
            raise Node(item, self.at(index)).error(
                f"is {len(item)} characters long, more than {max_length}"
            )
        return list(value)

    def string(self, *, max_length: int = MAX_STRING, empty: bool = False) -> str:
        """A string of at most ``max_length`` characters; not blank unless ``empty``."""
        value = self.value
        if not isinstance(value, str) or (not empty and not value.strip()):
            kind = "a string" if empty else "a non-empty string"
            raise self.error(f"must be {kind}, not {shown(value)}")
        if len(value) > max_length:
            raise self.error(f"is {len(value)} characters long, more than {max_length}")
        return value

    def string_or_null(self, *, max_length: int = MAX_STRING) -> str | None:
        """A string (of at most ``max_length`` characters) or null (None)."""
        if self.value is None:
            return None
        if not isinstance(self.value, str):
            raise self.error(f"must be a string or null, not {shown(self.value)}")
        return self.string(max_length=max_length, empty=True)

    def integer(
        self, *, minimum: int, maximum: int | None = None, what: str = "a whole number"
    ) -> int:
        """A whole number (never a bool, never a float) from ``minimum`` to ``maximum``
        (:data:`MAX_INT` when not given, and then not said); ``what`` it is in a message."""
        value = self.value
        top = MAX_INT if maximum is None else maximum
        if not (_is_int(value) and minimum <= value <= top):
            bound = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
            raise self.error(f"must be {what} {bound}, not {shown(value)}")
        return int(value)

    def number(self, *, maximum: float, positive: bool = False) -> float:
        """A finite number (an int or a float, never a bool) from 0 (above 0 if ``positive``)
        to ``maximum``: ``inf`` would never end a wait, and ``nan`` compares false with
        everything."""
        value = self.value
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (value > 0 if positive else value >= 0)  # false for nan
            and value <= maximum  # exact for an int of any size, false for inf and nan
        )
        if not ok:
            kind = "a positive number" if positive else "a number >= 0"
            top = f"{maximum:g}".replace("e+0", "e").replace("e+", "e")  # 1e9, not 1e+09
            raise self.error(f"must be {kind}, at most {top}, not {shown(value)}")
        return float(value)

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"must be true or false, not {shown(self.value)}")
        return self.value

    def choice(self, choices: Iterable[str]) -> str:
        """One of ``choices`` (strings)."""
        allowed = list(choices)
        if not isinstance(self.value, str) or self.value not in allowed:
            listed = ", ".join(repr(c) for c in allowed)
            raise self.error(f"must be one of {listed}, not {shown(self.value)}")
        return self.value

    def hex_digest(self, *, length: int = 64, what: str = "sha256") -> str:
        """``length`` lowercase hex digits (a sha256 by default)."""
        value = self.value
        if not (isinstance(value, str) and len(value) == length and set(value) <= _HEX):
            raise self.error(
                f"must be a {what} ({length} lowercase hex digits), not {shown(value)}"
            )
        return value

    def plain(self, *, max_depth: int = MAX_DEPTH) -> Any:
        """A free-form JSON value (a report's details): tables with string keys, lists,
        strings, true/false/null, whole numbers within :data:`MAX_INT` either way, finite
        numbers; at most ``max_depth`` lists and tables deep. The first value that is not
        is named by its key (``details.files[3]``). Returned as it is, not copied."""
        if _is_plain(self.value, max_depth):  # the common case, quick: no key is made
            return self.value
        stack: list[tuple[Node, int]] = [(self, 0)]
        while stack:
            node, depth = stack.pop()
            problem = _own_problem(node.value)
            if problem is not None:
                raise node.error(problem)
            if isinstance(node.value, Mapping | list | tuple):
                if depth >= max_depth:
                    raise node.error(f"is nested more than {max_depth} lists or tables deep")
                members = (
                    [member for _, member in node.table().nodes()]
                    if isinstance(node.value, Mapping)
                    else node.items(max_items=len(node.value))
                )
                stack.extend((member, depth + 1) for member in reversed(members))
        raise AssertionError("unreachable: _is_plain and _own_problem disagree")


def _own_problem(value: Any) -> str | None:
    """What makes ``value`` itself (not its members) no plain JSON value, or None."""
    if isinstance(value, str | bool) or value is None:
        return None
    if isinstance(value, int):
        ok = -MAX_INT <= value <= MAX_INT
        return None if ok else f"must be a whole number of at most 19 digits, not {shown(value)}"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"must be a finite number, not {shown(value)}"
    if isinstance(value, Mapping):
        ok = all(isinstance(k, str) for k in value)
        return None if ok else f"must be a table with text keys, not {shown(value)}"
    if isinstance(value, list | tuple):
        return None
    return f"is not a JSON value but {shown(value)}"


def _is_plain(value: Any, max_depth: int) -> bool:
    """Whether :meth:`Node.plain` takes ``value``; quick (a report's details hold hundreds of
    thousands of values): exact types first, :func:`_own_problem` for anything else."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is dict or kind is list:
            if depth >= max_depth:
                return False
            if kind is dict:
                if not all(map(isinstance, item, repeat(str))):
                    return False
                item = item.values()
            for member in item:
                what = type(member)
                if what is str or what is bool or member is None:
                    continue
                if what is int and -MAX_INT <= member <= MAX_INT:
                    continue
                stack.append((member, depth + 1))
            continue
        if _own_problem(item) is not None:
            return False
        if isinstance(item, Mapping | list | tuple):  # a subclass, or a tuple made in memory
            if depth >= max_depth:
                return False
            members = item.values() if isinstance(item, Mapping) else item
            stack.extend((member, depth + 1) for member in members)
    return True


class Table:
    """A table being read: its members by key, each a :class:`Node` that names its key."""

    __slots__ = ("key", "missing", "value")

    def __init__(self, value: Mapping[str, Any], key: str = "", *, missing: str = "is required"):
        self.value = value
        self.key = key
        self.missing = missing

    def at(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def error(self, name: str, problem: str, *, hint: str | None = None) -> ShapeError:
        """An error about member ``name`` (``""``: the table itself)."""
        return ShapeError(self.at(name) if name else self.key, problem, hint=hint)

    def has(self, name: str) -> bool:
        return name in self.value

    def __contains__(self, name: object) -> bool:
        return name in self.value

    def __iter__(self) -> Iterator[str]:
        return iter(self.value)

    def __getitem__(self, name: str) -> Node:
        """Member ``name``, which must be there."""
        if name not in self.value:
            raise self.error(name, self.missing)
        return Node(self.value[name], self.at(name))

    def get(self, name: str) -> Node | None:
        """Member ``name``, or None when the table has none."""
        return Node(self.value[name], self.at(name)) if name in self.value else None

    def nodes(self) -> Iterator[tuple[str, Node]]:
        """Every member, in order."""
        for name, value in self.value.items():
            yield name, Node(value, self.at(name))
