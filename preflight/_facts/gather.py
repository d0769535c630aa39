"""Gather the facts the checks judge, in two stages: verify, then run.

**Verify.** The interpreter probe (``probes.py``) is quick and everything else depends on it.
Then, side by side: worker threads hash every installed file, compare the environment with its
baseline and read the vulnerability data, while the bytecode probe (``bytecode.py``: one child
per core, ``-I -S -B``, compiling sources it never imports) checks every pyc. Nothing in this
stage exists to run the environment's code: its children only learn facts.

**Run.** Only when the verifying checks judged on those facts passed (``_engine.py`` asks
``preflight._checks.held_back``) does anything start that runs the environment's code: its first
start (``firststart.py``, for an environment just built), then the performance probe (imports the
required packages) and, on two cores or more beside it, the project's suite. Otherwise none of
them starts. For an environment just built, the sources of what its requirements import are
compiled in stage one, beside the census (``bytecode.CompileAhead``: in the target, ``-I -S
-B``, writing nothing), and their pycs written only once the verifying checks passed, each for
a source unchanged since it was compiled, and keyed as verified: its first start finds them and
writes none of its own; whatever anything that ran wrote anyway is checked once it has
ended, and the bytecode check is judged again on that (``bytecode.merged``). The vulnerability
data may still be loading meanwhile: it reads no file of the environment.

The child processes are started from the main thread on purpose: Ctrl-C raises there, and the
subprocess boundary (``_process.run``) then kills the child at once. A child waited on from a
worker thread would keep the interrupted check alive until the child finished or timed out (up to
the performance timeout). The worker threads only read files, so waiting for them is short.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from preflight._errors import LockError
from preflight._facts import baseline as baselines
from preflight._facts import bytecode, census, osv, probes, project, rootfs, standing
from preflight._facts.anchored import Anchoring, WheelhouseRequest
from preflight._facts.context import ALL_NEEDS, Context, Need
from preflight._facts.firststart import FirstStart
from preflight._facts.model import IntegrityFacts, InterpreterFacts, ProbeFailure
from preflight._facts.osv import DataUnavailable, VulnerabilityData
from preflight._facts.request import CheckRequest
from preflight._facts.suite import start_suite, suite_facts
from preflight._facts.survey import survey, unfinished
from preflight._lock.read import read_lock
from preflight._lock.requirements import Lock
from preflight._policy.policy import Policy
from preflight._process import Running, clean_env, run

# With two cores or more, the project's suite runs beside the performance probe (measured:
# imports about 8% slower, within their run-to-run noise); on one core, after it.
_SIDE_BY_SIDE = (os.cpu_count() or 1) >= 2
_STEP = 0.01  # seconds between looks at the first start's children
# Seconds past the census's own deadline before a census still not back is given up (a read
# blocked in the kernel, on a hung mount, never comes back to look at its clock).
CENSUS_GRACE = 30.0
PROBE_TIMEOUT = 30.0  # seconds for the interpreter probe, unless the request says
PERF_TIMEOUT = 120.0  # and for the performance probe


class Gathering:
    """The facts of one check, in two stages: :meth:`verify`, then :meth:`run`.

    The options come from the ``request``; ``policy`` is the one it names, loaded, and
    ``python`` the interpreter to probe (resolved; inside ``root`` for a root filesystem).
    ``needs`` names the facts to gather (the interpreter is always probed): ``--skip integrity``
    hashes no file and ``--skip performance`` imports nothing. ``first_start`` (for an
    environment just built) runs its first start before anything is timed. The vulnerability
    data (``vulnerability_db``, else the policy's ``[tool.preflight.audit] database``) is read
    beside the rest, and the environment is compared with its ``baseline`` manifest, read
    (refused if it is of another one). ``wheelhouse`` (the locked artifacts) anchors the
    hashing in the lock's hashes (``anchored.py``). The ``timeout`` bounds each bytecode probe
    child and the census of the files (its walk and reads; a read blocked in the file system
    for good is given up a little later, :data:`CENSUS_GRACE`).
    Use it as a context manager: leaving it on an exception stops the worker threads' work.
    """

    def __init__(
        self,
        request: CheckRequest,
        policy: Policy,
        python: str,
        *,
        needs: Collection[Need] = ALL_NEEDS,
        baseline: tuple[Path, baselines.Manifest] | None = None,
        root: RootTarget | None = None,
    ) -> None:
        self._root = root
        self.root_facts: rootfs.RootFacts | None = None
        self._policy, self._python, self._lock, self._needs = policy, python, request.lock, needs
        self._run_python = python  # the path children run by (resolved once it is checked)
        # an image's application runs with the image's environment, not this process's
        environ = request.environ
        self._env = dict(environ if environ is not None else os.environ if root is None else {})
        # the request's timeout bounds every probe it is given to, else each its own default
        self._probe_timeout = request.timeout_or(PROBE_TIMEOUT)
        self._perf_timeout = request.timeout_or(PERF_TIMEOUT)
        self._bytecode_timeout = request.timeout_or(bytecode.DEFAULT_TIMEOUT)
        self._census_timeout = request.timeout_or(census.DEFAULT_TIMEOUT)
        self._substitute_for, self._remedies = request.substitute_for, request.remedies
        self._first_start = request.first_start
        self._vulnerability_db, self._baseline, self._wheelhouse = (
            request.vulnerability_db, baseline, request.wheelhouse,
        )  # fmt: skip
        self._withhold = policy.secret_variables()  # never handed to the environment's code
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="preflight-facts")
        self._stop = threading.Event()  # set on the way out of an interrupted check
        self._vulns: Future[VulnerabilityData | DataUnavailable] | None = None
        self._ahead: bytecode.CompileAhead | None = None  # compiling, not yet let to write

    def __enter__(self) -> Gathering:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None:
            self._stop.set()  # an interrupted check: the scans end too
        if self._ahead is not None:  # compiled ahead, never let to write: nothing is written
            self._ahead.kill()
            self._ahead = None
        # Drop work not started; a running scan only reads files and ends soon after the stop.
        self._pool.shutdown(wait=False, cancel_futures=True)

    def verify(self) -> Context:
        """Stage one: every fact read from files, or by children that run nothing of the
        environment. Returns the context the verifying checks are judged on (without the
        vulnerability data, which :meth:`run` adds)."""
        policy, needs, now = self._policy, self._needs, datetime.now(UTC)
        if self._root is not None:  # an image: read from its files, nothing of it runs
            self.root_facts = rootfs.facts_from_root(self._root.folder, self._python)
            facts = self.root_facts.facts
        else:
            facts = probes.probe_interpreter(
                self._python, timeout=self._probe_timeout, withhold=self._withhold
            )
            if isinstance(facts, InterpreterFacts):
                # every child from now on runs by the resolved path the probe ran by: each
                # link on the way was checked (standing.path_problems), none is followed again
                self._run_python = standing.resolved_python(str(probes.locate(self._python)))
        if not isinstance(facts, InterpreterFacts):
            # Without an interpreter there is no lock to choose, but an explicit --lock is judged.
            lock = self._lock
            parsed = _parse(lock) if lock is not None and "lock" in needs else None
            return Context(
                policy, self._python, facts, self._env, now, lock_path=lock, lock=parsed,
                substitute_for=self._substitute_for, remedies=self._remedies,
                protected=project.protected_files(policy, lock),
            )  # fmt: skip
        lock_path = self._lock if self._lock is not None else policy.lock_path(facts.version)
        # first: a baseline of another environment is refused (exit 3) before anything is read
        compared = _compare(self._baseline, facts) if "baseline" in needs else None
        audit = "vulnerabilities" in needs
        parsed = _parse(lock_path) if "lock" in needs or audit or self._wheelhouse else None
        # one census of the files for integrity and the baseline: each file read once
        judge = "integrity" in needs
        scanning = time.monotonic()
        scan = (
            _scan(self._pool, facts, stop=self._stop, judge=judge, baseline=compared,
                  anchoring=_anchoring(self._wheelhouse, parsed, policy) if judge else None,
                  timeout=self._census_timeout)
            if judge or compared is not None
            else None
        )  # fmt: skip
        committed = git_commit_time(lock_path) if "lock" in needs else None
        database = self._vulnerability_db or policy.audit.database_path(policy.project_dir)
        if audit and database is not None:
            names = _audited_names(facts, parsed)
            self._vulns = self._pool.submit(osv.load, database, names, stop=self._stop)
        compiler = self._run_python if self._root is None else self._root.compiler(facts.version)
        if self._first_start and "bytecode" in needs and self._root is None:
            # An environment just built: its pycs compiled now, beside the census, and
            # written only once its files are verified (run()); nothing of it runs here.
            self._ahead = bytecode.CompileAhead(
                self._run_python, facts.site_packages, policy.import_names(),
                timeout=self._bytecode_timeout, withhold=self._withhold,
            )  # fmt: skip
        pycs = (
            bytecode.verify_bytecode(
                compiler,
                facts.site_packages,
                # an image's environment is not this machine's: the cache is this machine's
                environ=self._env if self._root is None else os.environ,
                timeout=self._bytecode_timeout,
                withhold=self._withhold,
            )
            if "bytecode" in needs and compiler is not None
            else None
        )
        surveyed: tuple[IntegrityFacts | None, baselines.BaselineFacts | None] = (None, None)
        if scan is not None:
            left = scanning + self._census_timeout + CENSUS_GRACE - time.monotonic()
            try:
                surveyed = scan.result(timeout=max(left, CENSUS_GRACE))
            except FutureTimeout:  # a read blocked in the kernel: the census cannot see its clock
                why = (
                    f"the census of the environment's files did not finish within "
                    f"{self._census_timeout:g} s (the check's timeout), a read blocked in the "
                    "file system: its files are not verified. Look for a hung mount below the "
                    "environment"
                )
                surveyed = unfinished(why, judge_integrity=judge, baseline=compared)
        if surveyed[0] is not None and facts.distro_owned:  # the distro's files are its own
            surveyed = (
                replace(
                    surveyed[0],
                    unowned=tuple(
                        u for u in surveyed[0].unowned if u.path not in facts.distro_owned
                    ),
                ),
                surveyed[1],
            )
        return Context(
            policy,
            self._python,
            facts,
            self._env,
            now,
            lock_path=lock_path,
            lock=parsed,
            lock_committed=committed,
            integrity=surveyed[0],
            bytecode=pycs,
            baseline=surveyed[1],
            substitute_for=self._substitute_for,
            remedies=self._remedies,
            protected=project.protected_files(policy, lock_path),
            config_file=project.config_file(policy),
        )

    def run(self, verified: Context, *, allowed: bool) -> Context:
        """Stage two: ``verified`` with the facts that only running the environment's code
        gives (its first start, the performance probe, the suite), gathered when ``allowed``
        (the verifying checks passed), else none of them; and the vulnerability data."""
        compiling, self._ahead = self._ahead, None
        if (
            not allowed
            or not isinstance(verified.interpreter, InterpreterFacts)
            or self._root is not None  # an image's code never runs here
        ):
            if compiling is not None:
                compiling.kill()  # not verified: none of what was compiled is written
            return replace(verified, vulnerabilities=self._vulnerabilities())
        policy, python, needs = self._policy, self._run_python, self._needs
        suite_folder = (
            policy.project_dir / policy.suite if "suite" in needs and policy.suite else None
        )
        # An environment just built: its pycs, compiled from its sources beside the census (in
        # the target, -I -S -B: nothing of it runs), written now that they are verified, and
        # keyed as verified; its first start then finds them. Whatever runs after may still
        # write some: all are checked again at the end.
        pycs, sites = verified.bytecode, verified.interpreter.site_packages
        ahead = self._first_start and isinstance(pycs, bytecode.BytecodeFacts)
        compiled: bytecode.CompiledFacts | ProbeFailure | None = None
        if compiling is not None:
            if ahead:
                compiling.decide(True)
                compiled = compiling.wait()
            else:
                compiling.kill()
        # The first start is there for the import timing: without the performance check, none.
        warming = (
            FirstStart(python, policy.import_names(), withhold=self._withhold)
            if self._first_start and "performance" in needs
            else None
        )
        running: Running | None = None
        try:
            started = None
            if warming is not None:
                running = _finish_first_start(warming, policy, python, suite_folder)
                started = warming.facts()
            if suite_folder is not None and running is None and _SIDE_BY_SIDE:
                running = _start_suite(policy, python, suite_folder)
            perf = (
                probes.measure_performance(
                    python, policy.import_names(), timeout=self._perf_timeout,
                    withhold=self._withhold,
                )
                if "performance" in needs
                else None
            )  # fmt: skip
            suite_result = None
            if suite_folder is not None:
                running = running or _start_suite(policy, python, suite_folder)
                suite_result = suite_facts(suite_folder, running.wait())
            if ahead and isinstance(pycs, bytecode.BytecodeFacts):
                known = pycs.learned + (
                    compiled.learned if isinstance(compiled, bytecode.CompiledFacts) else ()
                )
                after = bytecode.BytecodeRun(
                    python, sites, environ=self._env, timeout=self._bytecode_timeout,
                    withhold=self._withhold, known=known,
                ).wait()  # fmt: skip
                pycs = bytecode.merged(pycs, compiled, after)
        except BaseException:
            if warming is not None:
                warming.kill()  # Ctrl-C: the first start's processes go too, reaped
            if running is not None:
                running.kill()  # and the suite's (an interrupted wait() has closed its files)
                running.close()
            raise
        return replace(
            verified,
            bytecode=pycs,
            performance=perf,
            suite=suite_result,
            first_start=started,
            vulnerabilities=self._vulnerabilities(),
        )

    def _vulnerabilities(self) -> VulnerabilityData | DataUnavailable | None:
        return self._vulns.result() if self._vulns is not None else None


@dataclass(frozen=True)
class RootTarget:
    """A root filesystem judged from its files: ``folder`` on this machine, and the host
    interpreters by X.Y that may compile its sources for the bytecode check (none of the
    image's processes runs)."""

    folder: str
    compilers: Mapping[str, str] = field(default_factory=dict)  # "3.12" -> a host python

    def compiler(self, version: str) -> str | None:
        return self.compilers.get(".".join(version.split(".")[:2]))


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
    timeout: float,
    stop: threading.Event,
    anchoring: Anchoring | None,
    judge: bool = True,
    baseline: tuple[Path, baselines.Manifest] | None = None,
) -> Future[tuple[IntegrityFacts | None, baselines.BaselineFacts | None]]:
    """The census on the pool, judged for integrity (against RECORD, or ``anchoring``'s
    wheelhouse) and compared with the ``baseline``."""
    return pool.submit(
        survey, facts, stop=stop, judge_integrity=judge, anchoring=anchoring, baseline=baseline,
        timeout=timeout,
    )  # fmt: skip


def _anchoring(
    folder: Path | None, lock: Lock | LockError | None, policy: Policy
) -> Anchoring | None:
    """The anchored mode of the scan: the wheelhouse, the lock (or why there is none) and
    the tooling the policy ignores (never pinned, so never a finding); None without a
    wheelhouse (checked against RECORD)."""
    if folder is None:
        return None
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
    argv = ["git", "log", "-1", "--format=%cI", "--", path.name]
    out = run(argv, cwd=path.parent, timeout=10, env=clean_env())
    try:
        return datetime.fromisoformat(out.stdout.strip()) if out.ok else None
    except ValueError:
        return None
