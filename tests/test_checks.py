"""Each check as a pure function of hand-built facts: no filesystem, no subprocess."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import factories as f
import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from preflight._checks import ALL, BY_ID, baseline, run_checks, vulnerabilities
from preflight._checks.base import Context
from preflight._checks.details import LockAge, first_start_seconds, lock_age, measured_seconds
from preflight._checks.environment_config import environment_config
from preflight._checks.integrity import integrity
from preflight._checks.lock_sync import lock_sync
from preflight._checks.package_dependencies import package_dependencies
from preflight._checks.performance import performance
from preflight._checks.python_version import python_version
from preflight._checks.result import CheckResult
from preflight._checks.security import file_findings, security
from preflight._checks.startup_hooks import startup_hooks
from preflight._checks.suite import suite
from preflight._checks.virtual_environment import virtual_environment
from preflight._checks.wheel_status import wheel_status
from preflight._engine import _python_status
from preflight._errors import LockError
from preflight._facts.baseline import BaselineFacts, Change
from preflight._facts.bytecode import PycProblem
from preflight._facts.context import NOX_REMEDIES, Remedies
from preflight._facts.model import (
    ConfigFile,
    FileMode,
    FileProblem,
    ImportTiming,
    ProbeFailure,
    PthFile,
    StartupHook,
    SuiteFacts,
    UnownedEntry,
)
from preflight._facts.osv import Advisory, Affected, Event, Range, VulnerabilityData
from preflight._facts.project import file_mode
from preflight._lock.meta import header_line, inputs_digest
from preflight._lock.requirements import parse_lock
from preflight._report.model import Overall, Severity, Status, Verdict, exit_code, overall, verdict


def messages(result: object) -> str:
    return "\n".join(x.message for x in result.findings)  # type: ignore[attr-defined]


# --- python_version ---------------------------------------------------------------------


def test_primary_fallback_and_unsupported() -> None:
    assert python_version(f.context()).status is Status.PASS
    fallback = python_version(f.context(interpreter=f.interpreter("3.11.13")))
    assert fallback.status is Status.PASS
    assert fallback.details["python_status"] == "fallback"
    bad = python_version(f.context(interpreter=f.interpreter("3.11.7")))
    assert bad.status is Status.FAIL
    assert "3.11.7 is not supported: the policy pins 3.11.13 exactly" in bad.message
    assert bad.findings[0].severity is Severity.CRITICAL


def test_a_substitute_accepted_on_request_is_a_warning_that_says_so() -> None:
    ctx = f.context(interpreter=f.interpreter("3.11.7"), substitute_for="3.11.13")
    result = python_version(ctx)
    assert result.status is Status.WARN
    assert result.details["python_status"] == "fallback"
    assert result.details["substitute_for"] == "3.11.13"
    assert "3.11.7 stands in for 3.11.13 as a patch-level substitute" in result.message
    assert "this is not a check of 3.11.13" in result.message
    assert ctx.policy.status_of("3.11.7", "3.11.13") == "fallback"
    assert ctx.policy.status_of("3.11.7") == "unsupported"
    other = python_version(f.context(substitute_for="3.11.13"))  # 3.12.1 matches: no substitute
    assert other.status is Status.PASS
    wrong = python_version(f.context(interpreter=f.interpreter("3.10.4"), substitute_for="3.11.13"))
    assert wrong.status is Status.FAIL
    assert "3.10.4 cannot stand in for 3.11.13" in wrong.message
    assert "another patch release of a pin of the policy" in wrong.message
    assert "substitute_for" not in wrong.details


def test_a_pre_release_cannot_stand_in_for_a_pin() -> None:
    facts = f.interpreter("3.11.14", release_level="candidate")
    ctx = f.context(interpreter=facts, substitute_for="3.11.13")
    result = python_version(ctx)
    assert result.status is Status.FAIL
    assert "3.11.14 cannot stand in for 3.11.13: a substitute must be a final release" in (
        result.message
    )
    assert result.details["python_status"] == "unsupported"
    assert _python_status(ctx) == "unsupported"  # the report's python_status agrees
    final = f.context(interpreter=f.interpreter("3.11.14"), substitute_for="3.11.13")
    assert python_version(final).details["python_status"] == _python_status(final) == "fallback"


def test_unsupported_minor_names_the_allowed_versions() -> None:
    result = python_version(f.context(interpreter=f.interpreter("3.13.0")))
    assert result.status is Status.FAIL
    assert "allows 3.12, 3.11.13" in result.message


def test_prerelease_interpreter_is_a_warning() -> None:
    result = python_version(f.context(interpreter=f.interpreter(release_level="candidate")))
    assert result.status is Status.WARN


def test_probe_failure_is_reported_once_and_dependants_skip() -> None:
    failure = ProbeFailure("timeout", "/x/python did not answer within 30 s; it was killed")
    results = {
        r.id: r
        for r in run_checks(
            f.context(
                interpreter=failure, lock=None, lock_path=None, integrity=None, performance=None
            )
        )
    }
    assert results["python_version"].status is Status.FAIL
    assert "did not answer" in results["python_version"].message
    skipped = [rid for rid, r in results.items() if r.status is Status.SKIP]
    assert set(skipped) >= {
        "virtual_environment",
        "package_dependencies",
        "lock_sync",
        "integrity",
        "performance",
    }
    # wheel_status too: without an interpreter version there is no lock to choose.
    assert all("see python_version" in results[s].message for s in skipped)
    assert all(results[s].details == {"blocked_by": "python_version"} for s in skipped)
    failures = [r for r in results.values() if r.status is Status.FAIL]
    assert [r.id for r in failures] == ["python_version"]


# --- virtual_environment ----------------------------------------------------------------


def test_not_in_venv_is_a_warning_as_in_the_seed() -> None:
    facts = f.interpreter(in_venv=False, prefix="/usr", pyvenv_cfg={}, user_site_enabled=True)
    result = virtual_environment(f.context(interpreter=facts))
    assert result.status is Status.WARN
    assert "not in a virtual environment" in messages(result)
    assert "user site-packages" in messages(result)
    remedy = result.findings[0].remedy
    assert remedy.startswith("use a virtual environment for isolation: build a fresh environment")
    assert "-r /project/requirements/py3.12.txt" in remedy  # the lock this interpreter needs
    in_nox = virtual_environment(f.context(interpreter=facts, remedies=NOX_REMEDIES))
    assert in_nox.findings[0].remedy == (
        "use a virtual environment for isolation: run `nox -s preflight` for a fresh environment"
    )


def test_pythonpath_and_system_site_packages_leak() -> None:
    facts = f.interpreter(system_site_packages=("/usr/lib/python3/site-packages",))
    result = virtual_environment(f.context(interpreter=facts, environ={"PYTHONPATH": "/src"}))
    assert result.status is Status.WARN
    assert "PYTHONPATH=/src" in messages(result)
    assert "system site-packages" in messages(result)


def test_venv_whose_base_interpreter_changed_is_critical() -> None:
    facts = f.interpreter(pyvenv_cfg={"version_info": "3.12.0.final.0"})
    result = virtual_environment(f.context(interpreter=facts))
    assert result.status is Status.FAIL
    assert "created with Python 3.12.0" in result.message


def test_isolated_venv_passes() -> None:
    assert virtual_environment(f.context()).status is Status.PASS


# --- package_dependencies ---------------------------------------------------------------


def test_versions_compare_as_versions_not_strings() -> None:
    # "10.0" < "9.0" as strings: the seed's comparison got this wrong.
    pol = f.policy(requires=["numpy>=9.0"])
    facts = f.interpreter(dists=(f.dist("numpy", "10.0"),))
    result = package_dependencies(f.context(policy=pol, interpreter=facts))
    assert result.status is Status.PASS
    # One requirement: said in the singular, not "all 1 required packages".
    assert result.message == "the required package is installed at a satisfying version"


def test_missing_and_too_old_are_critical() -> None:
    facts = f.interpreter(dists=(f.dist("numpy", "1.23.5"),))
    result = package_dependencies(f.context(interpreter=facts))
    assert result.status is Status.FAIL
    text = messages(result)
    assert "numpy 1.23.5 is installed but the policy requires numpy>=1.24.0" in text
    assert "pandas is required (pandas>=2.0.0) but not installed" in text


def test_requirement_names_are_canonical_and_markers_apply() -> None:
    pol = f.policy(requires=["SQLAlchemy>=2", 'tomli>=1; python_version < "3.11"'])
    facts = f.interpreter(dists=(f.dist("sqlalchemy", "2.0.36"),))
    result = package_dependencies(f.context(policy=pol, interpreter=facts))
    assert result.status is Status.PASS
    assert result.details["not_applicable"] == ['tomli>=1; python_version < "3.11"']


# --- lock_sync --------------------------------------------------------------------------


def test_lock_sync_clean_reports_ignored_tooling() -> None:
    result = lock_sync(f.context())
    assert result.status is Status.PASS
    assert result.details["ignored"] == ["pip"]
    assert "ignored tooling: pip" in result.message


def test_missing_extra_and_different_versions() -> None:
    dists = (f.dist("numpy", "2.1.0"), f.dist("requests", "2.32.0"))
    result = lock_sync(f.context(interpreter=f.interpreter(dists=dists)))
    assert result.status is Status.FAIL
    assert result.details["missing"] == ["pandas"]
    assert result.details["extra"] == ["requests"]
    assert result.details["different"] == [
        {"name": "numpy", "installed": "2.1.0", "locked": "2.2.6"}
    ]
    assert "numpy 2.1.0 is installed but /project/requirements/py3.12.txt pins 2.2.6" in messages(
        result
    )


def test_normalised_versions_are_equal() -> None:
    dists = (f.dist("NumPy", "2.2.6.0"), f.dist("pandas", "2.3.3"))
    assert lock_sync(f.context(interpreter=f.interpreter(dists=dists))).status is Status.PASS


def test_editable_and_direct_url_installs_are_foreign() -> None:
    dists = (
        f.dist(
            "numpy",
            "2.2.6",
            direct_url={"url": "file:///src/numpy", "dir_info": {"editable": True}},
        ),
        f.dist(
            "pandas",
            "2.3.3",
            direct_url={"url": "https://example.invalid/pandas.whl", "archive_info": {}},
        ),
    )
    result = lock_sync(f.context(interpreter=f.interpreter(dists=dists)))
    assert result.status is Status.FAIL
    text = messages(result)
    assert "editable install of file:///src/numpy" in text
    assert "direct URL (https://example.invalid/pandas.whl)" in text


def test_markers_that_do_not_apply_are_not_missing() -> None:
    lk = f.lock(
        f.entry("numpy", "2.2.6"),
        f.entry("pandas", "2.3.3"),
        f.entry("tomli", "2.0.1", markers='python_version < "3.11"'),
    )
    assert lock_sync(f.context(lock=lk)).status is Status.PASS


@pytest.mark.parametrize(
    "direct_url",
    [
        {"url": "file:///x", "dir_info": True},
        {"url": "file:///x", "vcs_info": "git"},
        {"url": 42, "archive_info": {}},
        {"dir_info": {"editable": True}},
    ],
)
def test_a_malformed_direct_url_json_is_a_finding_not_a_crash(
    direct_url: dict[str, object],
) -> None:
    dists = (f.dist("numpy", "2.2.6", direct_url=direct_url), f.dist("pandas", "2.3.3"))
    result = lock_sync(f.context(interpreter=f.interpreter(dists=dists)))
    assert result.status is Status.FAIL
    assert "numpy is installed from a malformed direct_url.json in" in messages(result)


def test_a_distribution_installed_twice_is_critical() -> None:
    dists = (
        f.dist("numpy", "2.2.6"),
        f.dist("pandas", "2.3.3"),
        replace(f.dist("numpy", "2.2.6"), path="/other/numpy.dist-info"),
    )
    result = lock_sync(f.context(interpreter=f.interpreter(dists=dists)))
    assert result.details["duplicated"] == ["numpy"]
    assert result.status is Status.FAIL


# --- wheel_status -----------------------------------------------------------------------


def test_lock_error_is_critical_and_names_file_and_line() -> None:
    err = LockError(Path("/p/requirements/py3.12.txt"), 7, "'numpy=>1' does not parse")
    result = wheel_status(f.context(lock=err))
    assert result.status is Status.FAIL
    assert result.message == "/p/requirements/py3.12.txt, line 7: 'numpy=>1' does not parse"
    # and lock_sync is skipped pointing at it, rather than failing a second time
    results = {r.id: r for r in run_checks(f.context(lock=err))}
    assert results["lock_sync"].status is Status.SKIP
    assert "see wheel_status" in results["lock_sync"].message


def test_unpinned_and_unhashed_entries() -> None:
    lk = f.lock(f.entry("numpy", None, 3), f.entry("pandas", "2.3.3", 5, hashes=()))
    text = messages(wheel_status(f.context(lock=lk)))
    assert "line 3: numpy>=1 is not pinned with ==" in text
    assert "line 5: pandas has no --hash" in text


def test_a_hash_that_is_no_digest_is_refused() -> None:
    # pip reads any text after --hash=sha256: and then matches no file: the install fails.
    good = "sha256:" + "a" * 64
    lk = f.lock(
        f.entry("numpy", "2.2.6", 1, hashes=(good, "sha256:" + "z" * 64)),
        f.entry("pandas", "2.3.3", 4, hashes=("sha512:" + "b" * 64,)),
    )
    result = wheel_status(f.context(lock=lk))
    assert result.status is Status.FAIL
    text = messages(result)
    assert f"line 1: --hash sha256:{'z' * 64} of numpy is not a digest" in text
    assert "line 4: --hash sha512:" in text
    assert good not in text


def test_lock_must_cover_the_policy() -> None:
    lk = f.lock(f.entry("numpy", "1.20.0"))
    text = messages(wheel_status(f.context(lock=lk)))
    assert "does not pin pandas, which the policy requires" in text
    assert "pins numpy==1.20.0 but the policy requires numpy>=1.24.0" in text


def test_a_requirement_whose_marker_does_not_hold_here_is_not_required_of_the_lock() -> None:
    pol = f.policy(requires=["numpy>=1.24.0", 'tomli>=1; python_version < "3.11"'])
    lk = f.lock(f.entry("numpy", "2.2.6"))  # compiled for 3.12: no tomli
    result = wheel_status(f.context(policy=pol, lock=lk))
    assert "tomli" not in messages(result)
    # Without an interpreter to judge for, every requirement counts.
    blind = wheel_status(f.context(policy=pol, lock=lk, interpreter=ProbeFailure("timeout", "x")))
    assert "does not pin tomli, which the policy requires" in messages(blind)


def test_lock_age_comes_from_the_header_not_mtime() -> None:
    pol = f.policy(lock_max_age_days=1)  # the seed's 24 hours
    digest = inputs_digest(pol.requires)
    fresh = header_line(python="3.12.1", compiled=f.NOW - timedelta(hours=2), inputs=digest)
    meta = {
        "python": "3.12.1",
        "compiled": fresh.split('"compiled": "')[1].split('"')[0],
        "inputs": digest,
    }
    result = wheel_status(f.context(policy=pol, lock=f.lock(preflight=meta, python="3.12.1")))
    assert result.status is Status.PASS, result.findings
    assert result.details["age_source"] == "lock header"
    assert "compiled 2.0 hours ago" in result.message
    minutes = {**meta, "compiled": (f.NOW - timedelta(minutes=12)).isoformat()}
    recent = wheel_status(f.context(policy=pol, lock=f.lock(preflight=minutes, python="3.12.1")))
    assert "compiled 12 minutes ago" in recent.message
    one = {**meta, "compiled": (f.NOW - timedelta(seconds=65)).isoformat()}
    single = wheel_status(f.context(policy=pol, lock=f.lock(preflight=one, python="3.12.1")))
    assert "compiled 1 minute ago" in single.message  # not "1 minutes"
    stale = {**meta, "compiled": (f.NOW - timedelta(days=3)).isoformat()}
    result = wheel_status(f.context(policy=pol, lock=f.lock(preflight=stale, python="3.12.1")))
    assert result.status is Status.WARN  # this policy allows 1 day, as the seed did
    assert "stale: compiled on 2026-11-22 (lock header), older than the policy's 1-day limit" in (
        result.message
    )
    assert result.details["age_days"] == 3.0
    # An adopter's default is 90 days: three days is current, a hundred is stale.
    lenient = f.policy()
    assert lenient.lock_max_age_days == 90
    result = wheel_status(f.context(policy=lenient, lock=f.lock(preflight=stale, python="3.12.1")))
    assert result.status is Status.PASS, result.findings
    old = {**meta, "compiled": (f.NOW - timedelta(days=100)).isoformat()}
    result = wheel_status(f.context(policy=lenient, lock=f.lock(preflight=old, python="3.12.1")))
    assert result.status is Status.WARN
    assert "older than the policy's 90-day limit" in result.message


def test_lock_age_falls_back_to_git_commit_time() -> None:
    result = wheel_status(
        f.context(lock_committed=f.NOW - timedelta(days=400), policy=f.policy(lock_max_age_days=90))
    )
    assert result.status is Status.WARN
    assert "(last git commit)" in result.message


def test_lock_compiled_for_other_requirements_or_python() -> None:
    meta = {"python": "3.11.7", "compiled": f.NOW.isoformat(), "inputs": "sha256:0"}
    text = messages(wheel_status(f.context(lock=f.lock(preflight=meta, python="3.11.7"))))
    assert "compiled from other requirements" in text
    assert "compiled with Python 3.11.7, the interpreter is 3.12.1" in text


@pytest.mark.parametrize(
    ("python", "warned"),
    [("3.12.9", False), ("3.12", False), ("3.1.2", True), ("3.13.0", True), ("garbled", True)],
)
def test_lock_python_is_compared_by_x_y(python: str, warned: bool) -> None:
    # A lock is per X.Y: another patch release made it just as well; a garbled value did not.
    text = messages(wheel_status(f.context(lock=f.lock(python=python))))
    assert ("was compiled with Python" in text) is warned


# --- integrity --------------------------------------------------------------------------


def test_integrity_modified_missing_unverifiable_unowned() -> None:
    scan = f.integrity(
        problems=(
            FileProblem("numpy", "numpy/__init__.py", "modified", "sha256 differs"),
            FileProblem("numpy", "numpy/core.py", "missing", "file not found"),
            FileProblem("odd", "odd/x.py", "unverifiable", "malformed hash 'abc'"),
        ),
        unowned=(
            UnownedEntry(f"{f.SITE}/evil.pth", "pth"),
            UnownedEntry(f"{f.SITE}/_virtualenv.pth", "pth", known_tool="virtualenv"),
        ),
    )
    result = integrity(f.context(integrity=scan))
    assert result.status is Status.FAIL
    crit = [x.message for x in result.findings if x.severity is Severity.CRITICAL]
    warn = [x.message for x in result.findings if x.severity is Severity.WARNING]
    assert "numpy: numpy/__init__.py is modified (sha256 differs)" in crit
    assert "numpy: numpy/core.py is missing (file not found)" in crit
    assert f"{f.SITE}/evil.pth is a start-up .pth file that no installed distribution owns" in crit
    assert warn == ["odd: odd/x.py cannot be verified: malformed hash 'abc'"]
    assert result.details["placed_by_venv_tool"] == [
        {"path": f"{f.SITE}/_virtualenv.pth", "placed_by": "virtualenv"}
    ]


# --- environment_config -----------------------------------------------------------------


SMVM = ["SMVM_PYTHON_VERSION", "SMVM_WHEEL_STATUS"]


def test_env_vars_missing_or_inconsistent_are_warnings(tmp_path: Path) -> None:
    pol = f.policy(tmp_path, env_vars=SMVM)
    result = environment_config(f.context(policy=pol, environ={"SMVM_PYTHON_VERSION": "3.11"}))
    assert result.status is Status.WARN
    text = messages(result)
    assert "SMVM_PYTHON_VERSION=3.11 does not match the interpreter (3.12.1)" in text
    assert "SMVM_WHEEL_STATUS is not set" in text
    ok = environment_config(
        f.context(
            policy=pol, environ={"SMVM_PYTHON_VERSION": "3.12", "SMVM_WHEEL_STATUS": "healthy"}
        )
    )
    assert ok.status is Status.PASS


def test_config_file_is_parsed_and_checked(tmp_path: Path) -> None:
    pol = f.policy(tmp_path, config_file=".smvm_config")
    (tmp_path / ".smvm_config").write_text("# smvm\npython_version = 3.11.13\nthis line is bad\n")
    text = messages(environment_config(f.context(policy=pol)))
    assert "python_version = 3.11.13, the interpreter is 3.12.1" in text
    assert "line 3: 'this line is bad' is not 'key = value'" in text
    (tmp_path / ".smvm_config").write_text("python_version: 3.12\n")
    assert environment_config(f.context(policy=pol)).status is Status.PASS


def test_config_file_required_by_policy(tmp_path: Path) -> None:
    pol = f.policy(tmp_path, config_file=".smvm_config", config_file_required=True)
    assert "does not exist" in environment_config(f.context(policy=pol)).message
    optional = environment_config(f.context(policy=f.policy(tmp_path, config_file=".smvm_config")))
    assert optional.status is Status.PASS
    assert optional.details["config_file_present"] is False
    assert optional.message == ".smvm_config is absent (not required)"  # not "agrees"


def test_nothing_named_nothing_checked(tmp_path: Path) -> None:
    # An adopter's policy names no variables and no config file: a stray .smvm_config and the
    # seed's variables, set wrong, are none of its business.
    (tmp_path / ".smvm_config").write_text("python_version = 2.7\n")
    pol = f.policy(tmp_path)
    assert (pol.env_vars, pol.config_file) == ((), None)
    result = environment_config(f.context(policy=pol, environ={"SMVM_PYTHON_VERSION": "2.7"}))
    assert result.status is Status.PASS
    assert result.message == "the policy names no environment variables and no config file"
    assert result.details == {}


def test_env_vars_table_wants_the_expected_values(tmp_path: Path) -> None:
    pol = f.policy(
        tmp_path, env_vars={"SMVM_PYTHON_VERSION": "{python}", "SMVM_WHEEL_STATUS": "healthy"}
    )
    assert pol.session_environ("3.12.1") == {
        "SMVM_PYTHON_VERSION": "3.12.1",
        "SMVM_WHEEL_STATUS": "healthy",
    }
    good = environment_config(f.context(policy=pol, environ=pol.session_environ("3.12.1")))
    assert good.status is Status.PASS
    assert good.message == "2 environment variables set as the policy expects"
    assert good.details == {"SMVM_PYTHON_VERSION": "3.12.1", "SMVM_WHEEL_STATUS": "healthy"}
    # "3.12" would do for the list form; the table asks for exactly the X.Y.Z.
    bad = environment_config(
        f.context(policy=pol, environ={"SMVM_PYTHON_VERSION": "3.12", "SMVM_WHEEL_STATUS": "ok"})
    )
    assert bad.status is Status.WARN
    assert [(x.message, x.remedy) for x in bad.findings] == [
        (
            "SMVM_PYTHON_VERSION=3.12, the policy expects 3.12.1",
            "export SMVM_PYTHON_VERSION=3.12.1",
        ),
        ("SMVM_WHEEL_STATUS=ok, the policy expects healthy", "export SMVM_WHEEL_STATUS=healthy"),
    ]
    unset = environment_config(f.context(policy=pol, environ={}))
    assert [(x.message, x.remedy) for x in unset.findings] == [
        ("SMVM_PYTHON_VERSION is not set", "export SMVM_PYTHON_VERSION=3.12.1"),
        ("SMVM_WHEEL_STATUS is not set", "export SMVM_WHEEL_STATUS=healthy"),
    ]
    fallback = f.context(policy=pol, interpreter=f.interpreter("3.11.13"), environ={})
    assert "export SMVM_PYTHON_VERSION=3.11.13" in [
        x.remedy for x in environment_config(fallback).findings
    ]


def test_env_vars_list_form_gives_no_session_environ() -> None:
    assert f.policy(env_vars=SMVM).session_environ("3.12.1") == {}
    assert f.policy().session_environ("3.12.1") == {}


# --- performance ------------------------------------------------------------------------


def test_slow_imports_warn_and_blame_missing_bytecode() -> None:
    perf = f.performance(import_seconds=2.4, total_seconds=5.5, bytecode_cached=False)
    result = performance(f.context(performance=perf))
    assert result.status is Status.WARN
    assert "slow imports: 2.40 s (limit 2 s)" in messages(result)
    assert "slow baseline: 5.50 s in all (limit 5 s)" in messages(result)
    assert "no bytecode cache" in str(result.findings[0].remedy)


def test_import_failure_is_critical_but_a_wrong_guess_is_not() -> None:
    perf = f.performance(
        imports=(
            ImportTiming(
                "pandas", 0.1, "ImportError: libstdc++.so.6: cannot open shared object file"
            ),
            ImportTiming("pyyaml", 0.0, "ModuleNotFoundError: No module named 'pyyaml'"),
        )
    )
    result = performance(f.context(performance=perf))
    assert result.status is Status.FAIL
    sev = {x.message.split()[0]: x.severity for x in result.findings}
    assert sev["`import"] is Severity.CRITICAL
    assert sev["module"] is Severity.WARNING


# --- verdict and exit codes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("python_status", "worst", "expected_verdict", "expected_overall", "code"),
    [
        ("primary", Status.PASS, Verdict.READY, Overall.PASSED, 0),
        ("primary", Status.WARN, Verdict.READY, Overall.WARNING, 2),
        ("fallback", Status.PASS, Verdict.READY_FALLBACK, Overall.PASSED, 0),
        ("fallback", Status.FAIL, Verdict.NOT_READY, Overall.FAILED, 1),
        ("unsupported", Status.FAIL, Verdict.NOT_READY, Overall.FAILED, 1),
        ("primary", Status.SKIP, Verdict.READY, Overall.PASSED, 0),
    ],
)
def test_verdict_and_exit_code(
    python_status: str,
    worst: Status,
    expected_verdict: Verdict,
    expected_overall: Overall,
    code: int,
) -> None:
    from preflight._report.model import CheckResult

    results = [CheckResult("a", "A", Status.PASS, "ok"), CheckResult("b", "B", worst, "x")]
    assert verdict(python_status, results) is expected_verdict
    assert overall(results) is expected_overall
    assert exit_code(overall(results)) == code


def test_a_clean_context_is_ready_and_passed() -> None:
    results = run_checks(f.context())  # the defaults: only pythons and requires
    bad = [(r.id, r.status, r.message) for r in results if r.status is not Status.PASS]
    # Skips: nothing to judge (no baseline, no vulnerability data, no suite named).
    assert bad == [
        ("baseline", Status.SKIP, baseline.HOW_TO_ENABLE),
        ("vulnerabilities", Status.SKIP, vulnerabilities.HOW_TO_ENABLE),
        ("suite", Status.SKIP, "the policy names no suite"),
    ]
    assert verdict("primary", results) is Verdict.READY
    assert overall(results) is Overall.PASSED


# --- suite ------------------------------------------------------------------------------


def suite_facts(returncode: int | None, output: str = "", **kw: object) -> SuiteFacts:
    fields: dict[str, object] = {
        "folder": "/project/tests/runtime",
        "command": ("/env/bin/python", "-m", "pytest", "/project/tests/runtime"),
        "returncode": returncode,
        "timed_out": False,
        "seconds": 1.5,
        "summary": "3 passed in 0.40s" if returncode == 0 else "1 failed, 2 passed in 0.41s",
        "output_tail": output,
    }
    fields.update(kw)
    return SuiteFacts(**fields)  # type: ignore[arg-type]


def test_suite_passing_failing_and_not_runnable() -> None:
    pol = f.policy(suite="tests/runtime")
    ok = suite(f.context(policy=pol, suite=suite_facts(0)))
    assert (ok.status, ok.message) == (Status.PASS, "3 passed in 0.40s")
    failed = suite(f.context(policy=pol, suite=suite_facts(1)))
    assert failed.status is Status.FAIL
    assert failed.message == (
        "the suite /project/tests/runtime failed (tests failed): 1 failed, 2 passed in 0.41s"
    )
    assert "run `/env/bin/python -m pytest /project/tests/runtime`" in str(
        failed.findings[0].remedy
    )
    empty = suite(f.context(policy=pol, suite=suite_facts(5, summary="no tests ran in 0.01s")))
    assert "no tests were collected" in empty.message  # pytest's exit 5 is a failure here
    missing = suite_facts(1, "/env/bin/python: No module named pytest", summary="")
    no_pytest = suite(f.context(policy=pol, suite=missing))
    assert "pytest is not installed in the environment" in no_pytest.message
    hung = suite(f.context(policy=pol, suite=suite_facts(None, timed_out=True)))
    assert "did not finish in time" in hung.message


def test_suite_skipped_when_not_named_or_skipped() -> None:
    assert suite(f.context()).status is Status.SKIP
    skipped = suite(f.context(policy=f.policy(suite="tests/runtime"), suite=None))
    assert skipped.status is Status.SKIP


# --- security ---------------------------------------------------------------------------


def test_permissions_are_read_from_mode_bits(tmp_path: Path) -> None:
    safe = tmp_path / "safe"
    safe.mkdir(mode=0o755)
    safe.chmod(0o755)
    lock = safe / "py3.12.txt"
    lock.write_text("x==1\n")
    lock.chmod(0o644)
    assert file_findings(file_mode(lock))[0] == []
    lock.chmod(0o646)  # root could write it anyway: os.access() would say nothing
    (finding,) = file_findings(file_mode(lock))[0]
    assert finding.message == f"{lock} is world-writable (mode 0646)"
    assert finding.remedy == f"chmod o-w {lock}"


def test_a_world_writable_folder_counts_unless_sticky(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    lock = shared / "py3.12.txt"
    lock.write_text("x==1\n")
    lock.chmod(0o644)
    assert "which is world-writable (mode 0777)" in file_findings(file_mode(lock))[0][0].message
    shared.chmod(0o1777)  # sticky, as /tmp: only the owner may replace the file
    assert file_findings(file_mode(lock))[0] == []


def test_a_symlinked_lock_in_a_world_writable_folder(tmp_path: Path) -> None:
    safe = tmp_path / "safe"
    safe.mkdir()
    safe.chmod(0o755)
    target = safe / "py3.12.txt"
    target.write_text("x==1\n")
    target.chmod(0o644)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    link = shared / "py3.12.txt"
    link.symlink_to(target)
    (finding,) = file_findings(file_mode(link))[0]
    assert f"lies in {shared}, which is world-writable" in finding.message


def test_security_judges_the_facts_and_reads_no_file() -> None:
    """Pure: hand-built mode bits of files that do not exist anywhere are judged as given."""
    lock = Path("/nowhere/requirements/py3.12.txt")
    facts = (
        FileMode(lock, present=True, mode=0o646, folders=((lock.parent, 0o1777),)),
        FileMode(Path("/nowhere/secrets.toml"), present=False),
        FileMode(Path("/nowhere/odd"), present=False, problem="/nowhere/odd cannot be examined"),
    )
    result = security(f.context(lock_path=lock, protected=facts))
    assert [x.message for x in result.findings] == [
        f"{lock} is world-writable (mode 0646)",
        "/nowhere/odd cannot be examined",
    ]
    assert result.details["files"] == [
        {"path": str(lock), "present": True, "mode": "0646"},
        {"path": "/nowhere/secrets.toml", "present": False},
        {"path": "/nowhere/odd"},
    ]


def test_environment_config_judges_the_config_file_it_is_given(tmp_path: Path) -> None:
    """Pure: the file's text comes in the facts; none is on disk here."""
    pol = f.policy(tmp_path, config_file=".smvm_config")
    config = ConfigFile(tmp_path / ".smvm_config", present=True, text="python_version = 3.12\n")
    assert not (tmp_path / ".smvm_config").exists()
    assert environment_config(f.context(policy=pol, config_file=config)).status is Status.PASS
    unreadable = ConfigFile(config.path, present=True, problem=f"{config.path}: a FIFO")
    found = environment_config(f.context(policy=pol, config_file=unreadable)).findings
    assert found[0].message == f"{config.path}: a FIFO (it cannot be read)"


