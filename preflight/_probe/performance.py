"""Time imports and a small compute baseline inside the target interpreter; print JSON.

Run by preflight as ``python -I -B performance.py '{"imports": ["pandas", "numpy"]}'``.
A stand-alone stdlib script (Python 3.8 or newer): it imports nothing from ``preflight`` and
writes nothing (``-B``: no bytecode). It prints one JSON object with the ``PerformanceFacts``
fields except ``total_seconds``, which the caller measures from outside.

Whatever the imported modules print (even from C code) is sent to stderr: file descriptor 1
is pointed at stderr while they run, so stdout carries only the report.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import time
from types import ModuleType
from typing import Any

PROBE_VERSION = 1
PYTHON_LOOP = 200_000  # the pure-Python baseline: sum of i*i for i below this


def _error_text(exc: BaseException) -> str:
    """``"ModuleNotFoundError: No module named 'x'"``."""
    return f"{type(exc).__name__}: {exc}"


def _time_imports(names: list[str]) -> tuple[list[dict[str, Any]], dict[str, ModuleType]]:
    """Import each name in order; return the timings and the modules that imported."""
    timings: list[dict[str, Any]] = []
    modules: dict[str, ModuleType] = {}
    for name in names:
        started = time.perf_counter()
        error = None
        try:
            modules[name] = importlib.import_module(name)
        except (Exception, SystemExit) as exc:  # a module calling sys.exit() must not end us
            error = _error_text(exc)
        timings.append({"module": name, "seconds": time.perf_counter() - started, "error": error})
    return timings, modules


def _pandas_baseline(modules: dict[str, ModuleType]) -> None:
    pd, np = modules["pandas"], modules["numpy"]
    pd.DataFrame(np.random.randn(1000, 10)).sum().sum()


def _python_baseline(modules: dict[str, ModuleType]) -> None:
    sum(i * i for i in range(PYTHON_LOOP))


def _compute(modules: dict[str, ModuleType]) -> tuple[str, float, str | None]:
    """``(kind, seconds, error)`` of the baseline: pandas if it imported, else pure Python."""
    use_pandas = "pandas" in modules and "numpy" in modules
    kind, baseline = ("pandas", _pandas_baseline) if use_pandas else ("python", _python_baseline)
    started = time.perf_counter()
    error = None
    try:
        baseline(modules)
    except Exception as exc:  # report a broken pandas instead of dying
        error = _error_text(exc)
    return kind, time.perf_counter() - started, error


def _bytecode_cached(modules: dict[str, ModuleType]) -> bool | None:
    """Whether every imported module with a ``.py`` file has its ``__pycache__`` entry."""
    checked = []
    for module in modules.values():
        source = getattr(module, "__file__", None)
        if isinstance(source, str) and source.endswith(".py"):
            try:
                cached = importlib.util.cache_from_source(source)
            except (NotImplementedError, ValueError):  # no cache tag on this implementation
                continue
            checked.append(os.path.exists(cached))
    return all(checked) if checked else None


def _read_names(argv: list[str]) -> list[str]:
    """The module names from the single JSON argument; exit 2 with a message if malformed."""
    try:
        names = json.loads(argv[1])["imports"]
    except (IndexError, KeyError, TypeError, ValueError) as exc:
        sys.stderr.write(
            f'usage: performance.py \'{{"imports": ["module", ...]}}\' ({_error_text(exc)})\n'
        )
        raise SystemExit(2) from None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        sys.stderr.write("performance.py: 'imports' must be a list of module names\n")
        raise SystemExit(2)
    return names


def main(argv: list[str]) -> int:
    """Measure, then print the report on the real stdout."""
    names = _read_names(argv)
    sys.stdout.flush()
    report_fd = os.dup(1)
    os.dup2(2, 1)  # anything the imported code prints goes to stderr
    try:
        started = time.perf_counter()
        timings, modules = _time_imports(names)
        import_seconds = time.perf_counter() - started
        kind, compute_seconds, compute_error = _compute(modules)
        cached = _bytecode_cached(modules)
        sys.stdout.flush()
    finally:
        os.dup2(report_fd, 1)
        os.close(report_fd)
    report = {
        "ok": True,
        "probe_version": PROBE_VERSION,
        "imports": timings,
        "import_seconds": import_seconds,
        "compute_kind": kind,
        "compute_seconds": compute_seconds,
        "compute_error": compute_error,
        "total_seconds": None,
        "bytecode_cached": cached,
    }
    sys.stdout.write("\n" + json.dumps(report, ensure_ascii=True) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    # This folder is not the application's: its files must not shadow a module it imports.
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    sys.exit(main(sys.argv))
