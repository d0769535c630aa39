"""``preflight relock``: compile every interpreter's lock of the policy (``nox -s relock``).

Each spec of ``[tool.preflight] pythons`` is compiled by an interpreter of its X.Y: the exact
one when installed, else the nearest patch release (a lock is per X.Y; its header records the
interpreter that resolved it). A spec with no interpreter of its X.Y is skipped with a clear
line, or is an error when ``CI`` is set.

``--universal`` compiles one lock for every interpreter with ``uv pip compile --universal``,
from the policy's lowest X.Y up; specs that share a lock path (a policy ``lock`` without
``{major}``/``{minor}``) compile it once. Without it, such a policy is a usage error:
pip-compile resolves for the one interpreter it runs in.

The format is the policy's ``lock`` name: a PEP 751 lock (``pylock.toml``) is compiled by uv
or ``pip lock`` (``--resolver``); one named once for every interpreter is universal without
saying so (``pip lock`` cannot write one). ``--format`` only confirms the name.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from packaging.version import Version

from preflight._atomic import write_atomic
from preflight._cli.options import add_project_option
from preflight._errors import UsageError, format_error
from preflight._interpreters.discovery import find_interpreters
from preflight._interpreters.resolve import resolve
from preflight._lock.format import RESOLVERS
from preflight._lock.read import FORMATS, lock_format
from preflight._ops.relock import (
    COMPILE_COMMAND,
    RelockError,
    RelockResult,
    RelockRun,
    folder_lock,
    relock_one,
)
from preflight._policy.policy import Policy, load_policy
from preflight._report.model import EXIT_FAILED, EXIT_PASSED

REPORT_DIR = "reports"  # where the log of a failed compile goes, as check's reports do


def add_relock_options(parser: argparse.ArgumentParser) -> None:
    add_project_option(parser)
    parser.add_argument(
        "--check",
        action="store_true",
        help="compile to a temporary place and exit 1 with a diff if a committed lock is stale",
    )
    upgrade = parser.add_mutually_exclusive_group()
    upgrade.add_argument(
        "--upgrade", action="store_true", help="resolve the newest versions, not the locked ones"
    )
    upgrade.add_argument(
        "--upgrade-package",
        action="append",
        default=[],
        metavar="NAME",
        help="upgrade only this package (repeatable)",
    )
    parser.add_argument(
        "--update-command",
        default=COMPILE_COMMAND,
        metavar="TEXT",
        help="the command the lock's header and messages name to update it (default: "
        f"`{COMPILE_COMMAND}`; the nox session passes `nox -s relock`)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SPEC",
        help="relock only this interpreter spec of the policy, e.g. --only 3.12 (repeatable)",
    )
    parser.add_argument(
        "--universal",
        action="store_true",
        help="one lock for every interpreter of the policy, by `uv pip compile --universal` "
        "(pip-compile cannot); each pin carries the markers under which it applies (implied "
        "for a PEP 751 lock the policy names once for every interpreter, e.g. pylock.toml)",
    )
    parser.add_argument(
        "--format",
        choices=tuple(FORMATS),
        help="the lock format to write; it follows the policy's `lock` (a PEP 751 lock is "
        "named pylock.toml or pylock.NAME.toml), and saying it refuses a policy naming the "
        "other one (default: as the policy's lock is named)",
    )
    parser.add_argument(
        "--resolver",
        choices=RESOLVERS,
        help="what compiles a PEP 751 lock: uv (`uv pip compile`, the default; universal or "
        "per interpreter) or pip (`pip lock`, pip >= 25.1, one interpreter per lock); a "
        "requirements file is compiled by pip-tools, or by uv with --universal",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        help="where the pip-tools venvs are kept (default: PROJECT/.nox/_tools)",
    )


def run_relock(args: argparse.Namespace) -> int:
    policy = load_policy(args.project.resolve())
    specs = [str(s) for s in policy.pythons]
    unknown = [s for s in args.only if s not in specs]
    if unknown:
        raise UsageError(
            f"--only {unknown[0]}: not an interpreter of the policy",
            hint=f"the policy's pythons are {', '.join(specs)}",
        )
    chosen = [s for s in specs if not args.only or s in args.only]
    sharing, universal = _plan(args, policy)
    done: set[Path] = set()
    run = RelockRun(
        cache=args.cache or policy.project_dir / ".nox" / "_tools",
        check=args.check,
        upgrade=["*"] if args.upgrade else list(args.upgrade_package),
        command=args.update_command,
        resolver=args.resolver,
    )
    found = find_interpreters()
    results: list[RelockResult] = []
    problems = 0
    folders = sorted({policy.lock_path(s.minor).parent for s in policy.pythons})
    with _locked(folders):
        for spec in chosen:
            lock_path = policy.lock_path(_minor(spec))
            if lock_path in done:
                print(f"relock {spec}: {lock_path} is universal, compiled once", file=sys.stderr)
                continue
            universal_from = None
            if universal:
                universal_from = min((_minor(s) for s in sharing[lock_path]), key=Version)
            resolution = resolve(spec, found, allow_substitute=True)
            if resolution.found is None:
                print(f"relock {spec}: skipped. {resolution.message}", file=sys.stderr)
                problems += bool(os.environ.get("CI"))
                continue
            used = resolution.found
            note = (
                f" (nearest to {spec}, recorded in the lock header)"
                if resolution.substitute
                else ""
            )
            print(f"relock {spec}: resolving with {used}{note}", file=sys.stderr)
            try:
                result = relock_one(
                    spec,
                    used.path,
                    used.version,
                    policy,
                    run=run,
                    substitute=resolution.substitute,
                    universal_from=universal_from,
                )
            except RelockError as exc:
                print(f"relock {spec}: {format_error(_logged(exc, policy, spec))}", file=sys.stderr)
                problems += 1
                continue
            results.append(result)
            done.add(lock_path)
            print(f"relock {spec}: {result.message}", file=sys.stderr)
            if result.state == "stale":
                sys.stdout.write(result.diff)
                problems += 1
    return EXIT_FAILED if problems else EXIT_PASSED


def _logged(exc: RelockError, policy: Policy, spec: str) -> RelockError:
    """``exc`` with the tool's whole output written to ``reports/relock-SPEC.log`` and the
    hint pointing there; the terminal gets one ``error:`` and one ``hint:`` line."""
    if not exc.output:
        return exc
    log = policy.project_dir / REPORT_DIR / f"relock-{spec}.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(log, exc.output)
    except OSError as error:
        where = f"(the log {log} could not be written: {error.strerror or error})"
    else:
        where = f"the whole output is in {log}"
    hint = f"{exc.hint}; {where}" if exc.hint else where
    return RelockError(exc.message, hint=hint)


def _plan(args: argparse.Namespace, policy: Policy) -> tuple[dict[Path, list[str]], bool]:
    """Which specs share each lock path, and whether the locks are universal; or the usage
    error a lock's name, ``--universal``, ``--format`` and ``--resolver`` make together."""
    named = lock_format(policy.lock)
    _check_format(args.format, policy.lock)
    if args.resolver is not None and args.resolver not in named.resolvers:
        raise UsageError(
            f"--resolver {args.resolver}: it chooses what compiles a PEP 751 lock, and the "
            f"policy's lock {policy.lock} is {named.noun}",
            hint="a requirements file is compiled by pip-compile, or by uv with --universal; "
            'for pip lock, name a PEP 751 lock (lock = "pylock.py{major}{minor}.toml")',
        )
    sharing: dict[Path, list[str]] = {}
    for s in policy.pythons:
        sharing.setdefault(policy.lock_path(s.minor), []).append(str(s))
    shared = next(((p, names) for p, names in sharing.items() if len(names) > 1), None)
    # A PEP 751 lock named once for every interpreter (pylock.toml) is universal by its name.
    universal = args.universal or (
        named.universal_when_shared
        and (shared is not None or policy.lock_path("3.0") == policy.lock_path("9.99"))
    )
    if shared is not None and not universal:
        raise UsageError(
            f"the policy names one lock, {shared[0]}, for {', '.join(shared[1])}: pip-compile "
            "resolves for the one interpreter it runs in",
            hint="relock with --universal (uv resolves one lock for all of them), or put "
            "{major}.{minor} in the policy's lock path",
        )
    if universal and args.resolver == "pip":
        raise UsageError(
            f"--resolver pip: pip lock resolves for one interpreter only, and the policy's lock "
            f"{policy.lock} is for every interpreter",
            hint="use --resolver uv, or give each X.Y its own lock "
            '(lock = "pylock.py{major}{minor}.toml")',
        )
    return sharing, universal


def _minor(spec: str) -> str:
    release = Version(spec).release
    return f"{release[0]}.{release[1]}"


def _check_format(wanted: str | None, template: str) -> None:
    """``--format`` confirms the policy's ``lock``; the policy is where the format is set."""
    actual = lock_format(template)
    if wanted is None or wanted == actual.name:
        return
    raise UsageError(
        f"--format {wanted}: the policy's lock {template} is {actual.noun}",
        hint=FORMATS[wanted].naming_hint,
    )


@contextlib.contextmanager
def _locked(folders: list[Path]) -> Iterator[None]:
    """Hold the folder lock of every lock folder, taken in sorted order (no deadlock)."""
    with contextlib.ExitStack() as stack:
        for folder in folders:
            stack.enter_context(folder_lock(folder))
        yield
