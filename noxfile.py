"""Sessions of the preflight project. `nox -l` lists them with these docstrings.

The interpreter matrix is read from the policy, `[tool.preflight] pythons` in pyproject.toml:
the sessions `preflight-<spec>` and the CI matrix are derived from that one list.

Run this file directly (`python3 noxfile.py -s preflight`) on a machine without nox: it
installs nox into `.nox/_bootstrap` once, then hands over to it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # the preflight package, read from this checkout

if __name__ == "__main__":
    from preflight._ops.bootstrap import run_nox

    sys.exit(run_nox(Path(__file__), sys.argv[1:]))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from functools import cache  # noqa: E402

import nox  # noqa: E402

from preflight._errors import ConfigError  # noqa: E402
from preflight._interpreters.discovery import Found, find_interpreters  # noqa: E402
from preflight._interpreters.resolve import Resolution, resolve  # noqa: E402
from preflight._ops import matrix  # noqa: E402
from preflight._ops import relock as relock_module  # noqa: E402
from preflight._policy.policy import load_policy  # noqa: E402

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "lint"]

try:
    POLICY = load_policy(ROOT)
except ConfigError as exc:  # say what is wrong with the policy, not where nox loads it
    raise SystemExit(f"error: {exc.message}\nhint: {exc.hint}") from None
PYTHONS = [str(spec) for spec in POLICY.pythons]
REPORTS = ROOT / "reports"
# One id per nox invocation: the summary shows only what this run checked.
RUN_ID = os.environ.setdefault("PREFLIGHT_NOX_RUN", uuid.uuid4().hex)


@cache
def _interpreters() -> tuple[Found, ...]:
    """Every interpreter on PATH and in pyenv / uv / asdf / mise folders (searched once)."""
    return tuple(find_interpreters())


def _options(posargs: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The session's own flags; whatever is left goes on to `preflight check`."""
    parser = argparse.ArgumentParser(prog="nox -s preflight --", add_help=False)
    parser.add_argument(
        "--allow-substitute",
        action="store_true",
        default=os.environ.get("PREFLIGHT_ALLOW_SUBSTITUTE") == "1",
        help="accept the nearest patch release of the same X.Y (e.g. 3.11.7 for 3.11.13)",
    )
    return parser.parse_known_args(posargs)


def _skip_or_error(session: nox.Session, message: str) -> None:
    """A missing interpreter: skipped locally, an error on CI (`CI` set), as nox does."""
    if os.environ.get("CI"):
        session.error(message)
    session.skip(message)


@nox.session(venv_backend="none")
def preflight(session: nox.Session) -> None:
    """Check every interpreter of the policy: a fresh env from its lock, then preflight check.

    Queues `preflight-<spec>` for each spec in `[tool.preflight] pythons`, then the matrix
    summary. Extra arguments go to each of them: `--allow-substitute`, and anything that
    `preflight check` takes (e.g. `-- --skip performance`).
    """
    for spec in PYTHONS:
        session.notify(f"preflight-{spec}", session.posargs)
    session.notify("preflight_summary")


def _preflight_session(spec: str) -> None:
    """Register `preflight-<spec>`: the session name says which interpreter it checks."""

    def check_one(session: nox.Session) -> None:
        _preflight_one(session, spec)

    check_one.__doc__ = f"Build a fresh Python {spec} env from its lock and judge it."
    nox.session(name=f"preflight-{spec}", venv_backend="none")(check_one)


for _spec in PYTHONS:
    _preflight_session(_spec)


def _preflight_one(session: nox.Session, spec: str) -> None:
    options, check_args = _options(session.posargs)
    folder = REPORTS / session.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / matrix.OUTCOME_NAME).unlink(missing_ok=True)
    session.notify("preflight_summary")
    started = time.perf_counter()
    found = resolve(spec, _interpreters(), allow_substitute=options.allow_substitute)
    if not found.ok:
        outcome = matrix.Outcome(
            session.name, spec, RUN_ID, matrix.NOT_CHECKED, message=found.short
        )
        matrix.write_outcome(folder, outcome)
        _skip_or_error(session, found.message)
    session.log(found.message)
    _check(session, spec=spec, found=found, folder=folder, check_args=check_args, started=started)


