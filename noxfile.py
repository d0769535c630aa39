"""Sessions of the preflight project. `nox -l` lists them with these docstrings.

The interpreter matrix is read from the policy, `[tool.preflight] pythons` in pyproject.toml:
`preflight.nox.register()` derives the sessions `preflight-<spec>` from it, as the CI matrix is.
This project keeps only its own `tests` and `lint` besides.

Run this file directly (`python3 noxfile.py -s preflight`) on a machine without nox: it
installs nox into `.nox/_bootstrap` once, then hands over to it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # this checkout's preflight: the tool judges its own project

if __name__ == "__main__":
    from preflight._ops.bootstrap import run_nox

    sys.exit(run_nox(Path(__file__), sys.argv[1:]))

import nox  # noqa: E402

import preflight.nox  # noqa: E402
from preflight._ops import relock as relock_module  # noqa: E402

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "lint"]

# preflight-<spec> per interpreter of [tool.preflight] pythons, preflight, its summary, relock:
# the same sessions an adopter registers (README, "Adopting preflight").
preflight.nox.register(ROOT)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (no network); extra arguments go to pytest, e.g. `-- -k lock`.

    The tests run on every core (pytest-xdist's `-n auto`); `-- -n 0` runs them in one
    process, e.g. to debug with `--pdb`. Setup downloads wheels once: pip-tools (the relock
    tests build pip-tools venvs of other interpreters from them), pytest (a judged env with
    pytest in it), packaging and nox (the installed wheel, and an adopter's venv where nox
    runs, offline). The tests themselves use no network.
    """
    session.install("-e", ".[test]", "pip")
    wheels = ROOT / ".nox" / "_wheels" / "test"
    session.run(
        "python", "-m", "pip", "download", "--quiet", "--only-binary=:all:",
        "--dest", str(wheels), relock_module.PIP_TOOLS, "pytest", "packaging", "nox",
    )  # fmt: skip
    session.run(
        "pytest",
        "-n",
        "auto",
        *session.posargs,
        env={"PREFLIGHT_TEST_WHEELHOUSE": str(wheels)},
    )


@nox.session
def fuzz(session: nox.Session) -> None:
    """Fuzz the parsers of untrusted input longer than the test run does, and say how much.

    `-- 20000` sets the examples per target (default 5000); hypothesis prints, per target,
    how many it ran and how long they took.
    """
    session.install("-e", ".[test]")
    budget = session.posargs[0] if session.posargs else "5000"
    if not budget.isdigit() or int(budget) < 1:
        session.error(f"fuzz: the budget must be a whole number of examples, not {budget!r}")
    session.run(
        "pytest", "tests/test_fuzz.py", "-q", "-p", "no:cacheprovider",
        "--hypothesis-show-statistics",
        env={"PREFLIGHT_FUZZ_EXAMPLES": budget},
    )  # fmt: skip


@nox.session
def lint(session: nox.Session) -> None:
    """Check formatting, lint and types (ruff, mypy --strict)."""
    session.install("-e", ".[lint]")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")
    session.run("mypy")