def test_a_pth_entry_that_is_a_file_is_judged_from_the_facts() -> None:
    pth = PthFile(f"{f.SITE}/x.pth", f.SITE, (), ("/opt/x.zip",), not_folders=("/opt/x.zip",))
    result = startup_hooks(f.context(interpreter=f.interpreter(pth_files=(pth,))))
    assert result.status is Status.FAIL
    assert [x.message for x in result.findings] == [
        f"{f.SITE}/x.pth puts /opt/x.zip on sys.path, which is not a folder: Python imports "
        "from it as a zip archive, and nothing in it is checked"
    ]


# --- remedies: phrased for the front end in use ------------------------------------------


def broken_contexts(tmp: Path) -> dict[str, Context]:
    """Contexts that, between them, make every check find something that has a remedy."""
    (tmp / ".smvm_config").write_text("python_version = 3.11.13\nthis line is bad\n")
    shared = tmp / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    lock_file = shared / "py3.12.txt"
    lock_file.write_text("numpy==2.2.6\n")
    lock_file.chmod(0o646)
    with pytest.raises(LockError) as missing_lock:
        parse_lock(tmp / "requirements" / "py3.12.txt")
    pol = f.policy(
        tmp,
        requires=["numpy>=1.24.0", "pandas>=2.0.0", "scipy>=1"],
        env_vars=["SMVM_PYTHON_VERSION", "SMVM_WHEEL_STATUS"],
        config_file=".smvm_config",
        suite="tests/runtime",
    )
    dists = (
        f.dist("numpy", "1.23.5", direct_url={"url": "file:///src/numpy", "dir_info": {}}),
        f.dist("pandas", "banana"),
        f.dist("requests", "2.32.0"),
        replace(f.dist("requests", "2.32.0"), path="/other/requests.dist-info"),
    )
    bad_lock = f.lock(
        f.entry("numpy", "2.2.6", 1),
        f.entry("pandas", None, 3, hashes=()),
        f.entry("tomli", "2.0.1", 5, url="https://example.invalid/tomli.whl"),
        preflight={"python": "3.11.7", "compiled": "2020-01-01T00:00:00+00:00", "inputs": "x"},
        python="3.11.7",
    )
    scan = f.integrity(
        problems=(FileProblem("numpy", "numpy/__init__.py", "modified", "sha256 differs"),),
        unowned=(UnownedEntry(f"{f.SITE}/evil.pth", "pth"),),
        without_record=("odd",),
    )
    perf = f.performance(
        imports=(ImportTiming("pandas", 0.1, "ImportError: libstdc++.so.6: cannot open"),),
        import_seconds=9.0,
        total_seconds=9.0,
    )
    leaky = f.interpreter(
        system_site_packages=("/usr/lib/python3/site-packages",),
        dists=dists,
        startup_hooks=(StartupHook(f"{f.SITE}/evil.pth", "pth", "pth", f.SITE, ("import e",)),),
    )
    no_pytest = suite_facts(1, "/env/bin/python: No module named pytest", summary="")
    fixed = Range((Event("introduced", None), Event("fixed", Version("2.32.4"))))
    advisory = Advisory(
        "GHSA-reqs-0000-0001",
        ("CVE-2026-0001",),
        "leaks credentials",
        None,
        (Affected(canonicalize_name("requests"), frozenset(), frozenset(), (fixed,)),),
    )
    vulns = VulnerabilityData("/osv", "folder", 1, 1, 0, 0, (), None, {"requests": (advisory,)})
    return {
        "everything": f.context(
            policy=pol,
            interpreter=leaky,
            environ={"SMVM_PYTHON_VERSION": "3.11", "PYTHONPATH": "/src"},
            lock=bad_lock,
            lock_path=lock_file,
            integrity=scan,
            bytecode=f.bytecode(
                mismatches=(
                    PycProblem(f"{f.SITE}/__pycache__/six.pyc", f"{f.SITE}/six.py", 0, "differs"),
                )
            ),
            performance=perf,
            suite=no_pytest,
            vulnerabilities=vulns,
            baseline=BaselineFacts(
                "/elsewhere/baseline.json",
                "2026-01-01T00:00:00Z",
                10,
                10,
                (Change("changed", "purelib/numpy/__init__.py", "sha256 differs", "numpy"),),
                0,
                100,
            ),
        ),
        "lock_error": f.context(policy=pol, lock=missing_lock.value),
        "lock_error_without_hint": f.context(lock=LockError(lock_file, 2, "does not parse")),
        "suite_failed": f.context(policy=pol, suite=suite_facts(1)),
        "unsupported_python": f.context(interpreter=f.interpreter("3.13.0")),
    }


