"""The public face: what ``preflight`` exports, and how its functions refuse bad arguments."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import preflight


def test_every_exported_name_resolves_and_nothing_private_is_exported() -> None:
    for name in preflight.__all__:
        assert getattr(preflight, name) is not None, name
    assert not [n for n in preflight.__all__ if n.startswith("_") and n != "__version__"]
    assert issubclass(preflight.ConfigError, preflight.PreflightError)
    assert issubclass(preflight.LockError, ValueError)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = preflight.nope  # type: ignore[attr-defined]


def test_the_verdict_compares_equal_to_its_string() -> None:
    assert preflight.Verdict.READY == "READY"
    assert preflight.Overall.PASSED == "PASSED"


def _project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.preflight]\npythons = ["3.12"]\nrequires = ["requests>=2"]\n'
    )
    return tmp_path


def test_load_policy_and_read_lock_take_strings(tmp_path: Path) -> None:
    policy = preflight.load_policy(str(_project(tmp_path)))
    assert [str(s) for s in policy.pythons] == ["3.12"]
    assert policy.env_vars == ()  # an adopter's defaults
    lock = tmp_path / "py3.12.txt"
    lock.write_text("requests==2.32.3 \\\n    --hash=sha256:" + "a" * 64 + "\n")
    (entry,) = preflight.read_lock(str(lock)).entries
    assert (entry.name, entry.version, entry.line) == ("requests", "2.32.3", 1)
    assert entry.hashes == ("sha256:" + "a" * 64,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"skip": "integrity"}, "skip: 'integrity' is a string"),
        ({"skip": ("nope",)}, "skip: 'nope' is not a check that can be left out"),
        ({"skip": ("python_version",)}, "skip: 'python_version' is not a check"),
        ({"timeout": 0}, "timeout: 0 must be a number of seconds more than 0"),
        ({"timeout": float("nan")}, "timeout: nan must be"),
        ({"substitute_for": "3.12"}, "not an exact pin of the policy"),
    ],
)
def test_check_refuses_arguments_that_cannot_work(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(preflight.UsageError, match=message.replace("(", r"\(")):
        preflight.check(sys.executable, project=_project(tmp_path), **kwargs)  # type: ignore[arg-type]


def test_a_bad_policy_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.preflight]\npythons = "3.12"\nrequires = []\n')
    with pytest.raises(preflight.ConfigError, match="key 'pythons'"):
        preflight.check(sys.executable, project=tmp_path)
