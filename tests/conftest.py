"""Shared fixtures: tiny wheels, projects with a policy and a lock, real interpreters and venvs.

Session-scoped and never changed by a test: the wheelhouse, the base interpreters, one clean
3.12 venv installed with ``--require-hashes`` from the project's lock, and one 3.11 venv. A test
that tampers with an environment works on its own copy (``venv312_copy``) and a test that
tampers with a project gets its own folder (``make_project``), so nothing leaks between tests.

Everything is hermetic: wheels are built here with zipfile, pip reads only the local
wheelhouse (``--no-index``, no configuration), and the CLI runs with ``cli_env()``: no
``PIP_*``, ``PYTHON*`` (so no PYTHONPATH) or ``SMVM_*`` variable of the developer leaks in.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import wheelhouse
from packaging.version import Version
from processes import hanging_interpreter, kill_if_running, not_ignored

from preflight._interpreters.discovery import Found, best_match, find_interpreters
from preflight._policy.spec import PythonSpec
from preflight._render.report import REPORT_NAME

# What the test policy requires. alpha>=1 makes the downgrade to alpha 0.9 a policy failure too.
REQUIRES = ("alpha>=1", "beta-pkg>=2")
# The interpreter the policy pins and this machine lacks: never depend on it being present.
PINNED_FALLBACK = "3.11.13"


@pytest.fixture(scope="session", autouse=True)
def bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """preflight's cache of verified bytecode (``PREFLIGHT_CACHE_DIR``) lives in this run's
    tmp, for the checks run in-process and as subprocesses: never in the developer's home."""
    folder = tmp_path_factory.mktemp("preflight-cache")
    before = os.environ.get("PREFLIGHT_CACHE_DIR")
    os.environ["PREFLIGHT_CACHE_DIR"] = str(folder)
    yield folder
    if before is None:
        del os.environ["PREFLIGHT_CACHE_DIR"]
    else:
        os.environ["PREFLIGHT_CACHE_DIR"] = before


@pytest.fixture(scope="session", autouse=True)
def default_signal_dispositions() -> Iterator[None]:
    """Children get SIGHUP's and SIGINT's default action however the run was started.

    Under ``nohup`` SIGHUP is ignored, under a shell's background job SIGINT is, and an ignored
    signal stays ignored across exec: every CLI a test starts would inherit it, and the signal
    tests would test how the runner was started, not preflight (a run under nohup failed four
    gate tests that way). Tests that want a signal ignored ignore it themselves."""
    with not_ignored(signal.SIGHUP, signal.SIGINT):
        yield


# --- wheels -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Wheels:
    folder: Path  # the find-links folder pip reads (and nothing else)
    alpha: Path  # alpha 1.0
    alpha_old: Path  # alpha 0.9
    beta: Path  # beta-pkg 2.0, requires alpha
    extra: Path  # extra-thing 1.0, in no lock

    @property
    def locked(self) -> tuple[Path, Path]:
        """What the project's locks pin."""
        return (self.alpha, self.beta)


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    folder = tmp_path_factory.mktemp("wheelhouse")
    return Wheels(
        folder=folder,
        alpha=wheelhouse.build_wheel(folder, "alpha", "1.0"),
        alpha_old=wheelhouse.build_wheel(folder, "alpha", "0.9"),
        beta=wheelhouse.build_wheel(folder, "beta-pkg", "2.0", requires=["alpha"]),
        extra=wheelhouse.build_wheel(folder, "extra-thing", "1.0"),
    )


# --- projects ---------------------------------------------------------------------------


def toml_list(values: Iterable[str]) -> str:
    return json.dumps(list(values))  # a JSON list of strings is a TOML array


def toml_table(values: Mapping[str, str]) -> str:
    """An inline TOML table of strings (a JSON string is a TOML basic string)."""
    return "{" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in values.items()) + "}"


