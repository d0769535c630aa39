"""Domain errors. Each one says what is wrong, where, and what to do about it.

They are raised by the modules that read user input (policy, lock files, arguments) and
translated once, at the edge of the CLI, into ``error: ...`` plus a ``hint: ...`` line.
"""

from __future__ import annotations

from pathlib import Path

from preflight._text import shown

ERROR_LINE_LIMIT = 2000  # characters of one line of an error: it may quote a whole lock line


class PreflightError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


_POLICY_HINT = "fix [tool.preflight] in pyproject.toml; docs/policy.md lists every key and its type"


class ConfigError(PreflightError, ValueError):
    """The policy in ``pyproject.toml`` is unreadable or invalid."""

    def __init__(self, path: Path, key: str | None, message: str, *, hint: str | None = None):
        where = f"{path}: [tool.preflight] key {key!r}" if key else f"{path}"
        super().__init__(f"{where}: {message}", hint=hint or _POLICY_HINT)
        self.path = path
        self.key = key


class LockError(PreflightError, ValueError):
    """A lock file is missing, unreadable, or does not parse."""

    def __init__(self, path: Path, line: int | None, message: str, *, hint: str | None = None):
        where = f"{path}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {message}", hint=hint)
        self.path = path
        self.line = line


class UsageError(PreflightError):
    """A command-line argument is wrong (a path that does not exist, say)."""


def format_error(exc: PreflightError) -> str:
    """The one way an error reaches a person: ``error: ...`` and, if any, ``hint: ...``.

    A message may quote what the user or the judged environment wrote (a lock line, a path,
    the output of pip-compile): each of its lines is shown (escaped, shortened), and a line
    after the first is indented behind ``| ``, so that none can pass for a line of our own or
    for a GitHub workflow command (the runner reads ``::`` after leading blanks).
    """
    first, *rest = exc.message.splitlines() or [""]
    lines = [f"error: {shown(first, limit=ERROR_LINE_LIMIT)}"]
    lines += [f"  | {shown(line, limit=ERROR_LINE_LIMIT)}" for line in rest]
    if exc.hint:
        lines.append(f"hint: {shown(exc.hint, limit=ERROR_LINE_LIMIT)}")
    return "\n".join(lines)
