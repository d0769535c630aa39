"""Untrusted text made safe for a line-oriented text output: :func:`shown`.

Everything preflight reads from a judged environment (file and folder names, distribution
names and versions, METADATA, ``direct_url.json``, RECORD paths, probe output, the tail of the
suite's output), every lock line and every policy string may hold a newline, a carriage
return, an ANSI escape or a bidi override. Printed raw, one of those starts a line of its own:
a forged ``NOT_READY (FAILED)`` in the summary, or a GitHub workflow command (``::error ...``)
that the runner obeys. And a 50 MB string printed raw is 50 MB on the terminal.

Where it is applied: where a message is *rendered* into text (the terminal summary, the check
log, the GitHub annotations, the monitor's daily log, the matrix table and step summary, the
alert bodies and subjects, an error on stderr), never where a finding is made: the JSON report
keeps the exact text (JSON escapes it) so that a reader can still see the name as it is,
bounded by :func:`capped` in ``Report.to_dict``.

This module is the bottom layer: it imports only the standard library.
"""

from __future__ import annotations

import re

__all__ = ["FIELD_LIMIT", "JSON_FIELD_LIMIT", "MESSAGE_LIMIT", "capped", "shown"]

FIELD_LIMIT = 300  # characters of one untrusted field shown in a text output (a name, a path)
# A finding's message or remedy: our words around a field or two (and a path or a command),
# shown whole as one text so that no field is repeated; cut only when a field is huge.
MESSAGE_LIMIT = 1000
JSON_FIELD_LIMIT = 4096  # characters of one text field of the JSON report

# C0 controls, DEL and C1 controls (NEL U+0085 included); the line and paragraph separators;
# the bidi marks, embeddings, overrides and isolates (a "Trojan Source" name reads as another);
# the byte-order mark; lone surrogates (undecodable bytes of a file name, which a strict UTF-8
# stream would refuse to print); and the backslash, so that no escaped form can be forged.
_BREAKERS = r"\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff"
_UNSAFE = re.compile(rf"[\\\x00-\x1f{_BREAKERS}]")
_UNSAFE_BUT_NEWLINE = re.compile(rf"[\\\x00-\x09\x0b-\x1f{_BREAKERS}]")
_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: str, *, limit: int | None = FIELD_LIMIT, keep_newlines: bool = False) -> str:
    """``text`` as one safe line: controls and line/format breakers escaped, long text cut.

    ``\\n`` ``\\r`` ``\\t`` and ``\\\\`` by name, other characters below U+0100 as ``\\xNN``,
    the rest as ``\\uNNNN``; text longer than ``limit`` characters keeps its first ``limit``
    and says how many were left out: ``… (+N characters)``. ``limit=None`` never cuts (for a
    line the tool built whole from fields already shown). The escaped output never holds a
    raw control character, and is at most about six times ``limit`` long.

    ``keep_newlines`` leaves ``\n`` alone (and only it), for an output with an escaping of its
    own that shows a newline without starting a line: a GitHub workflow command's ``%0A``.
    """
    unsafe = _UNSAFE_BUT_NEWLINE if keep_newlines else _UNSAFE
    if limit is not None and len(text) > limit:
        cut = len(text) - limit
        return unsafe.sub(_escaped, text[:limit]) + f"… (+{cut} characters)"
    return unsafe.sub(_escaped, text)


def capped(text: str, limit: int = JSON_FIELD_LIMIT) -> str:
    """``text`` unchanged up to ``limit`` characters, else cut to ``limit`` with the count.

    For the JSON report, which keeps the exact text (JSON escapes it) but must stay bounded.
    The result, count included, is at most ``limit`` characters long, so capping what was
    capped changes nothing: a report read back and written again is the same report.
    """
    if len(text) <= limit:
        return text
    suffix = f"… (+{len(text)} characters)"  # the longest the count can be
    keep = max(limit - len(suffix), 0)
    return text[:keep] + f"… (+{len(text) - keep} characters)"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``"1 file"``, ``"3 files"``; ``many`` for a word whose plural is not ``word + "s"``."""
    return f"{count} {word if count == 1 else (many or word + 's')}"
