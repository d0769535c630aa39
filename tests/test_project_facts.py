"""The project's files as facts (``_facts/project.py``) and the lock's last commit: read or run
once by the gatherer, so that the checks judging them read nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import factories as f
import pytest

from preflight._facts.gather import git_commit_time
from preflight._facts.project import config_file, file_mode, protected_files


def test_the_lock_comes_first_then_the_protected_files(tmp_path: Path) -> None:
    (tmp_path / "secrets.toml").write_text("x = 1\n")
    (tmp_path / "secrets.toml").chmod(0o604)
    lock = tmp_path / "requirements" / "py3.12.txt"
    pol = f.policy(tmp_path, protected_files=["secrets.toml", "absent.toml"])
    files = protected_files(pol, lock)
    assert [(x.path, x.present, x.mode) for x in files] == [
        (lock, False, None),
        (tmp_path / "secrets.toml", True, 0o604),
        (tmp_path / "absent.toml", False, None),
    ]
    assert files[1].folders == ((tmp_path, tmp_path.stat().st_mode & 0o7777),)


def test_a_symlinked_file_names_both_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir(mode=0o777)
    (tmp_path / "b").chmod(0o777)
    (tmp_path / "b" / "lock.txt").write_text("x==1\n")
    (tmp_path / "a" / "lock.txt").symlink_to(tmp_path / "b" / "lock.txt")
    found = file_mode(tmp_path / "a" / "lock.txt")
    assert [folder for folder, _ in found.folders] == [tmp_path / "a", tmp_path / "b"]
    assert found.folders[1][1] == 0o777


def test_the_config_file_is_read_once_bounded(tmp_path: Path) -> None:
    pol = f.policy(tmp_path, config_file=".smvm_config")
    absent = config_file(pol)
    assert absent is not None
    assert not absent.present
    (tmp_path / ".smvm_config").write_text("python_version = 3.12\n")
    present = config_file(pol)
    assert present is not None
    assert present.text == "python_version = 3.12\n"
    os.unlink(tmp_path / ".smvm_config")
    os.mkfifo(tmp_path / ".smvm_config")  # no writer: a blocking read would hang here
    fifo = config_file(pol)
    assert fifo is not None
    assert fifo.present
    assert fifo.text is None
    assert str(tmp_path / ".smvm_config") in str(fifo.problem)
    assert config_file(f.policy(tmp_path)) is None  # the policy names none: nothing is read


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_lock_s_last_commit_comes_from_git(tmp_path: Path) -> None:
    lock = tmp_path / "py3.12.txt"
    lock.write_text("x==1\n")
    assert git_commit_time(lock) is None  # not a work tree
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_DATE": "2026-01-02T03:04:05+00:00",
    }  # fmt: skip
    for argv in (["init", "-q"], ["add", lock.name], ["commit", "-q", "-m", "lock"]):
        subprocess.run(["git", *argv], cwd=tmp_path, env=env, check=True, timeout=60)
    assert git_commit_time(lock) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert git_commit_time(tmp_path / "absent.txt") is None


def test_without_git_there_is_no_commit_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "py3.12.txt"
    lock.write_text("x==1\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no git to be found: a value, no error
    assert git_commit_time(lock) is None
