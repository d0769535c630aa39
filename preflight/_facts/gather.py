"""Gather the facts the checks judge: probe first, then the slow parts side by side.

The interpreter probe is quick and everything else depends on it. For an environment just
built, its first start (``firststart.py``) runs from the beginning, beside the probe, the lock
and the hashing; the suite takes the first core it leaves free. Then the performance probe (a
child process importing the required packages) runs while a worker thread hashes every
installed file, the bytecode probe (``bytecode.py``: one child per core, at the lowest CPU
priority) checks every pyc, and, on two cores or more, the project's suite runs in a child of
its own: the check costs about as much as its slowest part, not the sum.

The child processes are started from the main thread on purpose: Ctrl-C raises there, and the
subprocess boundary (``_process.run``) then kills the child at once. A child waited on from a worker
thread would keep the interrupted check alive until the child finished or timed out (up to the
performance timeout). The hashing thread only reads files, so waiting for it on Ctrl-C is short.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from preflight._errors import LockError
from preflight._facts import baseline as baselines
from preflight._facts import bytecode, osv, probes
from preflight._facts.anchored import Anchoring, WheelhouseRequest
from preflight._facts.bytecode import BytecodeFacts
from preflight._facts.context import ALL_NEEDS, Context, Need, Remedies
from preflight._facts.firststart import FirstStart
from preflight._facts.model import (
    IntegrityFacts,
    InterpreterFacts,
    PerformanceFacts,
    ProbeFailure,
)
from preflight._facts.suite import start_suite, suite_facts
from preflight._facts.survey import survey
from preflight._lock.read import read_lock
from preflight._lock.requirements import Lock
from preflight._policy.policy import Policy
from preflight._process import Running

# With two cores or more, the project's suite runs beside the performance probe (measured:
# imports about 8% slower, within their run-to-run noise); on one core, after it.
_SIDE_BY_SIDE = (os.cpu_count() or 1) >= 2
_STEP = 0.01  # seconds between looks at the first start's children


def gather(
    policy: Policy,
    python: str,
    *,
    lock: Path | None = None,
    environ: Mapping[str, str] | None = None,
    needs: Collection[Need] = ALL_NEEDS,
    probe_timeout: float = 30.0,
    perf_timeout: float = 120.0,
    substitute_for: str | None = None,
    remedies: Remedies | None = None,
    first_start: bool = False,
    vulnerability_db: Path | None = None,
    baseline: tuple[Path, baselines.Manifest] | None = None,
    wheelhouse: Path | None = None,
) -> Context:
    """The facts ``needs`` names (the interpreter is always probed): nothing more is read.

    ``needs`` comes from the checks that will run, so ``--skip integrity`` hashes no file and
    ``--skip performance`` imports nothing. ``first_start`` (for an environment just built)
    runs its first start while the probe, the lock and the hashing go on, and waits for it
    before anything is imported. The vulnerability data (``vulnerability_db``, else the
    policy's ``[tool.preflight.audit] database``) is read beside the hashing, and so is the
    environment compared with its ``baseline`` manifest (refused if it is of another one).
    ``wheelhouse`` (the locked artifacts) anchors the hashing in the lock's hashes
    (``anchored.py``): the lock is then read first, which takes milliseconds.
    """
    env, now, remedies = (
        dict(os.environ if environ is None else environ),
        datetime.now(UTC),
        remedies or Remedies(),
    )
    # The first start is there for the import timing: without the performance check, none.
    withhold = policy.secret_variables()  # never handed to code of the judged environment
    warming = (
        FirstStart(python, policy.import_names(), withhold=withhold)
        if first_start and "performance" in needs
        else None
    )
    try:
        facts = probes.probe_interpreter(python, timeout=probe_timeout, withhold=withhold)
    except BaseException:
        if warming is not None:
            warming.kill()
        raise
    if not isinstance(facts, InterpreterFacts):
        if warming is not None:
            warming.kill()  # no interpreter to start
        # Without an interpreter there is no lock to choose, but an explicit --lock is judged.
        parsed = _parse(lock) if lock is not None and "lock" in needs else None
        return Context(
            policy, python, facts, env, now, lock_path=lock, lock=parsed,
            substitute_for=substitute_for, remedies=remedies,
        )  # fmt: skip
    lock_path = lock if lock is not None else policy.lock_path(facts.version)
    pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="preflight-facts")
    stop = threading.Event()  # set on the way out of an interrupted check: the scan ends too
    suite_folder = policy.project_dir / policy.suite if "suite" in needs and policy.suite else None
    running: Running | None = None
    try:
        # first: a baseline of another environment is refused (exit 3) before anything is read
        compared = _compare(baseline, facts) if "baseline" in needs else None
        audit = "vulnerabilities" in needs
        parsed = _parse(lock_path) if "lock" in needs or audit or wheelhouse else None
        # one census of the files for integrity and the baseline: each file read once
        scan = (
            _scan(
                pool, facts, stop=stop, wheelhouse=wheelhouse, lock=parsed, policy=policy,
                judge="integrity" in needs, baseline=compared,
            )
            if "integrity" in needs or compared is not None
            else None
        )  # fmt: skip
        committed = git_commit_time(lock_path) if "lock" in needs else None
        database = vulnerability_db or policy.audit.database_path(policy.project_dir)
        vulns = (
            pool.submit(osv.load, database, _audited_names(facts, parsed), stop=stop)
            if "vulnerabilities" in needs and database is not None
            else None
        )
        started = None
        if warming is not None:
            running = _finish_first_start(warming, policy, python, suite_folder)
            started = warming.facts()
        if suite_folder is not None and running is None and _SIDE_BY_SIDE:
            running = _start_suite(policy, python, suite_folder)
        perf, pycs = _imports_and_bytecode(
            policy, python, facts, needs, timeout=perf_timeout, withhold=withhold, environ=env
        )
        suite_result = None
        if suite_folder is not None:
            running = running or _start_suite(policy, python, suite_folder)
            suite_result = suite_facts(suite_folder, running.wait())
        return Context(
            policy,
            python,
            facts,
            env,
            now,
            lock_path=lock_path,
            lock=parsed,
            lock_committed=committed,
            integrity=scan.result()[0] if scan is not None else None,
            bytecode=pycs,
            performance=perf,
            suite=suite_result,
            first_start=started,
            vulnerabilities=vulns.result() if vulns is not None else None,
            baseline=scan.result()[1] if scan is not None else None,
            substitute_for=substitute_for,
            remedies=remedies,
        )
    except BaseException:
        stop.set()
        if warming is not None:
            warming.kill()  # Ctrl-C: the first start's processes go too, reaped
        if running is not None:
            running.kill()  # and the suite's (an interrupted wait() has closed its files)
            running.close()
        raise
    finally:
        # On success the scan is done. On Ctrl-C, drop it if it has not started; a running
        # scan only reads files and is joined at interpreter exit, so it ends soon.
        pool.shutdown(wait=False, cancel_futures=True)


def _imports_and_bytecode(
    policy: Policy,
    python: str,
    facts: InterpreterFacts,
    needs: Collection[Need],
    *,
    timeout: float,
    withhold: Sequence[str],
    environ: Mapping[str, str],
) -> tuple[PerformanceFacts | ProbeFailure | None, BytecodeFacts | ProbeFailure | None]:
    """The import timing, with the bytecode probe beside it at the lowest CPU priority (a cold
    cache compiles for seconds; a warm one only stats). Its children die with any exception.
    ``environ`` (the check's) says where the cache is; the probe has its own time limit
    (a cold cache of a large environment compiles for minutes), not ``timeout``."""
    pycs = (
        bytecode.BytecodeRun(python, facts.site_packages, environ=environ, withhold=withhold)
        if "bytecode" in needs
        else None
    )
    try:
        perf = (
            probes.measure_performance(
                python, policy.import_names(), timeout=timeout, withhold=withhold
            )
            if "performance" in needs
            else None
        )
        return perf, (pycs.wait() if pycs is not None else None)
    except BaseException:
        if pycs is not None:
            pycs.kill()
        raise


def _compare(
    baseline: tuple[Path, baselines.Manifest] | None, facts: InterpreterFacts
) -> tuple[Path, baselines.Manifest] | None:
    """The baseline to compare the census with; a manifest of another environment is
    refused here, at once (:class:`~preflight._facts.baseline.BaselineError`)."""
    if baseline is None:
        return None
    path, manifest = baseline
    baselines.check_identity(manifest, facts, path)
    return baseline


def _finish_first_start(
    warming: FirstStart, policy: Policy, python: str, suite_folder: Path | None
) -> Running | None:
    """Step the first start to its end. The suite starts on the first core it leaves free
    (nothing left to start, one child ended): it imports what it needs, compiled by now or
    compiled by itself on a core that would idle, and needs no timing. Returns the suite;
    on Ctrl-C (or any error) meanwhile, the suite is killed before it propagates."""
    suite: Running | None = None
    try:
        while not warming.finished:
            warming.step()
            free = warming.drained and warming.busy < warming.workers
            if suite is None and suite_folder is not None and _SIDE_BY_SIDE and free:
                suite = _start_suite(policy, python, suite_folder)
            if not warming.finished:
                time.sleep(_STEP)
    except BaseException:
        if suite is not None:
            suite.kill()
            suite.close()
        raise
    return suite


def _start_suite(policy: Policy, python: str, folder: Path) -> Running:
    return start_suite(
        python,
        folder,
        cwd=policy.project_dir,
        timeout=policy.suite_timeout_seconds,
        withhold=policy.secret_variables(),
    )


def _scan(
    pool: ThreadPoolExecutor,
    facts: InterpreterFacts,
    *,
    stop: threading.Event,
    wheelhouse: Path | None,
    lock: Lock | LockError | None,
    policy: Policy,
    judge: bool = True,
    baseline: tuple[Path, baselines.Manifest] | None = None,
) -> Future[tuple[IntegrityFacts | None, baselines.BaselineFacts | None]]:
    """The census on the pool, judged for integrity (against RECORD, or anchored in
    ``wheelhouse``) and compared with the ``baseline``."""
    anchoring = _anchoring(wheelhouse, lock, policy) if wheelhouse and judge else None
    return pool.submit(
        survey, facts, stop=stop, judge_integrity=judge, anchoring=anchoring, baseline=baseline
    )


def _anchoring(folder: Path, lock: Lock | LockError | None, policy: Policy) -> Anchoring:
    """The anchored mode of the scan: the wheelhouse, the lock (or why there is none) and
    the tooling the policy ignores (never pinned, so never a finding)."""
    read: Lock | str = lock if isinstance(lock, Lock) else str(lock)
    return Anchoring(WheelhouseRequest(folder, read, frozenset(policy.ignore)))


def _audited_names(facts: InterpreterFacts, lock: Lock | LockError | None) -> set[str]:
    """What the vulnerability data is read for: the installed distributions and the pins."""
    names = {dist.name for dist in facts.distributions}
    if isinstance(lock, Lock):
        names.update(entry.name for entry in lock.entries)
    return names


def _parse(path: Path) -> Lock | LockError:
    try:
        return read_lock(path)
    except LockError as exc:
        return exc


def git_commit_time(path: Path) -> datetime | None:
    """When the lock was last committed, if it is in a git work tree (a clone resets mtimes)."""
    if not path.is_file():
        return None
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%cI", "--", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    try:
        return datetime.fromisoformat(out.stdout.strip()) if out.returncode == 0 else None
    except ValueError:
        return None
