"""The policy: parsing, validation errors that name the key, and interpreter matching."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from preflight._errors import ConfigError
from preflight._policy.policy import Classification, PythonSpec, load_policy

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(body, encoding="utf-8")
    return tmp_path


def test_projects_own_policy() -> None:
    policy = load_policy(ROOT)
    assert [str(p) for p in policy.pythons] == ["3.12", "3.11.13"]
    assert {r.name for r in policy.requires} == {
        "pandas",
        "numpy",
        "fastapi",
        "sqlalchemy",
        "pytest",
    }
    assert policy.lock_path("3.12.1") == ROOT / "requirements" / "py3.12.txt"
    assert policy.lock_path("3.11.13") == ROOT / "requirements" / "py3.11.txt"


@pytest.mark.parametrize(
    ("spec", "version", "expected"),
    [
        ("3.12", "3.12.0", True),
        ("3.12", "3.12.11", True),
        ("3.12", "3.13.0", False),
        ("3.11.13", "3.11.13", True),
        ("3.11.13", "3.11.7", False),
        # The seed's startswith("3.11.13") also accepted 3.11.130; versions are not strings.
        ("3.11.13", "3.11.130", False),
        ("3.1", "3.12.1", False),
        ("3.12", "3.1.2", False),
    ],
)
def test_python_spec_matches_by_version_not_by_string(
    spec: str, version: str, expected: bool
) -> None:
    assert PythonSpec.parse(spec).matches(Version(version)) is expected


def test_classify_primary_fallback_unsupported(tmp_path: Path) -> None:
    policy = load_policy(
        write(tmp_path, '[tool.preflight]\npythons = ["3.12", "3.11.13"]\nrequires = []\n')
    )
    assert policy.classify("3.12.1").status == "primary"
    assert policy.classify("3.11.13").status == "fallback"
    assert policy.classify("3.11.7").status == "unsupported"


def test_classify_a_requested_substitute(tmp_path: Path) -> None:
    policy = load_policy(
        write(tmp_path, '[tool.preflight]\npythons = ["3.11.13", "3.12"]\nrequires = []\n')
    )
    accepted = policy.classify("3.11.7", substitute_for="3.11.13")
    assert accepted == Classification("primary", PythonSpec.parse("3.11.13"), substitute=True)
    assert policy.status_of("3.11.7", "3.11.13") == "primary"
    # A version that matches a spec is that spec's, whatever was requested.
    matched = policy.classify("3.12.1", substitute_for="3.11.13")
    assert (matched.status, str(matched.spec), matched.substitute) == ("fallback", "3.12", False)
    for version, pin, why in [
        ("3.10.4", "3.11.13", "another patch release of a pin of the policy"),
        ("3.11.14rc1", "3.11.13", "a final release"),
        ("3.11.7", "3.11.2", "another patch release of a pin of the policy"),  # not a pin
    ]:
        refused = policy.classify(version, substitute_for=pin)
        assert (refused.status, refused.spec, refused.substitute) == ("unsupported", None, False)
        assert refused.refused is not None
        assert why in refused.refused
        assert policy.status_of(version, pin) == "unsupported"
    assert policy.classify("3.10.4").refused is None  # nothing requested, nothing refused


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        ('pythons = "3.12"\nrequires = []', "pythons", "list of strings"),
        ('pythons = ["3.x"]\nrequires = []', "pythons", "not an interpreter spec"),
        ("pythons = []\nrequires = []", "pythons", "at least one"),
        ('pythons = ["3.12", "3.12.1"]\nrequires = []', "pythons", "twice"),
        ('pythons = ["3.12"]', "requires", "required"),
        ('pythons = ["3.12"]\nrequires = ["numpy>>1"]', "requires", "PEP 508"),
        ('pythons = ["3.12"]\nrequires = []\ncolour = 1', "colour", "unknown key"),
        (
            'pythons = ["3.12"]\nrequires = []\nlock_max_age_days = -1',
            "lock_max_age_days",
            "positive",
        ),
        ('pythons = ["3.12"]\nrequires = []\nlock = "locks/{python}.txt"', "lock", "{minor}"),
        (
            'pythons = ["3.12"]\nrequires = []\n'
            '[tool.preflight.performance]\nmax_import_seconds = "fast"',
            "performance.max_import_seconds",
            "positive",
        ),
    ],
)
def test_invalid_policy_names_the_key(tmp_path: Path, body: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_policy(write(tmp_path, "[tool.preflight]\n" + body + "\n"))
    assert info.value.key == key
    assert words in str(info.value)
    assert str(tmp_path / "pyproject.toml") in str(info.value)


def test_missing_unreadable_and_tableless_pyproject(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_policy(tmp_path)
    write(tmp_path, "[tool.preflight\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_policy(tmp_path)
    write(tmp_path, '[project]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"no \[tool.preflight\]"):
        load_policy(tmp_path)
    (tmp_path / "pyproject.toml").write_bytes(b"\xff\xfe[tool]")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_policy(tmp_path)


def test_import_names_default_to_requirements(tmp_path: Path) -> None:
    policy = load_policy(
        write(
            tmp_path,
            '[tool.preflight]\npythons = ["3.12"]\nrequires = ["Flask-Login>=1", "numpy"]\n',
        )
    )
    assert policy.import_names() == ("flask_login", "numpy")