def remedies_of(ctx: Context) -> dict[str, list[str]]:
    """Each check's remedies on ``ctx``, every check judged: here the engine's skipping of a
    check whose prerequisite failed, or that would run an unverified environment, is left out
    (tests/test_verify_then_run.py covers it)."""
    found: dict[str, list[str]] = {}
    unlinked = tuple(replace(c, requires=(), runs_environment=False) for c in ALL)
    for result in run_checks(ctx, unlinked):
        found.setdefault(result.id, [])
        found[result.id] += [x.remedy for x in result.findings if x.remedy]
    return found


def test_default_remedies_name_preflight_and_pip_not_nox(tmp_path: Path) -> None:
    contexts = broken_contexts(tmp_path)
    by_context = {name: remedies_of(ctx) for name, ctx in contexts.items()}
    by_check: dict[str, list[str]] = {}
    for name, found in by_context.items():
        assert contexts[name].remedies == Remedies()
        for check, remedies in found.items():
            by_check.setdefault(check, []).extend(remedies)
            assert not [r for r in remedies if "nox" in r], (name, check, remedies)
    # Not vacuous: every check found something that says what to do.
    assert set(by_check) == set(BY_ID)
    assert [c for c, remedies in by_check.items() if not remedies] == []
    everything = by_context["everything"]
    fresh = Remedies().fresh(tmp_path / "shared" / "py3.12.txt")
    assert f"--require-hashes --no-deps -r {tmp_path / 'shared' / 'py3.12.txt'}" in fresh
    assert fresh in everything["package_dependencies"]
    assert (
        f"{fresh}, or add it to the policy's requires and run `preflight relock`"
        in (everything["lock_sync"])
    )
    assert f"{fresh}, or reinstall the distribution" in everything["integrity"]
    assert fresh in everything["performance"]
    assert [r for r in everything["bytecode"] if r.endswith(fresh)]
    assert "run `preflight relock`" in everything["wheel_status"]
    assert "add pytest to the policy's requires and run `preflight relock`" in everything["suite"]
    assert by_context["lock_error"]["wheel_status"] == ["run `preflight relock` to compile it"]
    (changed,) = everything["baseline"]
    assert f"treat the environment as compromised and {fresh}" in changed
    (vulnerable,) = everything["vulnerabilities"]
    assert vulnerable.startswith("upgrade requests to 2.32.4")
    assert "run `preflight relock` with --upgrade-package requests" in vulnerable


