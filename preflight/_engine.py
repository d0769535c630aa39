"""One check of one environment: policy → facts → checks → :class:`Report`.

Verify, then run: the facts read from files (or by children that run nothing of the environment)
are gathered first and the verifying checks judged on them; only when those passed are the
facts gathered that running the environment's code gives (its first start, the performance
probe, the suite). Otherwise nothing of the environment runs, and those checks are skipped
with the reason (``preflight._checks.held_back``).

This is what ``preflight.check()`` and ``preflight.check_request()`` are. Every front end (the
CLI's ``check``, the gate, the monitor, the nox sessions) builds one
:class:`~preflight._facts.request.CheckRequest` and passes it on: to the public
``check_request``, or to :func:`judge` where it needs the facts too (the SBOM, the baseline).
It writes nothing: front ends that keep a report on disk call
:func:`preflight._render.report.write_reports` with the result.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preflight._checks import ALL, held_back, needs_of, run_checks, verifying_stage
from preflight._checks.result import CheckResult, Status
from preflight._errors import UsageError
from preflight._facts import baseline as baselines
from preflight._facts import probes, rootfs
from preflight._facts.bytecode import BytecodeFacts, remember_verified
from preflight._facts.context import Context, Remedies
from preflight._facts.gather import Gathering, RootTarget
from preflight._facts.image import ImageError, ImageFacts, Limits, unpack_in_work
from preflight._facts.image import release as release_work
from preflight._facts.model import InterpreterFacts
from preflight._facts.request import SKIPPABLE, CheckRequest
from preflight._interpreters.discovery import find_interpreters
from preflight._policy.policy import Policy, load_policy
from preflight._policy.spec import interpreter_version
from preflight._report.interpreter import ImageSummary, Interpreter
from preflight._report.model import Report, Verdict
from preflight._version import __version__

__all__ = ["SKIPPABLE", "CheckRequest", "Judged", "check", "check_request", "judge"]


def check(  # noqa: PLR0913 -- the public keyword form; everything below takes a CheckRequest
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
    root: str | os.PathLike[str] | None = None,
    image: str | os.PathLike[str] | None = None,
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
    ``root`` is a root filesystem (an image unpacked, or mounted): ``python`` then names the
    interpreter inside it, every fact is read from its files and nothing of it runs; the
    checks that would have to run it (performance, suite) are skipped, saying so. ``image``
    is a container image (an OCI image layout, folder or tar, or a ``docker save`` archive),
    applied into a temporary work folder and judged as a root (docs/images.md).

    The keywords build a :class:`~preflight.CheckRequest` (the same names and meanings), which
    :func:`check_request` judges: ``check(**options)`` is ``check_request(CheckRequest(
    **options))``. An unknown keyword is a ``TypeError``.

    Raises :class:`~preflight.ConfigError` for a bad policy and :class:`~preflight.UsageError`
    for arguments that cannot work (an unknown check, a path that is not an interpreter, a
    baseline that is malformed or of another environment). A
    broken environment is not an error: it is a report that says NOT_READY.
    """
    # The request takes a path as str or PathLike and keeps it as a Path, and any collection
    # of ids as a tuple: it converts and validates, so the keywords go to it as they came.
    options: dict[str, Any] = {
        "python": python, "project": project, "lock": lock, "skip": skip,
        "substitute_for": substitute_for, "timeout": timeout, "environ": environ,
        "remedies": remedies, "first_start": first_start, "vulnerability_db": vulnerability_db,
        "baseline": baseline, "wheelhouse": wheelhouse, "root": root, "image": image,
    }  # fmt: skip
    return check_request(CheckRequest(**options))


def check_request(request: CheckRequest) -> Report:
    """Judge what ``request`` asks for: :func:`check` with its options already built (a
    request made once and changed with ``dataclasses.replace`` for each environment)."""
    if not isinstance(request, CheckRequest):
        raise TypeError(f"check_request() takes a CheckRequest, not {type(request).__name__}")
    return judge(request).report


@dataclass(frozen=True)
class Judged:
    """A report with the facts it was judged on, for the outputs made of both (the SBOM)."""

    report: Report
    context: Context


