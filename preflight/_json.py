"""One strict JSON reader for every document nobody vouched for: bounded by what it becomes.

Reports and session outcomes read by ``summarize`` and ``alert --report``, the monitor's
history, the alert state, baseline manifests, OSV records and the probes' payloads are read
here, never by a bare ``json.loads``. The byte size of a document is bounded by its reader
(:mod:`preflight._read`); this bounds what the bytes turn into:

* **depth**: at most :data:`MAX_DEPTH` nested arrays and objects. Measured by a scan of the
  brackets outside strings *before* ``json`` parses (``json`` recurses once per level: a
  document of 100,000 ``[`` would be a RecursionError, or worse), so no recursion ever runs
  deeper than the limit.
* **values**: at most ``max_values`` values (a value per comma, plus the containers), counted
  by the same scan: 64 MiB of ``[0,0,0,...]`` is 30 million Python objects, gigabytes.
* **numbers**: at most :data:`MAX_INT_DIGITS` digits in a row (Python refuses to convert an
  integer of more than 4,300 with a bare ValueError, and a long one costs quadratic time
  below that), found by the same scan.
* **numbers finite**: ``NaN``, ``Infinity`` and a float that overflows to infinity are refused
  (they are not JSON, and no tool of ours writes them).
* **duplicate keys refused**: ``{"status": "fail", "status": "pass"}`` means what the last
  one says to ``json`` and the first to other readers; a document that says two things is
  not believed.

Every refusal is a :class:`JSONError`, a ``ValueError`` whose message says where (line and
column when known) and what is wrong; the caller names the file and the key.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any, Literal

__all__ = ["MAX_DEPTH", "MAX_INT_DIGITS", "MAX_VALUES", "JSONError", "loads"]

MAX_DEPTH = 64  # a report nests 5 levels, an OSV record 6, a manifest 3
MAX_INT_DIGITS = 40  # a size, a time, a line number: 20 digits at most
MAX_VALUES = 4_000_000  # default; each caller that knows its documents sets its own

_STRING = re.compile(rb'"[^"]*"')  # once escaped quotes are gone
_NOT_STRUCTURE = bytes(set(range(256)) - set(b"[]{},"))
# A string or a number, left to right, as json tokenises: a number outside a string.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|-?[0-9]+|[\[\]{}]', re.DOTALL)
_DIGITS = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))  # a digit to "0", else " "
_LONG_RUN = b"0" * (MAX_INT_DIGITS + 1)
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1, ord(","): 0}


class JSONError(ValueError):
    """A document that is not JSON (``kind`` "syntax"), or is JSON over one of the limits
    or holding what no document of ours holds ("limit"); ``line`` and ``column`` when known."""

    def __init__(
        self,
        problem: str,
        *,
        kind: Literal["syntax", "limit"] = "limit",
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(where + problem)
        self.problem = problem
        self.kind = kind
        self.line = line
        self.column = column


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _scan(text: str, max_depth: int, max_values: int) -> None:
    """Refuse ``text`` nested deeper than ``max_depth``, holding more than ``max_values``
    values or a run of more than :data:`MAX_INT_DIGITS` digits, from its brackets, commas and
    digits outside strings (C-speed byte work, no recursion). Exact for valid JSON; for
    invalid JSON it may overcount, never undercount what ``json`` would recurse into before
    it finds the error."""
    data = text.encode("utf-8", "surrogatepass")
    opens = data.count(b"[") + data.count(b"{")
    long_number = data.translate(_DIGITS).find(_LONG_RUN) >= 0
    if opens <= max_depth and data.count(b",") + opens < max_values and not long_number:
        return  # counted with what strings hold: it cannot be over any limit
    # Escapes first, as JSON reads them (a backslash takes the next character, left to right:
    # every pair of backslashes, then every backslash-quote), so no quote left is an escaped
    # one; then each string is a quote to the next quote (left as one letter: a value).
    outside = _STRING.sub(b"s", data.replace(b"\\\\", b"").replace(b'\\"', b""))
    if long_number and outside.translate(_DIGITS).find(_LONG_RUN) >= 0:
        line, column = _where_number(text)
        problem = f"holds a number of more than {MAX_INT_DIGITS} digits, the limit"
        raise JSONError(problem, line=line, column=column)
    structure = outside.translate(None, _NOT_STRUCTURE)
    if _deeper(structure.replace(b",", b""), max_depth):
        line, column = _deep(text, max_depth)
        problem = f"is nested deeper than {max_depth} levels, the limit"
        raise JSONError(problem, line=line, column=column)
    # A value per element of a container (its commas, plus one if it is not empty) and the
    # document itself.
    tight = outside.translate(None, b" \t\r\n")
    empty = tight.count(b"[]") + tight.count(b"{}")
    values = structure.count(b",") + structure.count(b"[") + structure.count(b"{") - empty + 1
    if values > max_values:
        raise JSONError(f"holds more than {max_values:,} values, the limit")


def _deeper(brackets: bytes, max_depth: int) -> bool:
    """Whether ``brackets`` (only ``[]{}``) nest deeper than ``max_depth``. Innermost pairs
    are taken away ``max_depth`` times over (C-speed work on what is left, shrinking): a
    document of that depth or less is then empty. Otherwise (deeper, or brackets that do not
    match) the exact running depth decides, so a truncated document is not called deep."""
    left = brackets
    for _ in range(max_depth):
        if not left:
            return False
        shorter = left.replace(b"[]", b"").replace(b"{}", b"")
        if len(shorter) == len(left):
            break  # brackets that do not match: not JSON
        left = shorter
    if not left:
        return False
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > max_depth


def _where_number(text: str) -> tuple[int | None, int | None]:
    """Where a document's first over-long number is (only on the way to an error)."""
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token[0] != '"' and len(token.lstrip("-")) > MAX_INT_DIGITS:
            return _position(text, match.start())
    return None, None


def _deep(text: str, max_depth: int) -> tuple[int | None, int | None]:
    """Where a document first goes too deep (only on the way to an error)."""
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                return _position(text, match.start())
        elif token in "]}":
            depth -= 1
    return None, None


def _float(digits: str) -> float:
    value = float(digits)
    if not math.isfinite(value):
        raise JSONError(f"the number {digits[:40]} is too large for a float")
    return value


def _constant(name: str) -> Any:
    raise JSONError(f"{name} is not JSON (no document of preflight holds it)")


def _object(items: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(items)
    if len(value) != len(items):
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                break
            seen.add(key)
        raise JSONError(f"the key {key[:100]!r} appears twice in one object")
    return value


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> Any:
    """The JSON value of ``data`` (bytes are decoded as UTF-8), or :class:`JSONError`."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONError(f"not UTF-8 (byte {exc.start})", kind="syntax") from None
    else:
        text = data
    if text.startswith("\ufeff"):
        raise JSONError("starts with a byte order mark (JSON has none)", kind="syntax")
    _scan(text, max_depth, max_values)
    try:
        return json.loads(
            text,
            parse_float=_float,
            parse_constant=_constant,
            object_pairs_hook=_object,
        )
    except JSONError:
        raise
    except json.JSONDecodeError as exc:
        raise JSONError(exc.msg, kind="syntax", line=exc.lineno, column=exc.colno) from None
    except RecursionError:  # not reached past the scan; never a traceback if it were
        raise JSONError(f"is nested deeper than {max_depth} levels, the limit") from None
