"""`python3 noxfile.py`: nox is used when recent enough, else installed into .nox/_bootstrap."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import wheelhouse
from conftest import Wheels

from preflight._ops.bootstrap import has_nox

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def nox_here() -> None:
    """The suite's interpreter has a recent nox, as `nox -s tests` gives it (the `test` extra).

    Run by plain pytest from an environment without nox, the tests that need it skip with the
    reason; under CI (``CI=true``), where `.ci/run` runs the suite through nox, they fail: a
    CI meant to run them never skips them silently."""
    if has_nox(sys.executable):
        return
    reason = (
        f"{sys.executable} has no recent nox: run the suite as `nox -s tests` "
        "(or `python3 noxfile.py -s tests`), which installs it"
    )
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"CI is set but {reason}")
    pytest.skip(reason)


def test_this_interpreter_has_a_recent_nox(nox_here: None) -> None:
    assert has_nox(sys.executable)


@pytest.mark.slow
def test_no_nox_or_an_old_one_is_not_enough(
    tmp_path: Path, python312: Path, wheels: Wheels
) -> None:
    venv = wheelhouse.make_venv(python312, tmp_path / "venv", with_pip=False)
    assert not has_nox(str(venv))
    old = wheelhouse.build_wheel(tmp_path / "old", "nox", "2023.4.22")
    wheelhouse.pip_install(venv, [str(old)], own_pip=False)
    assert not has_nox(str(venv))
    new = wheelhouse.build_wheel(tmp_path / "new", "nox", "2026.1.1")
    wheelhouse.pip_install(venv, [str(new)], own_pip=False)
    assert has_nox(str(venv))


def test_running_the_noxfile_hands_over_to_nox(nox_here: None) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "noxfile.py"), "-l"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=wheelhouse.hermetic_env(),
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "preflight-3.12 [preflight] -> Build a fresh Python 3.12 env from its lock" in done.stdout
    )
    assert "bootstrap: installing" not in done.stderr  # this interpreter's nox was enough