def test_not_in_a_venv_remedy_does_not_name_nox() -> None:
    facts = f.interpreter(in_venv=False, prefix="/usr", pyvenv_cfg={})
    remedies = remedies_of(f.context(interpreter=facts))["virtual_environment"]
    assert remedies
    assert not [r for r in remedies if "nox" in r]


def test_nox_remedies_name_the_sessions(tmp_path: Path) -> None:
    contexts = broken_contexts(tmp_path)
    everything = remedies_of(replace(contexts["everything"], remedies=NOX_REMEDIES))
    fresh, relock = "run `nox -s preflight` for a fresh environment", "run `nox -s relock`"
    assert fresh in everything["package_dependencies"]
    assert f"{fresh}, or {relock} if the pin is wrong" in everything["lock_sync"]
    assert f"{fresh}, or reinstall the distribution" in everything["integrity"]
    assert fresh in everything["performance"]
    assert relock in everything["wheel_status"]
    assert f"{relock} (it runs pip-compile --generate-hashes)" in everything["wheel_status"]
    assert f"add pytest to the policy's requires and {relock}" in everything["suite"]
    assert f"{relock} with --upgrade-package requests" in everything["vulnerabilities"][0]
    hintless = replace(contexts["lock_error_without_hint"], remedies=NOX_REMEDIES)
    assert remedies_of(hintless)["wheel_status"] == [relock]
    # The lock parser's own hints do not know the front end: a preflight command is right
    # from every one of them.
    parsed = remedies_of(replace(contexts["lock_error"], remedies=NOX_REMEDIES))
    assert parsed["wheel_status"] == ["run `preflight relock` to compile it"]


# --- the details other layers read, typed ---------------------------------------------------


def test_the_details_other_layers_read_are_typed() -> None:
    def result(check_id: str, **details: object) -> CheckResult:
        return CheckResult(check_id, check_id, Status.PASS, "ok", (), details)

    lock = result("wheel_status", age_days=3.5, compiled_at="2026-01-01T00:00:00+00:00")
    assert lock_age(lock) == LockAge(3.5, "2026-01-01T00:00:00+00:00")
    # A report read back is untrusted: a bool is no age, a number no time of compiling.
    assert lock_age(result("wheel_status", age_days=True, compiled_at=7)) == LockAge()
    assert lock_age(result("security", age_days=3.5)) == LockAge()  # another check's details
    assert measured_seconds(result("suite", seconds=2)) == 2.0
    assert measured_seconds(result("bytecode", probe_seconds=-1)) == 0.0
    assert measured_seconds(result("performance", total_seconds="9")) == 0.0
    assert measured_seconds(result("security", seconds=2)) == 0.0
    assert first_start_seconds(result("performance", first_start_seconds=1.25)) == 1.25
    assert first_start_seconds(result("performance", first_start_seconds=None)) is None
    assert first_start_seconds(result("suite", first_start_seconds=1.25)) is None