def write_project(
    folder: Path,
    wheels: Wheels,
    *,
    pythons: Sequence[str] = ("3.12", PINNED_FALLBACK),
    requires: Sequence[str] = REQUIRES,
    env_vars: Sequence[str] | Mapping[str, str] | None = (),
    locks: Sequence[str] = ("3.12", "3.11"),
    extra: str = "",
) -> Path:
    """A project folder: ``pyproject.toml`` with ``[tool.preflight]`` and one lock per X.Y.

    ``env_vars`` is written as a list, or as a table of expected values when a mapping;
    ``None`` leaves the key out (the default: none). The performance limits are generous: a
    loaded test machine must not turn PASSED into WARNING.
    """
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "[tool.preflight]",
        f"pythons = {toml_list(pythons)}",
        f"requires = {toml_list(requires)}",
        "lock_max_age_days = 90",
    ]
    if isinstance(env_vars, Mapping):
        lines.append(f"env_vars = {toml_table(env_vars)}")
    elif env_vars is not None:
        lines.append(f"env_vars = {toml_list(env_vars)}")
    lines.append(extra)
    lines += [
        "",
        "[tool.preflight.performance]",
        "max_import_seconds = 30",
        "max_total_seconds = 60",
    ]
    (folder / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for minor in locks:
        lock = folder / "requirements" / f"py{minor}.txt"
        wheelhouse.write_lock(lock, wheels.locked, python=minor)
    return folder


@pytest.fixture
def make_project(tmp_path: Path, wheels: Wheels) -> Callable[..., Path]:
    """``make_project(**policy)``: a fresh project folder for this test (see write_project)."""
    counter = iter(range(1000))

    def make(**kwargs: Any) -> Path:
        return write_project(tmp_path / f"project{next(counter)}", wheels, **kwargs)

    return make


@pytest.fixture
def project(make_project: Callable[..., Path]) -> Path:
    """The default project: pythons 3.12 (primary) and 3.11.13, env_vars = []."""
    return make_project()


# --- interpreters and venvs -------------------------------------------------------------


@functools.cache
def machine_interpreters() -> tuple[Found, ...]:
    """What preflight's own discovery finds on this machine, looked up once per test run."""
    return tuple(find_interpreters())


def real_python(*specs: str) -> Found:
    """The first of ``specs`` this machine has (as the policy matches them), else skip."""
    for spec in specs:
        found = best_match(PythonSpec.parse(spec), machine_interpreters())
        if found is not None:
            return found
    pytest.skip(f"no Python {' or '.join(specs)} found by preflight._interpreters.discovery")


@pytest.fixture(scope="session")
def interpreters() -> list[Found]:
    return list(machine_interpreters())


@pytest.fixture(scope="session")
def python312(interpreters: list[Found]) -> Path:
    found = best_match(PythonSpec.parse("3.12"), interpreters)
    if found is None:
        pytest.skip("no Python 3.12 on this machine (looked on PATH and in pyenv/uv/asdf/mise)")
    return found.path


@pytest.fixture(scope="session")
def python311(interpreters: list[Found]) -> Found:
    """A final 3.11.x other than the pinned 3.11.13, so that the pin is what rejects it."""
    candidates = [
        f
        for f in interpreters
        if f.version.release[:2] == (3, 11)
        and not f.version.is_prerelease
        and f.version != Version(PINNED_FALLBACK)
    ]
    if not candidates:
        pytest.skip(f"no Python 3.11.x other than {PINNED_FALLBACK} on this machine")
    return max(candidates, key=lambda f: f.version)


@pytest.fixture(scope="session")
def venv312(tmp_path_factory: pytest.TempPathFactory, python312: Path, wheels: Wheels) -> Path:
    """A clean 3.12 venv (with pip) installed with --require-hashes from the project's lock.

    Read-only for tests: copy it (``venv312_copy``) to change it.
    """
    root = tmp_path_factory.mktemp("venv312")
    lock = wheelhouse.write_lock(root / "py3.12.txt", wheels.locked, python="3.12")
    return wheelhouse.make_venv(
        python312,
        root / "venv",
        find_links=wheels.folder,
        install=["--require-hashes", "-r", str(lock)],
    )


@pytest.fixture(scope="session")
def venv311(tmp_path_factory: pytest.TempPathFactory, python311: Found, wheels: Wheels) -> Path:
    """A clean 3.11 venv (no pip of its own: faster to make) installed from the 3.11 lock."""
    root = tmp_path_factory.mktemp("venv311")
    lock = wheelhouse.write_lock(root / "py3.11.txt", wheels.locked, python="3.11")
    return wheelhouse.make_venv(
        python311.path,
        root / "venv",
        find_links=wheels.folder,
        install=["--require-hashes", "-r", str(lock)],
        with_pip=False,
    )


@pytest.fixture
def venv312_copy(tmp_path: Path, venv312: Path) -> Path:
    """This test's own copy of the clean 3.12 venv, free to tamper with."""
    return wheelhouse.copy_venv(venv312.parent.parent, tmp_path / "venv")


# --- running the CLI --------------------------------------------------------------------


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the CLI runs with: hermetic, and without the developer's SMVM_* variables."""
    env = {k: v for k, v in wheelhouse.hermetic_env().items() if not k.startswith("SMVM_")}
    env.update(extra or {})
    return env


def cli_argv(*args: str | Path, command: str = "check") -> list[str]:
    """``preflight COMMAND ARGS`` run by the tool's own interpreter, as a user would."""
    return [sys.executable, "-m", "preflight", command, *map(str, args)]


def run_preflight(
    command: str, *args: str | Path, cwd: Path, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``preflight COMMAND ARGS`` as a subprocess in :func:`cli_env`; output captured."""
    return subprocess.run(
        cli_argv(*args, command=command),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=cli_env(),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    report_dir: Path

    @property
    def report_path(self) -> Path:
        return self.report_dir / REPORT_NAME

    @property
    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.report_path.read_text(encoding="utf-8"))
        return data

    def check(self, check_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.report["checks"][check_id]
        return result

    def statuses(self, status: str) -> set[str]:
        """The ids of the checks with this status ("pass", "warn", "fail", "skip")."""
        return {cid for cid, c in self.report["checks"].items() if c["status"] == status}

    def findings(self, check_id: str) -> str:
        return "\n".join(f["message"] for f in self.check(check_id)["findings"])


def assert_user_facing(run: CliRun, *, json_out: bool = False) -> None:
    """What holds for every run: no traceback; data only on stdout; exit code as reported."""
    assert "Traceback" not in run.stderr, run.stderr
    assert "Traceback" not in run.stdout, run.stdout
    if not json_out:
        assert run.stdout == "", "human text belongs on stderr"
    if run.returncode == 3:
        assert run.stderr.startswith("error: "), run.stderr
    if run.report_path.exists() and run.returncode in (0, 1, 2):
        assert run.report["exit_code"] == run.returncode


@pytest.fixture
def run_check(tmp_path: Path) -> Callable[..., CliRun]:
    """``run_check(ARGS, env=..., report_dir=...)``: ``preflight check`` as a subprocess.

    ``--report-dir`` defaults to a fresh folder of this test; the working directory is the
    test's tmp folder, so nothing lands in the developer's ./reports.
    """
    counter = iter(range(1000))

    def run(
        *args: str | Path,
        env: Mapping[str, str] | None = None,
        report_dir: Path | None = None,
        timeout: float = 120,
    ) -> CliRun:
        folder = report_dir or tmp_path / f"reports{next(counter)}"
        argv = cli_argv(*args, "--report-dir", folder)
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=cli_env(env),
            cwd=tmp_path,
            timeout=timeout,
            check=False,
        )
        result = CliRun(done.returncode, done.stdout, done.stderr, folder)
        assert_user_facing(result, json_out="json" in args)
        return result

    return run


@pytest.fixture
def hanging_python(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """An "interpreter" that never answers, and the pid file of its sleeping grandchild."""
    script, pid_file = hanging_interpreter(tmp_path)
    yield script, pid_file
    kill_if_running(pid_file)
