"""Run the probes inside a target interpreter and turn their JSON into facts.

The probes (``_probe/interpreter.py``, ``_probe/performance.py``) are stand-alone stdlib
scripts run as ``python -I -B <probe>``: isolated from the user's environment variables and
user site, and writing no bytecode. The interpreter probe runs with ``-S`` too: no ``site``,
so no ``.pth`` line or ``sitecustomize`` of the environment runs in it; what ``site`` would
do is read from the files (``site.py``). Before it runs, a venv's interpreter must be the one
its ``pyvenv.cfg`` names (``site.anchor_problem``); after, the environment it reports must be
the one it was given in. Everything here runs in preflight's own process. Every way
a probe can fail comes back as a :class:`~preflight._facts.model.ProbeFailure` value with a
message that says what happened and what to do; a malformed report never becomes a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import TypeVar

from preflight import _json
from preflight._facts import site, standing
from preflight._facts.model import (
    ImportTiming,
    InterpreterFacts,
    PerformanceFacts,
    ProbeFailure,
    ProbeFailureKind,
    ProbeReport,
)
from preflight._process import Completed, lacks_isolated_mode, run_python
from preflight._strict import Node, ShapeError, Table, shown

__all__ = [
    "PERFORMANCE_PROBE_VERSION",
    "PROBE_VERSION",
    "measure_performance",
    "parse_performance_output",
    "parse_probe_output",
    "probe_interpreter",
]

PROBE_VERSION = 2  # must match PROBE_VERSION in _probe/interpreter.py
PERFORMANCE_PROBE_VERSION = 1  # must match PROBE_VERSION in _probe/performance.py
_MAX_LINE = 300  # characters of a stderr line quoted in a message

T = TypeVar("T")


class _Malformed(Exception):
    """The payload is JSON but not the probe's report; the text says which part."""


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


@contextmanager
def _script(name: str) -> Iterator[Path]:
    """A real file path for one of the probe scripts shipped in this package."""
    with resources.as_file(resources.files("preflight._probe").joinpath(name)) as path:
        yield path


def locate(python: str | os.PathLike[str]) -> Path:
    """The interpreter's path as given (never resolved: a venv's symlink must stay a venv's).

    A bare command name such as ``python3.12`` is looked up on PATH.
    """
    text = os.fspath(python)
    if os.sep not in text and not Path(text).exists():
        on_path = shutil.which(text)
        if on_path:
            return Path(on_path)
    return Path(text)


def path_problem(path: Path) -> ProbeFailure | None:
    """A failure for a path that cannot be an interpreter, before running anything."""
    command = (str(path),)
    if path.is_symlink() and not path.exists():
        target = os.readlink(path)
        return ProbeFailure(
            "missing",
            f"{path} is a broken symlink to {target}; its base interpreter was removed or "
            "moved, so recreate the environment",
            command=command,
        )
    if not path.exists():
        return ProbeFailure(
            "missing",
            f"{path} does not exist; check the path, or create the environment / install "
            "that Python first",
            command=command,
        )
    if path.is_dir():
        return ProbeFailure(
            "not_executable",
            f"{path} is a folder, not an interpreter; point preflight at its Python "
            f"executable, e.g. {path / 'bin' / 'python'}",
            command=command,
        )
    if not os.access(path, os.X_OK):
        return ProbeFailure(
            "not_executable",
            f"{path} is not executable; point preflight at a Python interpreter "
            f"(or run `chmod +x {path}` if it is one)",
            command=command,
        )
    return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "(no error output)"
    line = lines[-1]
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 3] + "..."


def _failure(
    kind: ProbeFailureKind, message: str, completed: Completed, version: str | None = None
) -> ProbeFailure:
    return ProbeFailure(
        kind=kind,
        message=message,
        command=completed.argv,
        returncode=completed.returncode,
        stdout=completed.stdout,
        stderr=completed.stderr,
        version=version,
    )


def _process_failure(path: Path, completed: Completed, timeout: float) -> ProbeFailure | None:
    """A failure for a probe process that did not run to a clean exit, else None."""
    if completed.returncode is None:
        return _failure(
            "not_executable",
            f"{path} could not be started ({completed.stderr.strip()}); check that it is a "
            "Python interpreter built for this machine",
            completed,
        )
    if completed.timed_out:
        return _failure(
            "timeout",
            f"{path} did not answer within {timeout:g} s; it was killed. Run it by hand to "
            "see whether it hangs, or raise the timeout",
            completed,
        )
    if lacks_isolated_mode(completed):
        return _failure(
            "too_old",
            f"{path} does not know `-I`, so it is Python 2 or older than 3.4; "
            "preflight needs 3.8 or newer",
            completed,
        )
    if completed.returncode != 0:
        return _failure(
            "crashed",
            f"{path} exited with code {completed.returncode} while being probed: "
            f"{_last_line(completed.stderr)}. Run `{path} -I -c pass` by hand to see why",
            completed,
        )
    return None