def _check(
    session: nox.Session,
    *,
    spec: str,
    found: Resolution,
    folder: Path,
    check_args: list[str],
    started: float,
) -> None:
    assert found.found is not None
    try:
        backend = matrix.choose_backend()
    except ValueError as exc:
        session.error(str(exc))
    session.log(backend.describe())
    version = str(found.found.version)
    lock = POLICY.lock_path(version)
    target = ROOT / ".nox" / session.name / "env"
    shutil.rmtree(target, ignore_errors=True)  # fresh, every time
    python = target / "bin" / "python"
    timings: dict[str, float] = {}

    def step(name: str, *argv: str | Path, **kwargs: object) -> None:
        begun = time.perf_counter()
        try:
            session.run(*map(str, argv), external=True, **kwargs)  # type: ignore[arg-type]
        except nox.command.CommandFailed:
            # The summary must say this interpreter failed, not that it did not run.
            failed = matrix.Outcome(
                session.name, spec, RUN_ID, matrix.ERROR, message=f"{name} failed",
                interpreter=str(found.found.path), backend=backend.name, timings=timings,
                seconds=round(time.perf_counter() - started, 2),
            )  # fmt: skip
            matrix.write_outcome(folder, failed)
            raise
        timings[name] = round(time.perf_counter() - begun, 2)

    step("venv", *matrix.venv_command(backend, sys.executable, str(found.found.path), target))
    step(
        "install",
        *matrix.install_command(backend, python, lock),
        env=matrix.install_env(),
        include_outer_env=False,
    )
    step("first start", *matrix.warm_command(python, POLICY.import_names()))
    # The judge runs outside the environment it judges: nox's own interpreter runs preflight
    # from this checkout (nox runs sessions in the noxfile's folder, which `-m` puts on
    # sys.path; preflight needs only `packaging`, which nox itself depends on).
    step(
        "check",
        sys.executable, "-m", "preflight", "check", "--python", python, "--project", ROOT,
        "--lock", lock, "--report-dir", folder, *check_args,
        *(["--substitute-for", spec] if found.substitute else []),
        success_codes=[0, 1, 2],
    )  # fmt: skip
    report_path = folder / "runtime_verification_results.json"
    report = json.loads(report_path.read_text(encoding="utf-8"))
    outcome = matrix.Outcome.from_report(
        report,
        session=session.name,
        spec=spec,
        run_id=RUN_ID,
        interpreter=str(found.found.path),
        substitute=found.substitute,
        seconds=round(time.perf_counter() - started, 2),
        backend=backend.name,
        report=str(report_path),
        message=found.message if found.substitute else "",
        timings=timings,
    )
    matrix.write_outcome(folder, outcome)
    if outcome.verdict == "NOT_READY":
        session.error(f"{spec}: NOT_READY; failed checks: {', '.join(outcome.failed)}")


@nox.session(venv_backend="none")
def preflight_summary(session: nox.Session) -> None:
    """The matrix table of the last `nox -s preflight` (run after it automatically)."""
    sessions = [(f"preflight-{spec}", spec) for spec in PYTHONS]
    outcomes = matrix.read_outcomes(REPORTS, sessions, RUN_ID)
    print(matrix.summary_table(outcomes), file=sys.stderr)
    matrix.write_summary(REPORTS, outcomes, step_summary=os.environ.get("GITHUB_STEP_SUMMARY"))


@nox.session(venv_backend="none")
def relock(session: nox.Session) -> None:
    """Regenerate every interpreter's lock with pip-tools, with hashes, never losing one.

    `-- --check` compiles to a temporary place and fails with a diff when a committed lock is
    out of date; `-- --upgrade`, `-- --upgrade-package NAME`, `-- --only 3.12` as named.
    """
    session.run(
        sys.executable, "-m", "preflight", "relock", "--project", str(ROOT), *session.posargs,
        external=True,
    )  # fmt: skip


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (no network); extra arguments go to pytest, e.g. `-- -k lock`.

    Setup downloads the wheels of pip-tools and pytest once: the relock tests build pip-tools
    venvs of other interpreters from them, the suite tests a judged env with pytest in it.
    The tests themselves use no network.
    """
    session.install("-e", ".[test]", "pip")
    wheels = ROOT / ".nox" / "_wheels" / "test"
    session.run(
        "python", "-m", "pip", "download", "--quiet", "--only-binary=:all:",
        "--dest", str(wheels), relock_module.PIP_TOOLS, "pytest", "packaging",
    )  # fmt: skip
    session.run(
        "pytest",
        "-m",
        "not network",
        *session.posargs,
        env={"PREFLIGHT_TEST_WHEELHOUSE": str(wheels)},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Check formatting, lint and types (ruff, mypy --strict)."""
    session.install("-e", ".[lint]")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")
    session.run("mypy")
