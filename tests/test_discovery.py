"""Interpreter discovery: PATH and the version managers' install folders, read from fake roots.

Each test builds pyenv / uv / asdf / mise folders in tmp_path whose ``bin/python3`` is a
symlink to a real interpreter (found by preflight's own discovery, skipped if absent) or a
small script. ``find_interpreters`` gets an ``env`` with an empty PATH and HOME pointing into
tmp_path, so the developer's own installs are never seen.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from conftest import machine_interpreters, real_python
from packaging.version import Version

from preflight._interpreters.discovery import (
    Found,
    best_match,
    find_interpreters,
    nearest,
    searched_locations,
)
from preflight._policy.spec import PythonSpec

# Answers the version question like a Python 3.99.0 would; only run if discovery asks it.
ANSWERING = "#!/bin/sh\nprintf '3.99.0 final 0'\n"
# Fails if run: proves a plain folder name is trusted without running the interpreter.
NEVER_RUN = "#!/bin/sh\necho 'discovery should not run me' >&2\nexit 1\n"


def real(text: str) -> Found:
    return real_python(text)


def spec(text: str) -> PythonSpec:
    return PythonSpec.parse(text)


def any_real_except(path: Path) -> Found:
    """Some real Python 3 interpreter that is not ``path``."""
    for found in machine_interpreters():
        if found.version.major == 3 and found.path.resolve() != path.resolve():
            return found
    pytest.skip("needs two different Python 3 interpreters")


def place(executable: Path, target: Path | str) -> Path:
    """``executable``: a symlink to ``target`` (a Path) or a script with that text."""
    executable.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(target, Path):
        executable.symlink_to(target)
    else:
        executable.write_text(target, encoding="utf-8")
        executable.chmod(0o755)
    return executable


def install(folder: Path, target: Path | str, name: str = "python3") -> Path:
    """An install folder's ``bin/<name>``, as the version managers lay them out."""
    return place(folder / "bin" / name, target)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def environ(home: Path, path: list[Path] | None = None, **extra: Path) -> Mapping[str, str]:
    """An environment with nothing of the developer's: HOME and XDG in tmp, PATH as given."""
    env = {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "xdg-data"),
        "PATH": os.pathsep.join(str(p) for p in path or []),
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env


def summary(found: list[Found]) -> list[tuple[Path, str, str]]:
    return [(f.path, str(f.version), f.source) for f in found]


# --- pyenv --------------------------------------------------------------------------------


def test_pyenv_versions_are_found_by_folder_name(home: Path, tmp_path: Path) -> None:
    py312 = real("3.12")
    pyenv = tmp_path / "pyenv"
    exe312 = install(pyenv / "versions" / "3.12.1", py312.path)
    exe311 = install(pyenv / "versions" / "3.11.7", NEVER_RUN)
    exe27 = install(pyenv / "versions" / "2.7.18", NEVER_RUN, name="python")  # no python3
    (pyenv / "versions" / ".hidden").mkdir()
    (pyenv / "versions" / "empty").mkdir()  # no bin/python3: skipped
    found = find_interpreters(env=environ(home, PYENV_ROOT=pyenv))
    assert summary(found) == [
        (exe27, "2.7.18", "pyenv"),
        (exe311, "3.11.7", "pyenv"),
        (exe312, "3.12.1", "pyenv"),
    ]


def test_pyenv_root_defaults_to_home(home: Path) -> None:
    exe = install(home / ".pyenv" / "versions" / "3.11.7", NEVER_RUN)
    assert summary(find_interpreters(env=environ(home))) == [(exe, "3.11.7", "pyenv")]


def test_a_folder_not_named_by_version_is_asked(home: Path, tmp_path: Path) -> None:
    py312 = real("3.12")
    other = any_real_except(py312.path)
    pyenv = tmp_path / "pyenv"
    install(pyenv / "versions" / "3.12.1", py312.path)
    myenv = install(pyenv / "versions" / "myenv", other.path)
    install(pyenv / "versions" / "not-python", "#!/bin/sh\necho hello\n")
    install(pyenv / "versions" / "broken", NEVER_RUN)
    found = find_interpreters(env=environ(home, PYENV_ROOT=pyenv))
    asked = [f for f in found if f.path == myenv]
    assert summary(asked) == [(myenv, str(other.version), "pyenv")]
    # Scripts that do not answer like a Python are left out; the plain name is listed first.
    assert [f.path.parent.parent.name for f in found] == ["3.12.1", "myenv"]