def _attach(result: T | ProbeFailure, completed: Completed) -> T | ProbeFailure:
    """Give a parse failure the command and output it came from."""
    if isinstance(result, ProbeFailure):
        return replace(
            result,
            command=completed.argv,
            returncode=completed.returncode,
            stdout=completed.stdout,
            stderr=completed.stderr,
        )
    return result


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def probe_interpreter(
    python: str | os.PathLike[str], *, timeout: float = 30.0, withhold: Sequence[str] = ()
) -> InterpreterFacts | ProbeFailure:
    """Run the interpreter probe inside ``python``: what it found, or why it could not."""
    path = locate(python)
    problem = path_problem(path)
    if problem is not None:
        return problem
    venv, foreign, anchor = site.anchor_problem(str(path))
    if foreign is not None:
        return ProbeFailure("foreign", _foreign_message(foreign), command=(str(path),))
    # run by the resolved folder: a link on the way, checked, is not followed again
    path = Path(standing.resolved_python(str(path)))
    with _script("interpreter.py") as probe:
        # -S: no site, so nothing of the environment runs in the probe (-I -B come first).
        completed = run_python(path, ["-S", str(probe)], timeout=timeout, withhold=withhold)
    failure = _process_failure(path, completed, timeout)
    if failure is not None:
        return failure
    report = _attach(parse_probe_output(completed.stdout, source=str(path)), completed)
    if isinstance(report, ProbeFailure):
        return report
    given = venv.prefix if venv is not None else None
    if not _same_folder(report.venv_prefix, given):
        told = report.venv_prefix or f"no virtual environment (base prefix {report.base_prefix})"
        return _failure(
            "foreign",
            _foreign_message(
                f"{path} was given in {given or 'no virtual environment'}, but the "
                f"interpreter it started reports {told} (executable {report.executable})"
            ),
            completed,
        )
    return site.interpreter_facts(report, anchor)


def _foreign_message(what: str) -> str:
    return (
        f"{what}: it is not this environment's interpreter, so nothing it would say about "
        "the environment can be believed. Recreate the environment, or point preflight at "
        "the interpreter its pyvenv.cfg names"
    )


def _same_folder(reported: str | None, given: str | None) -> bool:
    if reported is None or given is None:
        return reported is None and given is None
    return os.path.realpath(reported) == os.path.realpath(given)


def measure_performance(
    python: str | os.PathLike[str],
    imports: Sequence[str],
    *,
    timeout: float = 120.0,
    withhold: Sequence[str] = (),
) -> PerformanceFacts | ProbeFailure:
    """Time ``imports`` (in order) and a compute baseline inside ``python`` (3.8 or newer).

    ``total_seconds`` is the wall time of the whole probe process, start-up included.
    """
    path = locate(python)
    problem = path_problem(path)
    if problem is not None:
        return problem
    argument = json.dumps({"imports": list(imports)})
    with _script("performance.py") as probe:
        completed = run_python(path, [str(probe), argument], timeout=timeout, withhold=withhold)
    failure = _process_failure(path, completed, timeout)
    if failure is not None:
        return failure
    parsed = parse_performance_output(
        completed.stdout, total_seconds=completed.seconds, source=str(path)
    )
    return _attach(parsed, completed)


def parse_probe_output(text: str, *, source: str = "the interpreter") -> ProbeReport | ProbeFailure:
    """Turn the interpreter probe's output into its report; anything unexpected is
    "not_python". ``site.interpreter_facts`` adds what the files say.

    ``source`` names the interpreter in messages. Pure: no I/O.
    """
    try:
        payload = _payload(text)
        if payload.value.get("ok") is False and payload.value.get("reason") == "too_old":
            version = _str(payload, "version")
            return ProbeFailure(
                "too_old",
                f"Python {version} is too old to probe; preflight needs 3.8 or newer "
                f"(found at {source}; point preflight at a newer interpreter)",
                version=version,
            )
        _check_header(payload, PROBE_VERSION)
        return _probe_report(payload)
    except _Malformed as exc:
        return _not_python(source, str(exc))


def parse_performance_output(
    text: str, *, total_seconds: float, source: str = "the interpreter"
) -> PerformanceFacts | ProbeFailure:
    """Turn ``_probe/performance.py``'s output into facts; anything unexpected is "not_python"."""
    try:
        payload = _payload(text)
        _check_header(payload, PERFORMANCE_PROBE_VERSION)
        return _performance_facts(payload, total_seconds)
    except _Malformed as exc:
        return _not_python(source, str(exc))


def _not_python(source: str, detail: str) -> ProbeFailure:
    return ProbeFailure(
        "not_python",
        f"{source} ran, but its output is not the probe's report ({detail}); "
        "is it a Python interpreter?",
    )


