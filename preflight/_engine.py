"""One check of one environment: policy → facts → checks → :class:`Report`.

Verify, then run: the facts read from files (or by children that run nothing of the environment)
are gathered first and the verifying checks judged on them; only when those passed are the
facts gathered that running the environment's code gives (its first start, the performance
probe, the suite). Otherwise nothing of the environment runs, and those checks are skipped
with the reason (``preflight._checks.held_back``).

This is what ``preflight.check()`` is, and what every front end (the CLI's ``check``, the gate,
the monitor, the nox sessions) calls with typed arguments. It writes nothing: front ends that
keep a report on disk call :func:`preflight._render.report.write_reports` with the result.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from preflight._checks import ALL, BY_ID, held_back, needs_of, run_checks, verifying_stage
from preflight._errors import UsageError
from preflight._facts import baseline as baselines
from preflight._facts import probes
from preflight._facts.bytecode import DEFAULT_TIMEOUT as BYTECODE_TIMEOUT
from preflight._facts.bytecode import BytecodeFacts, remember_verified
from preflight._facts.census import DEFAULT_TIMEOUT as CENSUS_TIMEOUT
from preflight._facts.context import Context, Remedies
from preflight._facts.gather import Gathering
from preflight._facts.model import InterpreterFacts
from preflight._policy.policy import Policy, load_policy
from preflight._policy.spec import interpreter_version
from preflight._report.model import Report, Verdict
from preflight._version import __version__

__all__ = ["SKIPPABLE", "Judged", "check", "judge"]

# python_version decides the verdict (READY / READY_FALLBACK): it cannot be left out.
SKIPPABLE = tuple(sorted(set(BY_ID) - {"python_version"}))


def check(
    python: str | os.PathLike[str] | None = None,
    *,
    project: str | os.PathLike[str] | Policy = ".",
    lock: str | os.PathLike[str] | None = None,
    skip: Collection[str] = (),
    substitute_for: str | None = None,
    timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
    remedies: Remedies | None = None,
    first_start: bool = False,
    vulnerability_db: str | os.PathLike[str] | None = None,
    baseline: str | os.PathLike[str] | None = None,
    wheelhouse: str | os.PathLike[str] | None = None,
) -> Report:
    """Judge the environment of ``python`` against the policy of ``project`` and its lock.

    ``python`` is an interpreter path or a command on PATH (default: the running one);
    ``project`` a folder holding ``pyproject.toml`` with ``[tool.preflight]``, that file, or a
    :class:`Policy` already loaded; ``lock`` overrides the policy's lock for the interpreter's
    X.Y. ``skip`` names checks to leave out (any but ``python_version``): what they alone need
    is not gathered. ``substitute_for`` accepts this interpreter as a patch-level substitute
    for that exact pin of the policy. ``environ`` is the environment the checked application
    runs with (default: this process's). ``first_start`` is for an environment just built:
    import what the requirements provide once, writing bytecode, as the application's first
    start would, once the environment is verified and before the imports are timed.
    ``timeout`` bounds every probe: the interpreter probe (default 30 s), each bytecode probe
    child (default 600 s: a cold cache of a large environment compiles for minutes) and the
    performance probe (default 120 s) and the census of the files (default 600 s; past it the
    ``integrity`` check fails, saying so). The first start, the performance probe and the suite
    run only once the verifying checks (``virtual_environment``, ``lock_sync``, ``integrity``,
    ``startup_hooks``, ``bytecode``; ``baseline`` when given) passed: otherwise they are
    skipped and nothing of the environment runs.
    ``vulnerability_db`` is an OSV export (OSV's PyPI ``all.zip`` or a folder of records)
    for the ``vulnerabilities`` check; default: the policy's ``[tool.preflight.audit]
    database``, and without either that check is skipped. ``baseline`` is a manifest that
    ``preflight baseline`` wrote for this environment: the ``baseline`` check reports every
    file added, removed or changed since (without it, that check is skipped).
    ``wheelhouse`` is a folder of the locked artifacts (``pip download --require-hashes
    --no-deps -r LOCK -d DIR``): the ``integrity`` check then checks each installed file
    against the wheel the lock's hashes vouch for, not against the RECORD beside it.

    Raises :class:`~preflight.ConfigError` for a bad policy and :class:`~preflight.UsageError`
    for arguments that cannot work (an unknown check, a path that is not an interpreter, a
    baseline that is malformed or of another environment). A
    broken environment is not an error: it is a report that says NOT_READY.
    """
    return judge(
        python,
        project=project,
        lock=lock,
        skip=skip,
        substitute_for=substitute_for,
        timeout=timeout,
        environ=environ,
        remedies=remedies,
        first_start=first_start,
        vulnerability_db=vulnerability_db,
        baseline=baseline,
        wheelhouse=wheelhouse,
    ).report


@dataclass(frozen=True)
class Judged:
    """A report with the facts it was judged on, for the outputs made of both (the SBOM)."""

    report: Report
    context: Context


def judge(
    python: str | os.PathLike[str] | None = None,
    *,
    project: str | os.PathLike[str] | Policy = ".",
    lock: str | os.PathLike[str] | None = None,
    skip: Collection[str] = (),
    substitute_for: str | None = None,
    timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
    remedies: Remedies | None = None,
    first_start: bool = False,
    vulnerability_db: str | os.PathLike[str] | None = None,
    baseline: str | os.PathLike[str] | None = None,
    wheelhouse: str | os.PathLike[str] | None = None,
) -> Judged:
    """:func:`check`, keeping the gathered facts beside the report."""
    start = time.perf_counter()
    policy = project if isinstance(project, Policy) else load_policy(Path(project).resolve())
    if isinstance(skip, str):
        raise UsageError(
            f"skip: {skip!r} is a string, not a collection of check ids",
            hint=f"pass e.g. skip=({skip!r},)",
        )
    if timeout is not None and not 0 < timeout < float("inf"):
        raise UsageError(
            f"timeout: {timeout!r} must be a number of seconds more than 0",
            hint="e.g. timeout=30",
        )
    unknown = sorted(set(skip) - set(SKIPPABLE))
    if unknown:
        raise UsageError(
            f"skip: {unknown[0]!r} is not a check that can be left out",
            hint=f"choose from {', '.join(SKIPPABLE)}",
        )
    policy.check_substitute_for(substitute_for)
    house = _wheelhouse(wheelhouse) if wheelhouse is not None else None
    target = _resolve_python(sys.executable if python is None else python)
    manifest = None
    if baseline is not None and "baseline" not in skip:
        manifest_path = Path(baseline).absolute()
        manifest = (manifest_path, baselines.read_manifest(manifest_path))
    chosen = tuple(c for c in ALL if c.id not in skip)
    with Gathering(
        policy,
        target,
        lock=Path(lock).absolute() if lock is not None else None,
        environ=environ,
        needs=needs_of(chosen),
        probe_timeout=timeout or 30.0,
        perf_timeout=timeout or 120.0,  # --timeout bounds every probe it is given to
        bytecode_timeout=timeout or BYTECODE_TIMEOUT,
        census_timeout=timeout or CENSUS_TIMEOUT,
        substitute_for=substitute_for,
        remedies=remedies or Remedies(),
        first_start=first_start,
        vulnerability_db=Path(vulnerability_db).absolute() if vulnerability_db else None,
        baseline=manifest,
        wheelhouse=house,
    ) as gathering:
        verified = gathering.verify()
        early = {r.id: r for r in run_checks(verified, verifying_stage(chosen))}
        ctx = gathering.run(verified, allowed=held_back(early, chosen) is None)
    if ctx.bytecode is not verified.bytecode:
        # checked again once the environment had run (an environment just built): judged anew
        early.pop("bytecode", None)
    report = Report(
        timestamp=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        interpreter=_interpreter_summary(ctx),
        python_status=_python_status(ctx),
        checks=tuple(run_checks(ctx, chosen, judged=early)),
        duration_s=round(time.perf_counter() - start, 3),
        project=str(policy.project_dir),
        lock=str(ctx.lock_path) if ctx.lock_path else None,
        tool_version=__version__,
        substitute_for=ctx.substitute_for,
        host=socket.gethostname(),
    )
    report = _teach_bytecode_cache(ctx, report)
    return Judged(report, ctx)


def _teach_bytecode_cache(ctx: Context, report: Report) -> Report:
    """What the bytecode probe verified enters its cache only for an environment that is not
    NOT_READY: a poisoned environment teaches the cache nothing (``_facts/bytecode.py``).

    A cache dropped instead (something else changed it during the check) is said in the
    bytecode check's line and its ``cache_note``: the report returned carries it."""
    if not isinstance(ctx.bytecode, BytecodeFacts) or report.status is Verdict.NOT_READY:
        return report
    note = remember_verified(ctx.bytecode)
    if note is None:
        return report
    checks = tuple(
        replace(c, message=f"{c.message}; {note}", details={**c.details, "cache_note": note})
        if c.id == "bytecode"
        else c
        for c in report.checks
    )
    return replace(report, checks=checks)


def _wheelhouse(value: str | os.PathLike[str]) -> Path:
    """The wheelhouse folder, absolute; one that is not a folder is a usage error (exit 3)."""
    folder = Path(value).absolute()
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise UsageError(
            f"--wheelhouse {folder}: {what}",
            hint="pass the folder `pip download --require-hashes --no-deps -r LOCK -d DIR` filled",
        )
    return folder


def _resolve_python(value: str | os.PathLike[str]) -> str:
    """The interpreter to probe; a path that cannot be run at all is a usage error (exit 3).

    A broken symlink is let through: it is how a venv looks once its base interpreter was
    removed, a broken environment that the python_version check reports (exit 1). So is an
    executable that turns out not to be Python.
    """
    path = probes.locate(value)
    problem = probes.path_problem(path)
    broken_link = path.is_symlink() and not path.exists()
    if problem is not None and not broken_link:
        raise UsageError(
            f"--python: {problem.message}",
            hint="pass the path of an interpreter, e.g. .venv/bin/python",
        )
    return str(path.absolute())  # not resolved: a venv's python is a symlink to its base


def _interpreter_summary(ctx: Context) -> dict[str, object]:
    facts = ctx.interpreter
    if isinstance(facts, InterpreterFacts):
        return {
            "path": ctx.python,
            "executable": facts.executable,
            "version": facts.version,
            "implementation": facts.implementation,
            "prefix": facts.prefix,
        }
    # The same keys as above where they are known, so consumers need not special-case.
    return {
        "path": ctx.python,
        "executable": None,
        "version": facts.version,
        "implementation": None,
        "prefix": None,
        "error": facts.kind,
    }


def _python_status(ctx: Context) -> str:
    if isinstance(ctx.interpreter, InterpreterFacts):
        facts = ctx.interpreter
        version = interpreter_version(facts.version, facts.release_level)
        return ctx.policy.classify(version, ctx.substitute_for).status
    return "unknown"