def test_python2_is_asked_without_isolated_mode(home: Path, tmp_path: Path) -> None:
    py27 = real("2.7")
    pyenv = tmp_path / "pyenv"
    exe = install(pyenv / "versions" / "legacy", py27.path, name="python")
    found = find_interpreters(env=environ(home, PYENV_ROOT=pyenv))
    assert summary(found) == [(exe, str(py27.version), "pyenv")]


def test_prerelease_answer_is_parsed(home: Path, tmp_path: Path) -> None:
    pyenv = tmp_path / "pyenv"
    exe = install(pyenv / "versions" / "3.14-dev", "#!/bin/sh\nprintf '3.14.0 candidate 2'\n")
    found = find_interpreters(env=environ(home, PYENV_ROOT=pyenv))
    assert summary(found) == [(exe, "3.14.0rc2", "pyenv")]


def test_shims_are_skipped(home: Path, tmp_path: Path) -> None:
    pyenv = tmp_path / "pyenv"
    shims = pyenv / "shims"
    place(shims / "python3", ANSWERING)
    assert find_interpreters(env=environ(home, [shims], PYENV_ROOT=pyenv)) == []
    # The same script in an ordinary PATH folder is found: the skip is because of the folder.
    plain = place(tmp_path / "plain" / "python3", ANSWERING)
    found = find_interpreters(env=environ(home, [shims, plain.parent], PYENV_ROOT=pyenv))
    assert summary(found) == [(plain, "3.99.0", "PATH")]


