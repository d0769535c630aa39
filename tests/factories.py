"""Hand-built facts and reports, so that checks and their readers are tested as pure functions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preflight._checks.base import Context
from preflight._checks.result import CheckResult, Finding
from preflight._facts.bytecode import BytecodeFacts
from preflight._facts.model import DistFacts, IntegrityFacts, InterpreterFacts, PerformanceFacts
from preflight._facts.project import config_file, protected_files
from preflight._lock.requirements import Lock, LockEntry, LockHeader
from preflight._policy.policy import policy_from_table
from preflight._report.interpreter import Interpreter
from preflight._report.model import Report

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SITE = "/env/lib/python3.12/site-packages"
MARKERS = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.1",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "6.1",
    "platform_system": "Linux",
    "platform_version": "#1",
    "python_full_version": "3.12.1",
    "python_version": "3.12",
    "sys_platform": "linux",
}


def policy(tmp: Path | None = None, **table: Any) -> Any:
    base: dict[str, Any] = {
        "pythons": ["3.12", "3.11.13"],
        "requires": ["numpy>=1.24.0", "pandas>=2.0.0"],
    }
    base.update(table)
    return policy_from_table((tmp or Path("/project")) / "pyproject.toml", base)


def dist(name: str, version: str, **kw: Any) -> DistFacts:
    return DistFacts(
        name=name,
        version=version,
        path=f"{SITE}/{name}-{version}.dist-info",
        site=SITE,
        kind="dist-info",
        installer="pip",
        **kw,
    )


def interpreter(
    version: str = "3.12.1", dists: tuple[DistFacts, ...] | None = None, **kw: Any
) -> InterpreterFacts:
    if dists is None:
        dists = (dist("numpy", "2.2.6"), dist("pandas", "2.3.3"), dist("pip", "25.3"))
    fields: dict[str, Any] = {
        "executable": "/env/bin/python",
        "version": version,
        "release_level": "final",
        "implementation": "cpython",
        "prefix": "/env",
        "base_prefix": "/usr",
        "in_venv": True,
        "pyvenv_cfg": {"version": version, "include-system-site-packages": "false"},
        "site_packages": (SITE,),
        "system_site_packages": (),
        "user_site": "/root/.local/lib/python3.12/site-packages",
        "user_site_enabled": False,
        "marker_env": {**MARKERS, "python_full_version": version, "python_version": version[:4]},
        "distributions": dists,
    }
    fields.update(kw)
    return InterpreterFacts(**fields)


def entry(name: str, version: str | None, line: int = 1, **kw: Any) -> LockEntry:
    fields: dict[str, Any] = {
        "name": name,
        "raw_name": name,
        "specifier": f"=={version}" if version else ">=1",
        "version": version,
        "hashes": ("sha256:" + "0" * 64,),
        "markers": None,
        "extras": (),
        "line": line,
    }
    fields.update(kw)
    return LockEntry(**fields)


def lock(
    *entries: LockEntry, path: str = "/project/requirements/py3.12.txt", **header: Any
) -> Lock:
    if not entries:
        entries = (entry("numpy", "2.2.6", 1), entry("pandas", "2.3.3", 4))
    return Lock(Path(path), tuple(entries), LockHeader(**header))


def integrity(**kw: Any) -> IntegrityFacts:
    fields: dict[str, Any] = {
        "files_checked": 10,
        "bytes_checked": 1000,
        "problems": (),
        "unowned": (),
        "without_record": (),
    }
    fields.update(kw)
    return IntegrityFacts(**fields)


def bytecode(**kw: Any) -> BytecodeFacts:
    fields: dict[str, Any] = {
        "candidates": 3, "other_tags": 0, "stale": 0, "cached": 1, "identical": 1,
        "compared": 1, "mismatches": (), "unverifiable": (), "seconds": 0.1, "cache": None,
    }  # fmt: skip
    fields.update(kw)
    return BytecodeFacts(**fields)


def performance(**kw: Any) -> PerformanceFacts:
    fields: dict[str, Any] = {
        "imports": (),
        "import_seconds": 0.5,
        "compute_kind": "pandas",
        "compute_seconds": 0.01,
        "compute_error": None,
        "total_seconds": 0.7,
        "bytecode_cached": True,
    }
    fields.update(kw)
    return PerformanceFacts(**fields)


def context(**kw: Any) -> Context:
    pol = kw.pop("policy", None) or policy()
    base = Context(
        policy=pol,
        python="/env/bin/python",
        interpreter=interpreter(),
        environ={},  # the default policy names no variables
        now=NOW,
        lock_path=Path("/project/requirements/py3.12.txt"),
        lock=lock(),
        lock_committed=None,
        integrity=integrity(),
        bytecode=bytecode(),
        performance=performance(),
    )
    ctx = replace(base, **kw)
    # The project's files, as gather reads them (a test writes them in tmp_path).
    return replace(
        ctx,
        protected=kw.get("protected", protected_files(ctx.policy, ctx.lock_path)),
        config_file=kw.get("config_file", config_file(ctx.policy)),
    )


def check(check_id: str, *findings: Finding) -> CheckResult:
    """A check's result as the checks make it: PASS without findings, else FAIL or WARN."""
    return CheckResult.from_findings(check_id, check_id, list(findings), ok=f"{check_id} ok")


def report(*checks: CheckResult, python: str = "/env/bin/python", **kw: Any) -> Report:
    """A report of ``checks`` on ``python`` (the primary interpreter unless told otherwise)."""
    fields: dict[str, Any] = {
        "timestamp": "2026-11-25T12:00:00Z",
        "interpreter": Interpreter.of(path=python, version="3.12.1"),
        "python_status": "primary",
        "checks": checks,
        "duration_s": 0.5,
        "project": "/project",
        "lock": "/project/requirements/py3.12.txt",
        "tool_version": "0.1.0",
    }
    fields.update(kw)
    return Report(**fields)
