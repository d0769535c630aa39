"""The policy: parsing, validation errors that name the key, and interpreter matching."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from preflight._errors import ConfigError
from preflight._policy.environment import EnvVar
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
    # The seed's deployment contract is this project's own, not the tool's defaults.
    assert policy.session_environ("3.12.1") == {
        "SMVM_PYTHON_VERSION": "3.12.1",
        "SMVM_WHEEL_STATUS": "healthy",
    }
    assert policy.config_file == ".smvm_config"
    assert policy.protected_files == ("requirements.txt", "requirements.lock", ".smvm_config")
    assert policy.lock_max_age_days == 90


def test_an_adopters_defaults(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, '[tool.preflight]\npythons = ["3.12"]\nrequires = []\n'))
    assert policy.env_vars == ()
    assert policy.config_file is None
    assert policy.config_file_required is False
    assert policy.protected_files == ()
    assert policy.lock_max_age_days == 90.0
    assert policy.session_environ("3.12.1") == {}


def test_env_vars_list_and_table_forms(tmp_path: Path) -> None:
    listed = load_policy(
        write(
            tmp_path,
            '[tool.preflight]\npythons = ["3.12"]\nrequires = []\n'
            'env_vars = ["APP_PYTHON_VERSION", "APP_MODE", "APP_MODE"]\n',
        )
    )
    assert listed.env_vars == (EnvVar("APP_PYTHON_VERSION"), EnvVar("APP_MODE"))
    table = load_policy(
        write(
            tmp_path,
            '[tool.preflight]\npythons = ["3.12"]\nrequires = []\n'
            "[tool.preflight.env_vars]\n"
            'APP_PYTHON_VERSION = "{python}"\nAPP_MODE = "prod"\nAPP_TAG = "py{python}-{{x}}"\n',
        )
    )
    assert table.env_vars == (
        EnvVar("APP_PYTHON_VERSION", "{python}"),
        EnvVar("APP_MODE", "prod"),
        EnvVar("APP_TAG", "py{python}-{{x}}"),
    )
    assert table.session_environ("3.11.7") == {
        "APP_PYTHON_VERSION": "3.11.7",
        "APP_MODE": "prod",
        "APP_TAG": "py3.11.7-{x}",
    }


@pytest.mark.parametrize(
    ("env_vars", "key", "words"),
    [
        ("{SMVM_WHEEL_STATUS = 1}", "env_vars.SMVM_WHEEL_STATUS", "must be a non-empty string"),
        ('{SMVM_WHEEL_STATUS = ""}', "env_vars.SMVM_WHEEL_STATUS", "must be a non-empty string"),
        ('{SMVM_WHEEL_STATUS = ["a"]}', "env_vars.SMVM_WHEEL_STATUS", "not ['a']"),
        (
            '{SMVM_PYTHON_VERSION = "{version}"}',
            "env_vars.SMVM_PYTHON_VERSION",
            "unknown placeholder {version} in '{version}'; the only one is {python}",
        ),
        ('{A = "{}"}', "env_vars.A", "unknown placeholder {}"),
        ('{A = "{python!r}"}', "env_vars.A", "unknown placeholder {python!r}"),
        ('{A = "{python:>8}"}', "env_vars.A", "unknown placeholder {python:>8}"),
        ('{A = "{python"}', "env_vars.A", "is not a valid template"),
        ('{A = "python}"}', "env_vars.A", "is not a valid template"),
        ('{"A B" = "x"}', "env_vars", "'A B' is not an environment variable name"),
        ('["OK", "A=B"]', "env_vars", "'A=B' is not an environment variable name"),
        ('["OK", 1]', "env_vars", "list of names or a table"),
        ('"SMVM_WHEEL_STATUS"', "env_vars", "list of names or a table of expected values"),
    ],
)
def test_invalid_env_vars_name_the_key(tmp_path: Path, env_vars: str, key: str, words: str) -> None:
    body = f'[tool.preflight]\npythons = ["3.12"]\nrequires = []\nenv_vars = {env_vars}\n'
    with pytest.raises(ConfigError) as info:
        load_policy(write(tmp_path, body))
    assert info.value.key == key
    assert words in str(info.value)
    assert f"key {key!r}" in str(info.value)


def test_config_file_required_needs_a_config_file(tmp_path: Path) -> None:
    body = '[tool.preflight]\npythons = ["3.12"]\nrequires = []\nconfig_file_required = true\n'
    with pytest.raises(ConfigError) as info:
        load_policy(write(tmp_path, body))
    assert info.value.key == "config_file_required"
    assert "needs config_file" in str(info.value)
    named = load_policy(write(tmp_path, body + 'config_file = ".app_config"\n'))
    assert (named.config_file, named.config_file_required) == (".app_config", True)


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
        # Found by fuzzing: each was a traceback.
        ('pythons = ["3.12"]\nrequires = []\nlock = "{major[0]}{minor}"', "lock", "{major[0]}"),
        ('pythons = ["3.12"]\nrequires = []\nlock = "{major.x}{minor}"', "lock", "{major.x}"),
        ('pythons = ["3.12"]\nrequires = []\nlock = "{major!r}{minor}"', "lock", "only {major}"),
        ('pythons = ["3.12"]\nrequires = []\nlock = "{major:>9}{minor}"', "lock", "only {major}"),
        ('pythons = ["3.12"]\nrequires = []\nlock = "{minor}{"', "lock", "bad template"),
        (
            'pythons = ["3.12"]\nrequires = []\nlock_max_age_days = nan',
            "lock_max_age_days",
            "positive",
        ),
        (
            'pythons = ["3.12"]\nrequires = []\nlock_max_age_days = inf',
            "lock_max_age_days",
            "positive",
        ),
        (
            'pythons = ["3.12"]\nrequires = []\nlock_max_age_days = 1' + "0" * 400,
            "lock_max_age_days",
            "not a number of about 400 digits",
        ),
        (
            'pythons = ["3.12"]\nrequires = []\nsuite_timeout_seconds = 1e12',
            "suite_timeout_seconds",
            "1e9",
        ),
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
    for body in ("tool = 1\n", "[[tool]]\n"):
        write(tmp_path, body)
        with pytest.raises(ConfigError, match=r"\[tool\] must be a table"):
            load_policy(tmp_path)
    deep = "{a = " * 1000 + "1" + "}" * 1000
    write(tmp_path, f'[tool.preflight]\npythons = ["3.12"]\nrequires = []\nx = {deep}\n')
    with pytest.raises(ConfigError, match="nested too deep"):
        load_policy(tmp_path)
    # An integer of more digits than int() converts is a plain ValueError inside tomllib.
    write(tmp_path, f'[tool.preflight]\npythons = ["3.12"]\nlock_max_age_days = {"9" * 5000}\n')
    with pytest.raises(ConfigError, match="is not valid TOML: Exceeds the limit"):
        load_policy(tmp_path)


def test_a_pythons_list_of_40000_entries_is_read(tmp_path: Path) -> None:
    """40,000 entries took 24 s (a quadratic duplicate check); counted, well under a second.
    (Asserted here is the result; the time shows in the suite's durations, not as a test.)"""
    specs = ", ".join(f'"3.{i}"' for i in range(40_000))
    policy = load_policy(write(tmp_path, f"[tool.preflight]\npythons = [{specs}]\nrequires = []\n"))
    assert len(policy.pythons) == 40_000


def test_import_names_default_to_requirements(tmp_path: Path) -> None:
    policy = load_policy(
        write(
            tmp_path,
            '[tool.preflight]\npythons = ["3.12"]\nrequires = ["Flask-Login>=1", "numpy"]\n',
        )
    )
    assert policy.import_names() == ("flask_login", "numpy")
