"""An adopter's project, outside this repository, end to end: what README's "Adopting preflight"
promises, done as a user does it, with README's own commands and files read from it.

Where nox runs is the tool venv README's install command makes (``uv tool install nox --with
preflight-env``), with the built wheel of ``preflight-env`` installed, not editable, by name
from local folders only: the wheel from ``distbuild``, nox and its dependencies from the
wheelhouse the ``tests`` session downloads (``PREFLIGHT_TEST_WHEELHOUSE``). The project is a
folder in ``tmp_path`` with the smallest policy README asks for (``pythons`` and ``requires``
of the tiny wheels, every other key left to its default), README's noxfile and ``.gitignore``
lines, verbatim. Then that venv's ``nox`` runs README's ``nox -s relock`` and ``nox -s
preflight`` in the project, and its
python uses the library on the environment the session built; its ``preflight`` command judges
that environment once it no longer matches the lock, and names no nox session to fix it (only
the nox sessions' own checks say ``nox -s``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import readme
import wheelhouse
from conftest import REQUIRES, Wheels, toml_list
from distbuild import ROOT, build_dists
from test_nox_e2e import nox_env

from preflight._lock.requirements import parse_lock
from preflight._render.report import REPORT_NAME

WHEELHOUSE = os.environ.get("PREFLIGHT_TEST_WHEELHOUSE", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not WHEELHOUSE,
        reason="PREFLIGHT_TEST_WHEELHOUSE is not set (nox -s tests sets it): "
        "nox's wheels and pip-tools' come from there",
    ),
]

SESSION_REPORT = Path("reports") / "preflight-3.12" / REPORT_NAME
SESSION_PYTHON = Path(".nox") / "preflight-3.12" / "env" / "bin" / "python"

# Run by the nox venv's python: the library API as README's "The library API" shows it.
LIBRARY_CHECK = """
import json, sys
import preflight

report = preflight.check(sys.argv[1], project=sys.argv[2])
print(json.dumps({
    "module": preflight.__file__,
    "status_is_ready": report.status == "READY",
    "status": report.status.value,
    "remedies": [finding.remedy for _, finding in report.violations()],
    "report": report.to_dict(),
}))
"""


def run(
    argv: Sequence[str | Path], *, cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=600,
        check=False,
    )


def output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def nox_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of the tool venv where nox runs, made by README's install command
    (``uv tool install nox --with preflight-env``) as it stands, from local folders only: the
    built wheel, and nox's wheels from the wheelhouse."""
    root = tmp_path_factory.mktemp("nox-tool")
    dists = build_dists(root / "dist")
    command = readme.adopter_install()
    assert command[:3] == ["uv", "tool", "install"], command
    uv = Path(sys.executable).parent / "uv"
    env = wheelhouse.hermetic_env(
        {
            "UV_TOOL_DIR": str(root / "tools"),
            "UV_TOOL_BIN_DIR": str(root / "bin"),
            "UV_CACHE_DIR": str(root / "uv-cache"),
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_CONFIG": "1",
        }
    )
    wheelhouse.run(
        [uv if uv.exists() else "uv", *command[1:], "--python", sys.executable, "--no-index",
         "--find-links", WHEELHOUSE, "--find-links", dists.wheel.parent],
        env=env,
    )  # fmt: skip
    python = root / "tools" / "nox" / "bin" / "python"
    assert (root / "bin" / "nox").exists(), "uv tool install put no nox on its bin folder"
    # Installed, not editable: preflight is imported from the venv's site-packages (asked
    # outside the checkout: `-c` puts the working directory first on sys.path).
    where = wheelhouse.run([python, "-c", "import preflight; print(preflight.__file__)"], cwd=root)
    imported = Path(where.stdout.strip())
    assert imported == wheelhouse.site_packages(python) / "preflight" / "__init__.py"
    assert not imported.is_relative_to(ROOT)
    return python.parent


@pytest.fixture(scope="module")
def adopter(tmp_path_factory: pytest.TempPathFactory, python312: Path) -> Path:
    """The adopter's folder: README's minimal policy over the tiny wheels, README's noxfile."""
    project = tmp_path_factory.mktemp("adopter")
    assert not project.is_relative_to(ROOT)
    (project / "pyproject.toml").write_text(
        f'[tool.preflight]\npythons = ["3.12"]\nrequires = {toml_list(REQUIRES)}\n',
        encoding="utf-8",
    )
    (project / "noxfile.py").write_text(readme.adopter_noxfile(), encoding="utf-8")
    (project / ".gitignore").write_text("\n".join(readme.adopter_gitignore()) + "\n")
    return project


def adopter_step(session: str) -> list[str]:
    """README's ``nox -s SESSION`` step, as README writes it (README's order: relock first)."""
    steps = readme.adopter_nox_commands()
    assert [c[-1] for c in steps] == ["relock", "preflight"], steps
    (step,) = [c for c in steps if c[-1] == session]
    return step


@pytest.fixture(scope="module")
def relocked(nox_bin: Path, adopter: Path, wheels: Wheels) -> subprocess.CompletedProcess[str]:
    """README's ``nox -s relock`` in the adopter's folder (pip-tools' wheels from the
    wheelhouse)."""
    nox, *args = adopter_step("relock")
    return run([nox_bin / nox, *args], cwd=adopter, env=nox_env(wheels))