def judge(
    request: CheckRequest,
    *,
    image_limits: Limits | None = None,
    while_there: Callable[[Judged], object] | None = None,
) -> Judged:
    """:func:`check_request`, keeping the gathered facts beside the report. A ``root`` is a
    root filesystem (an unpacked image): ``python`` is then a path inside it, and everything
    is read from its files; nothing of it runs (``_facts/rootfs.py``). An ``image`` is a
    container image (an OCI layout, folder or tar, or a ``docker save`` archive): its layers
    are applied into a work folder (bounded by ``image_limits``; ``_facts/image.py``), judged
    as a root with the image's own environment variables, and the work folder removed.
    ``while_there`` is called with what was judged while the environment's files are still
    there (an image's work folder is removed once judged): ``baseline --image`` hashes them."""
    if request.image is not None:
        return _judge_image(request, image_limits, while_there)
    start = time.perf_counter()
    project = request.project
    policy = project if isinstance(project, Policy) else load_policy(project.resolve())
    policy.check_substitute_for(request.substitute_for)
    if request.wheelhouse is not None:
        _wheelhouse(request.wheelhouse)
    python = request.python
    root_target = _root_target(request.root, python) if request.root is not None else None
    if root_target is not None:
        target = python or ""
    else:
        target = _resolve_python(sys.executable if python is None else python)
    manifest = None
    if request.baseline is not None and "baseline" not in request.skip:
        manifest = (request.baseline, baselines.read_manifest(request.baseline))
    chosen = tuple(c for c in ALL if c.id not in request.skip)
    with Gathering(
        request, policy, target, needs=needs_of(chosen), baseline=manifest, root=root_target
    ) as gathering:
        verified = gathering.verify()
        early = {
            r.id: r for r in run_checks(verified, verifying_stage(chosen), clock=time.perf_counter)
        }
        ctx = gathering.run(verified, allowed=held_back(early, chosen) is None)
    if ctx.bytecode is not verified.bytecode:
        # checked again once the environment had run (an environment just built): judged anew
        early.pop("bytecode", None)
    results = tuple(run_checks(ctx, chosen, judged=early, clock=time.perf_counter))
    summary = _interpreter_summary(ctx)
    if gathering.root_facts is not None:
        results = _not_run_in_image(ctx, results, gathering.root_facts)
        summary = _root_summary(summary, gathering.root_facts)
    report = Report(
        timestamp=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        interpreter=summary,
        python_status=_python_status(ctx),
        checks=results,
        duration_s=round(time.perf_counter() - start, 3),
        project=str(policy.project_dir),
        lock=str(ctx.lock_path) if ctx.lock_path else None,
        tool_version=__version__,
        substitute_for=ctx.substitute_for,
        host=socket.gethostname(),
    )
    report = _teach_bytecode_cache(ctx, report)
    judged = Judged(report, ctx)
    if while_there is not None:
        while_there(judged)
    return judged


def _judge_image(
    request: CheckRequest,
    limits: Limits | None,
    while_there: Callable[[Judged], object] | None,
) -> Judged:
    """The image applied into a work folder, judged as a root, the folder removed; the report
    names the image (its digest) and the interpreter inside it."""
    start = time.perf_counter()
    image = request.image or ""
    work: str | None = None
    try:
        try:
            found, work = unpack_in_work(image, limits)
        except ImageError as exc:
            raise UsageError(
                f"--image {image}: {exc}",
                hint="pass an OCI image layout (folder or tar) or a `docker save` archive; "
                "nothing of a refused image is judged",
            ) from None
        except OSError as exc:
            raise UsageError(
                f"--image {image}: cannot be applied into a work folder in "
                f"{tempfile.gettempdir()}: {exc}",
                hint="free some space in the temporary folder (TMPDIR)",
            ) from None
        environ = found.env if request.environ is None else request.environ
        judged = judge(
            replace(request, image=None, root=Path(work), environ=environ),
            while_there=while_there,
        )
    finally:
        if work is not None:
            release_work(work)  # and its lock, in memory
    report = judged.report
    inner = report.interpreter.inside or (request.python or "")
    interpreter = report.interpreter.with_values(path=f"{found.label}:{inner}")
    interpreter = interpreter.without("root").with_values(image=_image_summary(found))
    report = replace(
        report,
        interpreter=interpreter,
        host=f"image {found.label[: found.label.index('@') + 20]}",  # sha256: and 12 hex
        duration_s=round(time.perf_counter() - start, 3),
    )
    return Judged(report, judged.context)


def _image_summary(found: ImageFacts) -> ImageSummary:
    return ImageSummary(
        source=found.source,
        kind=found.kind,
        digest=found.digest,
        name=found.name,
        layers=tuple(found.layers),
        members=found.members,
        bytes=found.bytes_written,
        stdlib_files_not_read=found.unread,
        skipped=tuple(found.skipped),
        work=found.work,
        work_folder=found.work_folder,
    )


# The checks whose facts only a running interpreter of the image gives.
_NEEDS_TO_RUN = ("performance", "suite")