# ---------------------------------------------------------------------------------------------
# Parsing: every field is read by the strict reader (preflight._strict), and any surprise
# raises _Malformed naming the key.
# ---------------------------------------------------------------------------------------------


def _payload(text: str) -> Table:
    """The JSON object in ``text``: the whole output, or its last line.

    The last line is enough when something (a chatty ``.pth`` file) printed before the probe.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise _Malformed("it printed nothing")
    for candidate in (text, lines[-1]):
        try:
            value = _json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return Node(value).table()  # keys a later probe adds are tolerated, as they were
    raise _Malformed(f"no JSON object; last line was {_last_line(text)!r}")


def _check_header(payload: Table, version: int) -> None:
    ok, reason = payload.value.get("ok"), payload.value.get("reason")
    if ok is not True:
        raise _Malformed(f"'ok' is {shown(ok)}, reason {shown(reason)}")
    probe_version = payload.value.get("probe_version")
    if probe_version != version or isinstance(probe_version, bool):
        raise _Malformed(f"probe_version {shown(probe_version)}, expected {version}")


_LONGEST = 1e9  # seconds: no import takes 31 years (and none takes -1)


def _shaped(read: Callable[[], T]) -> T:
    """What ``read`` reads, its :class:`ShapeError` a :class:`_Malformed` naming the key."""
    try:
        return read()
    except ShapeError as exc:
        raise _Malformed(f"{exc.key!r} {exc.problem}") from None


def _str(payload: Table, key: str) -> str:
    return _shaped(lambda: _field(payload, key).string(empty=True))


def _opt_str(payload: Table, key: str) -> str | None:
    return _shaped(lambda: _field(payload, key).string_or_null())


def _field(payload: Table, key: str) -> Node:
    node = payload.get(key)
    if node is None:
        raise _Malformed(f"{payload.at(key)!r} is missing")
    return node


def _bool(payload: Table, key: str) -> bool:
    return _shaped(lambda: _field(payload, key).boolean())


def _opt_bool(payload: Table, key: str) -> bool | None:
    node = _field(payload, key)
    return None if node.value is None else _shaped(node.boolean)


def _seconds(payload: Table, key: str) -> float:
    return _shaped(lambda: _field(payload, key).number(maximum=_LONGEST))


def _str_tuple(payload: Table, key: str) -> tuple[str, ...]:
    return tuple(_shaped(lambda: _field(payload, key).strings()))


def _str_dict(payload: Table, key: str) -> dict[str, str]:
    def read() -> dict[str, str]:
        table = _field(payload, key).table()
        return {name: member.string(empty=True) for name, member in table.nodes()}

    return _shaped(read)


def _objects(payload: Table, key: str) -> list[Table]:
    return _shaped(lambda: [item.table() for item in _field(payload, key).items()])


def _probe_report(payload: Table) -> ProbeReport:
    return ProbeReport(
        executable=_str(payload, "executable"),
        base_executable=_opt_str(payload, "base_executable"),
        version=_release(payload),
        release_level=_str(payload, "release_level"),
        implementation=_str(payload, "implementation"),
        base_prefix=_str(payload, "base_prefix"),
        base_exec_prefix=_str(payload, "base_exec_prefix"),
        platlibdir=_str(payload, "platlibdir"),
        abiflags=_str(payload, "abiflags"),
        venv_prefix=_opt_str(payload, "venv_prefix"),
        venv_paths=_str_dict(payload, "venv_paths"),
        base_paths=_str_dict(payload, "base_paths"),
        vendor_site=_str_tuple(payload, "vendor_site"),
        user_site=_opt_str(payload, "user_site"),
        user_site_allowed=_bool(payload, "user_site_allowed"),
        marker_env=_str_dict(payload, "marker_env"),
        stdlib_path=_str_tuple(payload, "stdlib_path"),
    )


def _release(payload: Table) -> str:
    """The interpreter's X.Y.Z: anything else ("banana", a 5000-digit number) is not Python."""
    version = _str(payload, "version")
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() and p.isascii() and len(p) <= 4 for p in parts):
        said = version if len(version) <= 40 else version[:40] + "..."
        raise _Malformed(f"'version' is {said!r}, not a release like 3.12.1")
    return version


def _import_timing(item: Table) -> ImportTiming:
    return ImportTiming(
        module=_str(item, "module"),
        seconds=_seconds(item, "seconds"),
        error=_opt_str(item, "error"),
    )


def _performance_facts(payload: Table, total_seconds: float) -> PerformanceFacts:
    return PerformanceFacts(
        imports=tuple(_import_timing(item) for item in _objects(payload, "imports")),
        import_seconds=_seconds(payload, "import_seconds"),
        compute_kind=_str(payload, "compute_kind"),
        compute_seconds=_seconds(payload, "compute_seconds"),
        compute_error=_opt_str(payload, "compute_error"),
        total_seconds=total_seconds,
        bytecode_cached=_opt_bool(payload, "bytecode_cached"),
    )