@pytest.fixture(scope="module")
def checked(
    nox_bin: Path,
    adopter: Path,
    wheels: Wheels,
    relocked: subprocess.CompletedProcess[str],
) -> subprocess.CompletedProcess[str]:
    """README's ``nox -s preflight`` after a successful relock."""
    assert relocked.returncode == 0, output(relocked)
    nox, *args = adopter_step("preflight")
    return run([nox_bin / nox, *args], cwd=adopter, env=nox_env(wheels))


def test_the_venvs_nox_lists_the_sessions_register_adds(
    nox_bin: Path, adopter: Path, wheels: Wheels
) -> None:
    listed = run([nox_bin / "nox", "-l"], cwd=adopter, env=nox_env(wheels))
    assert listed.returncode == 0, output(listed)
    names = [line.split()[1] for line in listed.stdout.splitlines() if line.startswith("* ")]
    assert names == ["preflight-3.12", "preflight", "preflight_summary", "relock"], listed.stdout


def test_relock_writes_the_lock_with_hashes(
    adopter: Path, relocked: subprocess.CompletedProcess[str]
) -> None:
    text = output(relocked)
    assert relocked.returncode == 0, text
    assert "Traceback" not in text
    lock = parse_lock(adopter / "requirements" / "py3.12.txt")
    assert {e.name: e.version for e in lock.entries} == {"alpha": "1.0", "beta-pkg": "2.0"}
    assert all(e.sound for e in lock.entries), lock.entries


def test_preflight_builds_a_ready_env_with_the_default_policy(
    adopter: Path, checked: subprocess.CompletedProcess[str]
) -> None:
    text = output(checked)
    assert checked.returncode == 0, text
    assert "Traceback" not in text
    report = json.loads((adopter / SESSION_REPORT).read_text(encoding="utf-8"))
    assert report["status"] == "READY", report["violations"]
    assert report["overall_status"] == "PASSED", report["violations"]
    assert report["interpreter"]["path"] == str(adopter / SESSION_PYTHON)
    assert (adopter / SESSION_PYTHON).exists()


def test_readmes_gitignore_keeps_everything_but_the_project_out_of_git(
    adopter: Path, checked: subprocess.CompletedProcess[str]
) -> None:
    """After relock and preflight, git sees the project and its lock, nothing nox or
    preflight wrote (.nox/, reports/)."""
    assert checked.returncode == 0, output(checked)
    wheelhouse.run(["git", "init", "-q", adopter])
    status = wheelhouse.run(
        ["git", "-C", adopter, "status", "--porcelain", "--untracked-files=all"]
    ).stdout
    assert sorted(line[3:] for line in status.splitlines()) == [
        ".gitignore", "noxfile.py", "pyproject.toml", "requirements/py3.12.txt",
    ]  # fmt: skip


def test_the_library_and_the_cli_judge_the_session_env_and_name_no_nox_session(
    nox_bin: Path,
    adopter: Path,
    wheels: Wheels,
    tmp_path: Path,
    checked: subprocess.CompletedProcess[str],
) -> None:
    assert checked.returncode == 0, output(checked)
    env = nox_env(wheels)
    judged = adopter / SESSION_PYTHON

    def library_check() -> dict[str, Any]:
        done = run(
            [nox_bin / "python", "-c", LIBRARY_CHECK, judged, adopter], cwd=tmp_path, env=env
        )
        assert done.returncode == 0, output(done)
        assert "Traceback" not in done.stderr
        data: dict[str, Any] = json.loads(done.stdout)
        assert Path(data["module"]).is_relative_to(nox_bin.parent), data["module"]
        return data

    ready = library_check()
    assert ready["status_is_ready"], ready["report"]["violations"]
    assert ready["status"] == "READY"

    # One package the lock does not pin, installed into the env the session judged READY.
    wheelhouse.pip_install(judged, ["extra-thing"], find_links=wheels.folder, own_pip=False)
    assert (wheelhouse.site_packages(judged) / "extra_thing" / "__init__.py").exists()

    broken = library_check()
    assert not broken["status_is_ready"]
    assert broken["status"] == "NOT_READY", broken["report"]
    assert broken["report"]["checks"]["lock_sync"]["status"] == "fail"
    assert_remedies_name_no_nox_session(broken["remedies"])

    reports = tmp_path / "reports"
    cli = run(
        [nox_bin / "preflight", "check", "--python", judged, "--project", adopter,
         "--report-dir", reports],
        cwd=tmp_path,
        env=env,
    )  # fmt: skip
    text = output(cli)
    assert cli.returncode == 1, text
    assert "Traceback" not in text
    assert "NOT_READY" in text
    fixes = [
        line.strip() for line in text.splitlines() if line.strip().startswith(("fix:", "fix ("))
    ]
    assert_remedies_name_no_nox_session(fixes)
    report = json.loads((reports / REPORT_NAME).read_text(encoding="utf-8"))
    assert report["status"] == "NOT_READY"
    assert_remedies_name_no_nox_session([v["remedy"] for v in report["violations"]])
    findings = [f["remedy"] for c in report["checks"].values() for f in c["findings"]]
    assert_remedies_name_no_nox_session(findings)


def assert_remedies_name_no_nox_session(remedies: Sequence[str | None]) -> None:
    """Out of nox, a fix is a ``preflight`` command or a pip step, never a nox session."""
    given = [r for r in remedies if r]
    assert given, "a NOT_READY env with no remedy at all"
    assert not [r for r in given if "nox -s" in r or "nox -t" in r], given
    assert [r for r in given if "`preflight " in r or "pip install" in r], given