def _root_target(root: Path, python: str | None) -> RootTarget:
    """The root to read, and this machine's interpreters by X.Y that may compile its sources
    for the bytecode check. A root that is not a folder, or no ``--python`` inside it, is a
    usage error (exit 3) that lists the interpreters found in the usual places."""
    folder = Path(root).absolute()
    if not folder.is_dir():
        raise UsageError(
            f"--root {folder}: is not a folder",
            hint="pass the folder of an unpacked image (`docker export CONTAINER | tar -x -C DIR`)",
        )
    if python is None or not python.startswith("/"):
        found = rootfs.find_pythons(str(folder))
        listed = ", ".join(found) if found else "none in the usual places"
        raise UsageError(
            f"--root {folder}: name the interpreter inside it with --python "
            f"(an absolute path inside the image); found: {listed}",
            hint=f"e.g. --python {found[0] if found else '/usr/local/bin/python3.12'}",
        )
    compilers: dict[str, str] = {}
    for found_python in find_interpreters():
        minor = f"{found_python.version.major}.{found_python.version.minor}"
        if not found_python.version.is_prerelease:
            compilers.setdefault(minor, str(found_python.path))
    return RootTarget(str(folder), compilers)


def _not_run_in_image(
    ctx: Context, results: tuple[CheckResult, ...], found: rootfs.RootFacts
) -> tuple[CheckResult, ...]:
    """The checks that would run the image's code are skipped, saying so; and every path
    of the image is shown as the image names it, not where it lies on this machine."""
    out = []
    for judged in results:
        result = judged
        if result.id in _NEEDS_TO_RUN:
            result = CheckResult(
                result.id, result.title, Status.SKIP,
                "skipped: needs the image to run (judged from its files; no process of the "
                "image is started)",
                details={"reason": "needs_image_to_run"},
            )  # fmt: skip
        elif result.id == "bytecode" and ctx.bytecode is None and result.status is Status.SKIP:
            version = ctx.interpreter.version if ctx.interpreter.version else "X.Y"
            minor = ".".join(str(version).split(".")[:2])
            result = CheckResult(
                result.id, result.title, Status.SKIP,
                f"skipped: no Python {minor} on this machine to compile the image's sources "
                "with (the image's own interpreter is never run); install one (pyenv, uv) "
                "to check its bytecode",
                details={"reason": "no_host_interpreter"},
            )  # fmt: skip
        out.append(_in_image(result, found.root))
    return tuple(out)


def _in_image(result: CheckResult, root: str) -> CheckResult:
    """``result`` with the root's folder on this machine dropped from every path it names."""
    base = root.rstrip("/")

    def text(value: str) -> str:
        return value.replace(base + "/", "/").replace(base, "/")

    def walk(value: object) -> object:
        if isinstance(value, str):
            return text(value)
        if isinstance(value, dict):
            return {text(k) if isinstance(k, str) else k: walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    findings = tuple(
        replace(
            f,
            message=text(f.message),
            remedy=text(f.remedy) if f.remedy else f.remedy,
            file=text(f.file) if f.file else f.file,
        )
        for f in result.findings
    )
    details = walk(result.details)
    assert isinstance(details, dict)
    return replace(result, message=text(result.message), findings=findings, details=details)


def _root_summary(summary: Interpreter, found: rootfs.RootFacts) -> Interpreter:
    """The interpreter as the image names it, the root it was read from, and where each fact
    came from."""
    inside = {
        key: rootfs.inside(found.root, value)
        for key, value in (("executable", summary.executable), ("prefix", summary.prefix))
        if value is not None
    }
    return summary.with_values(
        **inside,
        path=f"{found.root}:{found.python}",
        root=found.root,
        inside=found.python,
        read_from_files=True,
        sources=dict(found.sources),
    )


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
    # first on the line, short: the terminal shortens a long message, and this one matters
    said = "the cache of verified pycs was changed during the check by something else: dropped"
    checks = tuple(
        replace(c, message=f"{said}; {c.message}", details={**c.details, "cache_note": note})
        if c.id == "bytecode"
        else c
        for c in report.checks
    )
    return replace(report, checks=checks)


def _wheelhouse(value: Path) -> Path:
    """The wheelhouse folder, absolute; one that is not a folder is a usage error (exit 3)."""
    folder = Path(value).absolute()
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise UsageError(
            f"--wheelhouse {folder}: {what}",
            hint="pass the folder `pip download --require-hashes --no-deps -r LOCK -d DIR` filled",
        )
    return folder


def _resolve_python(value: str) -> str:
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


def _interpreter_summary(ctx: Context) -> Interpreter:
    facts = ctx.interpreter
    if isinstance(facts, InterpreterFacts):
        return Interpreter.of(
            path=ctx.python,
            executable=facts.executable,
            version=facts.version,
            implementation=facts.implementation,
            prefix=facts.prefix,
        )
    # The same keys as above where they are known, so consumers need not special-case.
    return Interpreter.of(
        path=ctx.python,
        executable=None,
        version=facts.version,
        implementation=None,
        prefix=None,
        error=facts.kind,
    )


def _python_status(ctx: Context) -> str:
    if isinstance(ctx.interpreter, InterpreterFacts):
        facts = ctx.interpreter
        version = interpreter_version(facts.version, facts.release_level)
        return ctx.policy.classify(version, ctx.substitute_for).status
    return "unknown"
