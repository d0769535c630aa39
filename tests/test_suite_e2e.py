"""The project's own suite, run by the judged environment's pytest and folded into the report.

The environment needs a real pytest: its wheels come from the wheelhouse that the ``tests``
session downloads once (``PREFLIGHT_TEST_WHEELHOUSE``); nothing is fetched by the tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import memory
import pytest
import wheelhouse
from conftest import CliRun, Wheels, cli_argv, cli_env
from packaging.utils import canonicalize_name
from processes import ends, interrupt, kill_if_running

WHEELHOUSE = os.environ.get("PREFLIGHT_TEST_WHEELHOUSE", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not WHEELHOUSE, reason="PREFLIGHT_TEST_WHEELHOUSE is not set (nox -s tests sets it)"
    ),
]


@pytest.fixture(scope="module")
def venv_with_pytest(
    tmp_path_factory: pytest.TempPathFactory, python312: Path, wheels: Wheels
) -> Path:
    root = tmp_path_factory.mktemp("suite-venv")
    python = wheelhouse.make_venv(python312, root / "venv", with_pip=False)
    wheelhouse.pip_install(
        python,
        ["--find-links", WHEELHOUSE, "alpha", "beta-pkg", "pytest"],
        find_links=wheels.folder,
        own_pip=False,
    )
    return python


def _held_wheels(venv: Path, folders: Sequence[Path]) -> list[Path]:
    """The wheels in ``folders`` of the distributions ``venv`` holds (name and version)."""

    def key(stem: str) -> tuple[str, str]:
        name, version = stem.split("-")[:2]
        return canonicalize_name(name), version

    held = {
        key(p.name.removesuffix(".dist-info"))
        for p in wheelhouse.site_packages(venv).glob("*.dist-info")
    }
    found = {key(w.name): w for folder in folders for w in folder.glob("*.whl")}
    return [wheel for k, wheel in sorted(found.items()) if k in held]


def suite_project(
    make_project: Callable[..., Path], body: str, venv: Path | None = None, *, wheels: Wheels
) -> Path:
    """A project whose policy names the suite ``checks``; with ``venv``, its lock pins what
    that environment holds (pytest and its dependencies too), so that the environment is
    verified and its suite run (verify, then run)."""
    project = make_project(extra='suite = "checks"')
    (project / "checks").mkdir()
    (project / "checks" / "test_app.py").write_text(body, encoding="utf-8")
    if venv is not None:
        locked = _held_wheels(venv, [Path(WHEELHOUSE), wheels.folder])
        wheelhouse.write_lock(project / "requirements" / "py3.12.txt", locked)
    return project


def test_a_passing_suite_is_a_passing_check(
    make_project: Callable[..., Path],
    venv_with_pytest: Path,
    run_check: Callable[..., CliRun],
    wheels: Wheels,
) -> None:
    project = suite_project(
        make_project,
        "import alpha\n\ndef test_alpha():\n    assert alpha.__version__ == '1.0'\n",
        venv_with_pytest,
        wheels=wheels,
    )
    result = run_check("--python", venv_with_pytest, "--project", project)
    suite = result.check("suite")
    assert suite["status"] == "pass", suite
    assert suite["message"].startswith("1 passed in ")
    assert suite["details"]["command"].startswith(f"{venv_with_pytest} -m pytest")
    assert not (project / "checks" / "__pycache__").exists()  # nothing written into the project
    assert not (project / ".pytest_cache").exists()


def test_a_failing_suite_makes_the_environment_not_ready(
    make_project: Callable[..., Path],
    venv_with_pytest: Path,
    run_check: Callable[..., CliRun],
    wheels: Wheels,
) -> None:
    project = suite_project(
        make_project, "def test_fails():\n    assert 1 == 2\n", venv_with_pytest, wheels=wheels
    )
    result = run_check("--python", venv_with_pytest, "--project", project)
    suite = result.check("suite")
    assert suite["status"] == "fail"
    assert "failed (tests failed): 1 failed in " in suite["message"]
    assert "assert 1 == 2" in suite["details"]["output_tail"]
    assert result.report["status"] == "NOT_READY"
    assert result.returncode == 1


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="reads Linux's /proc/<pid>/mem")
def test_the_suite_cannot_read_preflights_credentials_from_its_memory(
    make_project: Callable[..., Path],
    venv_with_pytest: Path,
    run_check: Callable[..., CliRun],
    wheels: Wheels,
    tmp_path: Path,
) -> None:
    # The suite is the environment's code, run as root by design: it walks up its ancestors
    # (the reaper, preflight, ...) and reads each one's environment and memory, looking for
    # what follows the password's first characters.
    password, record = "s3cret-suite-password-1f6e", tmp_path / "stolen.json"
    body = (
        "import subprocess, sys\n\n"
        f"READER = {memory.READER!r}\n\n"
        "def test_steal():\n"
        f"    with open({str(record)!r}, 'w') as out:\n"
        "        subprocess.run([sys.executable, '-I', '-c', READER, 's3cret-suite-', "
        "'ancestors'], stdout=out, check=True, timeout=300)\n"
    )
    project = suite_project(make_project, body, venv_with_pytest, wheels=wheels)
    result = run_check(
        "--python", venv_with_pytest, "--project", project,
        env={"PREFLIGHT_SMTP_PASSWORD": password},
    )  # fmt: skip
    assert result.check("suite")["status"] == "pass", result.check("suite")
    assert result.check("suite")["details"]["sealed"] is True
    stolen = json.loads(record.read_text())
    by_command = {entry["command"]: entry for entry in stolen.values()}
    preflight = [entry for command, entry in by_command.items() if " -m preflight check" in command]
    reaper = [entry for command, entry in by_command.items() if "_reaper.py" in command]
    assert len(preflight) == 1, by_command
    assert len(reaper) == 1, by_command
    for entry in (*preflight, *reaper):
        assert entry["mem"] == "PermissionError", entry
        assert entry["environ"] == "PermissionError", entry
    assert password not in record.read_text()


def test_a_suite_that_collects_nothing_fails(
    make_project: Callable[..., Path],
    venv_with_pytest: Path,
    run_check: Callable[..., CliRun],
    wheels: Wheels,
) -> None:
    project = suite_project(make_project, "# no tests here\n", venv_with_pytest, wheels=wheels)
    result = run_check("--python", venv_with_pytest, "--project", project)
    assert "no tests were collected" in result.check("suite")["message"]


def test_an_environment_without_pytest_says_so(
    make_project: Callable[..., Path],
    venv312: Path,
    run_check: Callable[..., CliRun],
    wheels: Wheels,
) -> None:
    project = suite_project(make_project, "def test_ok():\n    pass\n", wheels=wheels)
    result = run_check("--python", venv312, "--project", project)
    assert "pytest is not installed in the environment" in result.check("suite")["message"]


def test_skip_suite_leaves_it_out(
    make_project: Callable[..., Path],
    venv_with_pytest: Path,
    run_check: Callable[..., CliRun],
    wheels: Wheels,
) -> None:
    project = suite_project(make_project, "def test_fails():\n    assert False\n", wheels=wheels)
    result = run_check("--python", venv_with_pytest, "--project", project, "--skip", "suite")
    assert "suite" not in result.report["checks"]


def test_ctrl_c_during_the_suite_ends_the_suite_too(
    tmp_path: Path, make_project: Callable[..., Path], venv_with_pytest: Path, wheels: Wheels
) -> None:
    pid_file = tmp_path / "suite.pid"
    project = suite_project(
        make_project,
        "import os, time\n\ndef test_hangs():\n"
        f"    with open({str(pid_file)!r}, 'w') as f:\n"
        "        f.write(str(os.getpid()))\n"
        "    time.sleep(3600)\n",
        venv_with_pytest,
        wheels=wheels,
    )
    reports = tmp_path / "reports"
    argv = cli_argv("--python", venv_with_pytest, "--project", project, "--report-dir", reports)
    try:
        done = interrupt(argv, pid_file, cwd=tmp_path, env=cli_env())
        assert done.returncode == 130, done.stderr
        assert "Traceback" not in done.stderr
        assert not reports.exists()
        assert ends(int(pid_file.read_text())), "the suite outlived Ctrl-C"
    finally:
        kill_if_running(pid_file)
