"""relock --universal: one lock for every interpreter, by a real ``uv pip compile --universal``
against a local find-links folder; the default (pip-compile, one lock per X.Y) is unchanged;
a ``pylock.toml`` is compiled the same way, and what the options refuse together."""

from __future__ import annotations

import importlib.util
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import wheelhouse as wh
from packaging.markers import default_environment

from preflight._cli import main
from preflight._lock.pylock import Pylock
from preflight._lock.read import read_lock
from preflight._lock.requirements import parse_lock
from preflight._ops.relock import RelockRun, relock_one
from preflight._policy.policy import Policy, load_policy
from preflight._report.model import EXIT_USAGE

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
needs_uv = pytest.mark.skipif(importlib.util.find_spec("uv") is None, reason="uv not installed")


def project(root: Path, lock: str = "requirements/all.txt") -> Policy:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f'[tool.preflight]\npythons = ["3.12", "3.11"]\nrequires = ["beta>=2"]\nlock = "{lock}"\n',
        encoding="utf-8",
    )
    return load_policy(root)


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """beta needs alpha before 3.12 and gamma from 3.12 on; uv reads only this folder."""
    wheels = tmp_path / "wheels"
    wh.build_wheel(wheels, "alpha", "1.0")
    wh.build_wheel(wheels, "gamma", "3.0")
    wh.build_wheel(
        wheels,
        "beta",
        "2.0",
        requires=['alpha>=1; python_version < "3.12"', 'gamma; python_version >= "3.12"'],
    )
    for key in list(os.environ):
        if key.startswith(("PIP_", "UV_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("UV_NO_INDEX", "1")
    monkeypatch.setenv("UV_FIND_LINKS", str(wheels))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    return wheels


@needs_uv
@pytest.mark.slow
def test_relock_universal_writes_one_lock_with_markers(tmp_path: Path, index: Path) -> None:
    policy = project(tmp_path / "p")
    result = relock_one(
        "3.12",
        Path(sys.executable),
        "3.12.1",
        policy,
        run=RelockRun(cache=tmp_path / "cache", now=NOW),
        tools_python=Path(sys.executable),  # this venv has uv
        universal_from="3.11",
    )
    assert result.state == "written", result.message
    path = tmp_path / "p" / "requirements" / "all.txt"
    assert policy.lock_path("3.11.7") == policy.lock_path("3.12.1") == path
    lock = parse_lock(path)
    assert {(e.name, e.version, e.markers) for e in lock.entries} == {
        ("alpha", "1.0", 'python_full_version < "3.12"'),
        ("beta", "2.0", None),
        ("gamma", "3.0", 'python_full_version >= "3.12"'),
    }
    assert all(e.sound for e in lock.entries)
    assert lock.header.universal
    assert lock.header.preflight["universal"] == "true"
    text = path.read_text(encoding="utf-8")
    assert str(index) not in text
    assert "#    preflight relock" in text
    for version, names in (("3.11.7", ["alpha", "beta"]), ("3.12.1", ["beta", "gamma"])):
        env = {**default_environment(), "python_full_version": version}
        env["python_version"] = version.rsplit(".", 1)[0]
        assert [e.name for e in lock.select(env).entries] == names


def test_one_lock_for_every_interpreter_needs_universal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path / "p")
    assert main(["relock", "--project", str(tmp_path / "p")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "one lock" in err
    assert "for 3.12, 3.11" in err
    assert "--universal" in err
    assert not (tmp_path / "p" / "requirements").exists()


@pytest.mark.parametrize(
    ("lock", "args", "words"),
    [
        # --resolver chooses what compiles a PEP 751 lock; a requirements file has its own.
        ("requirements/all.txt", ["--universal", "--resolver", "uv"], "is a requirements file"),
        # pip lock resolves for one interpreter: not a lock for every interpreter.
        ("pylock.toml", ["--resolver", "pip"], "pip lock resolves for one interpreter only"),
        ("pylock.py{major}{minor}.toml", ["--universal", "--resolver", "pip"], "one interpreter"),
        ("pylock.toml", ["--format", "requirements"], "is a PEP 751 lock"),
    ],
)
def test_the_lock_name_universal_format_and_resolver_must_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lock: str, args: list[str], words: str
) -> None:
    project(tmp_path / "p", lock)
    assert main(["relock", "--project", str(tmp_path / "p"), *args]) == EXIT_USAGE
    assert words in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["pyproject.toml"]


@needs_uv
@pytest.mark.slow
def test_a_pylock_toml_is_universal_without_saying_so(tmp_path: Path, index: Path) -> None:
    """The same uv command line as --universal, written as PEP 751: one lock, markers in it."""
    policy = project(tmp_path / "p", "pylock.toml")
    result = relock_one(
        "3.12",
        Path(sys.executable),
        "3.12.1",
        policy,
        run=RelockRun(cache=tmp_path / "cache", now=NOW),
        tools_python=Path(sys.executable),
        universal_from="3.11",
    )
    assert result.state == "written", result.message
    lock = read_lock(tmp_path / "p" / "pylock.toml")
    assert isinstance(lock, Pylock)
    assert lock.requires_python == ">=3.11"
    assert lock.header.universal
    assert {(e.name, e.markers) for e in lock.entries} == {
        ("alpha", 'python_full_version < "3.12"'),
        ("beta", None),
        ("gamma", 'python_full_version >= "3.12"'),
    }
    for version, names in (("3.11.7", ["alpha", "beta"]), ("3.12.1", ["beta", "gamma"])):
        env = {**default_environment(), "python_full_version": version}
        env["python_version"] = version.rsplit(".", 1)[0]
        assert [e.name for e in lock.select(env).entries] == names