@pytest.mark.slow
def test_venv_on_path_is_skipped(home: Path, tmp_path: Path) -> None:
    py312 = real("3.12")
    venv = tmp_path / "venv"
    subprocess.run(
        [str(py312.path), "-m", "venv", "--without-pip", str(venv)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert (venv / "bin" / "python3").exists()
    assert find_interpreters(env=environ(home, [venv / "bin"])) == []


def test_path_comes_first_and_duplicates_are_dropped(home: Path, tmp_path: Path) -> None:
    py312 = real("3.12")
    on_path = place(tmp_path / "path-dir" / "python3", py312.path)
    (on_path.parent / "python3.12").symlink_to(py312.path)  # the same file again
    (on_path.parent / "python").symlink_to(py312.path)  # not a name PATH search looks for
    pyenv = tmp_path / "pyenv"
    install(pyenv / "versions" / "3.12.1", py312.path)  # resolves to the same file
    exe311 = install(pyenv / "versions" / "3.11.7", NEVER_RUN)
    found = find_interpreters(env=environ(home, [on_path.parent], PYENV_ROOT=pyenv))
    assert summary(found) == [
        (on_path, str(py312.version), "PATH"),
        (exe311, "3.11.7", "pyenv"),
    ]


# --- uv, asdf, mise -------------------------------------------------------------------------


def test_uv_layout(home: Path, tmp_path: Path) -> None:
    py312 = real("3.12")
    uv = tmp_path / "uv"
    exe = install(uv / "cpython-3.12.1-linux-x86_64-gnu", py312.path)
    (uv / ".lock").write_text("", encoding="utf-8")
    (uv / ".cache").mkdir()
    # Not a plain CPython build: asked, and this one does not answer.
    install(uv / "cpython-3.13.0+freethreaded-linux-x86_64-gnu", NEVER_RUN)
    # Pythons are installed as "cpython-X.Y.Z-...", so a bare version name is asked too.
    install(uv / "3.11.7", NEVER_RUN)
    found = find_interpreters(env=environ(home, UV_PYTHON_INSTALL_DIR=uv))
    assert summary(found) == [(exe, "3.12.1", "uv")]


def test_uv_default_folder_follows_xdg(home: Path) -> None:
    exe = install(
        home / "xdg-data" / "uv" / "python" / "cpython-3.10.4-macos-aarch64-none", NEVER_RUN
    )
    assert summary(find_interpreters(env=environ(home))) == [(exe, "3.10.4", "uv")]


def test_mise_layout_with_alias_folder(home: Path, tmp_path: Path) -> None:
    py312 = real("3.12")
    mise = tmp_path / "mise"
    installs = mise / "installs" / "python"
    exe = install(installs / "3.12.1", py312.path)
    (installs / "3.12").symlink_to("3.12.1")  # mise's alias: deduped, never run
    (installs / "latest").symlink_to("3.12.1")
    found = find_interpreters(env=environ(home, MISE_DATA_DIR=mise))
    assert summary(found) == [(exe, "3.12.1", "mise")]


def test_asdf_layout_and_manager_order(home: Path, tmp_path: Path) -> None:
    asdf = tmp_path / "asdf"
    pyenv = tmp_path / "pyenv"
    uv = tmp_path / "uv"
    exe_asdf = install(asdf / "installs" / "python" / "3.11.7", NEVER_RUN)
    exe_pyenv = install(pyenv / "versions" / "3.9.1", NEVER_RUN)
    exe_uv = install(uv / "cpython-3.10.2-linux-x86_64-gnu", NEVER_RUN)
    exe_mise = install(home / "xdg-data" / "mise" / "installs" / "python" / "3.8.3", NEVER_RUN)
    found = find_interpreters(
        env=environ(home, ASDF_DATA_DIR=asdf, PYENV_ROOT=pyenv, UV_PYTHON_INSTALL_DIR=uv)
    )
    assert summary(found) == [
        (exe_pyenv, "3.9.1", "pyenv"),
        (exe_uv, "3.10.2", "uv"),
        (exe_asdf, "3.11.7", "asdf"),
        (exe_mise, "3.8.3", "mise"),
    ]


def test_asdf_shims_on_path_are_skipped(home: Path) -> None:
    shims = home / ".asdf" / "shims"
    place(shims / "python3.12", ANSWERING)
    assert find_interpreters(env=environ(home, [shims])) == []


def test_searched_locations_name_every_place(home: Path, tmp_path: Path) -> None:
    pyenv = tmp_path / "pyenv"
    locations = searched_locations(
        env=environ(home, [tmp_path / "bin", pyenv / "shims"], PYENV_ROOT=pyenv)
    )
    assert locations[0] == f"PATH ({tmp_path / 'bin'})"
    assert f"pyenv ({pyenv / 'versions'}/*/bin/python3)" in locations
    assert [loc.split()[0] for loc in locations] == ["PATH", "pyenv", "uv", "asdf", "mise"]
    assert searched_locations(env=environ(home))[0] == "PATH (empty)"
    many = [tmp_path / f"d{i}" for i in range(5)]
    assert searched_locations(env=environ(home, [*many, many[0]]))[0] == (
        f"PATH ({many[0]}, {many[1]}, {many[2]} and 2 more)"
    )


# --- matching -----------------------------------------------------------------------------


def test_best_match_and_nearest_on_found_interpreters(home: Path, tmp_path: Path) -> None:
    py312 = real("3.12")
    pyenv = tmp_path / "pyenv"
    install(pyenv / "versions" / "3.12.1", py312.path)
    install(pyenv / "versions" / "3.11.7", NEVER_RUN)
    found = find_interpreters(env=environ(home, PYENV_ROOT=pyenv))
    best = best_match(spec("3.12"), found)
    assert best is not None
    assert best.version == Version("3.12.1")
    assert best_match(spec("3.11.13"), found) is None
    close = nearest(spec("3.11.13"), found)
    assert close is not None
    assert close.version == Version("3.11.7")
    exact = best_match(spec("3.11.7"), found)
    assert exact is not None
    assert exact.version == Version("3.11.7")
    assert best_match(spec("3.13"), found) is None
    assert nearest(spec("3.13"), found) is None


def fake(*versions: str) -> list[Found]:
    return [Found(Path(f"/fake/{i}/python3"), Version(v), "PATH") for i, v in enumerate(versions)]


def test_best_match_takes_the_highest_final_release() -> None:
    found = fake("3.12.1", "3.12.4", "3.13.0rc2", "3.12.5rc1", "3.11.9")
    best = best_match(spec("3.12"), found)
    assert best is not None
    assert best.version == Version("3.12.4")
    assert best_match(spec("3.13"), found) is None  # a pre-release never satisfies a policy


def test_best_match_tie_goes_to_the_earlier_entry() -> None:
    found = fake("3.12.1", "3.12.1")
    assert best_match(spec("3.12"), found) is found[0]
    assert best_match(spec("3.12.1"), found) is found[0]


def test_nearest_prefers_final_releases_then_closest_then_higher() -> None:
    found = fake("3.11.5", "3.11.9", "3.11.12rc1", "3.12.0")
    close = nearest(spec("3.11.7"), found)
    assert close is not None
    assert close.version == Version("3.11.9")  # 2 away either way: the higher wins
    close = nearest(spec("3.11.13"), found)
    assert close is not None
    assert close.version == Version("3.11.9")  # finals before the nearer pre-release
    close = nearest(spec("3.11"), found)
    assert close is not None
    assert close.version == Version("3.11.9")
    close = nearest(spec("3.13.1"), fake("3.13.0rc1"))
    assert close is not None
    assert close.version == Version("3.13.0rc1")  # a pre-release only when nothing else
    assert nearest(spec("3.10"), found) is None
