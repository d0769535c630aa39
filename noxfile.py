"""Sessions of the preflight project. `nox -l` lists them with these docstrings."""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (no network); extra arguments go to pytest, e.g. `-- -k lock`."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "not network", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check formatting, lint and types (ruff, mypy --strict)."""
    session.install("-e", ".[lint]")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")
    session.run("mypy")
