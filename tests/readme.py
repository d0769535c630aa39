"""README.md read as the tests need it: its sections, its fenced blocks, its shell commands.

Shared by ``test_readme`` (every command and file README shows is one the tools accept) and
the adopter tests (``test_adopter``, ``test_nox_e2e``), which run README's adopter steps as
they stand: the noxfile, the install command, the two nox commands, the ``.gitignore`` lines.
"""

from __future__ import annotations

import re
import shlex
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

_FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```$", re.MULTILINE | re.DOTALL)


def text() -> str:
    return README.read_text(encoding="utf-8")


def section(title: str, source: str | None = None) -> str:
    """The body of the ``## title`` or ``### title`` section, up to the next heading of any
    level outside a fenced block's indentation (headings inside blocks are indented or
    fenced; README's own headings start at column 0)."""
    whole = text() if source is None else source
    match = re.search(rf"^#{{2,3}} {re.escape(title)}\n", whole, re.MULTILINE)
    assert match, f"README has no section {title!r}"
    rest = whole[match.end() :]
    following = re.search(r"^#{2,3} ", _without_blocks(rest), re.MULTILINE)
    return rest[: following.start()] if following else rest


def _without_blocks(source: str) -> str:
    """``source`` with every fenced block's content blanked (same length, same offsets)."""
    return _FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), source)


def blocks(language: str, source: str | None = None) -> list[str]:
    """The fenced blocks of ``language`` (``sh``, ``python``, ...), dedented, in order."""
    whole = text() if source is None else source
    return [textwrap.dedent(m.group(3)) for m in _FENCE.finditer(whole) if m.group(2) == language]


def commands(block: str) -> list[list[str]]:
    """The commands of a shell block: one per line (a trailing backslash continues it);
    comments and blank lines are not commands."""
    joined = block.replace("\\\n", " ")
    split = (shlex.split(line, comments=True) for line in joined.splitlines())
    return [words for words in split if words]


def adopter() -> str:
    return section("Adopting preflight")


def adopter_noxfile() -> str:
    """The ``python`` block of "Adopting preflight": the adopter's whole noxfile."""
    (noxfile,) = blocks("python", adopter())
    return noxfile


def adopter_install() -> list[str]:
    """The command that installs nox and preflight-env (step 1 of "Adopting preflight")."""
    first = blocks("sh", adopter())[0]
    (command,) = commands(first)
    return command


def adopter_nox_commands() -> list[list[str]]:
    """The nox commands an adopter runs in the project, in order (after the install)."""
    found = [c for b in blocks("sh", adopter()) for c in commands(b) if c[0] == "nox"]
    assert found, "README's adopter steps run no nox command"
    return found


def adopter_gitignore() -> list[str]:
    (ignored,) = [b for b in blocks("text", adopter()) if ".nox/" in b]
    return [line for line in ignored.splitlines() if line.strip()]
