"""Run nox on a machine that only has Python: ``python3 noxfile.py -s preflight``.

Standard library only (it runs before anything is installed), and its children go through
the subprocess boundary (``_process``) as every other. If this interpreter can import a recent
enough nox, it is used; otherwise nox is installed once into ``.nox/_bootstrap`` (a venv of
this interpreter) and that venv runs the noxfile. Arguments are passed through.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from preflight import _process
from preflight._errors import UsageError, format_error

NOX_MINIMUM = (2024, 3, 2)  # the noxfile's nox.needs_version
NOX_REQUIREMENT = "nox>=" + ".".join(map(str, NOX_MINIMUM))
PROBE_TIMEOUT = 60.0  # seconds for an interpreter to say whether it has nox
INSTALL_TIMEOUT = 900.0  # seconds to make the bootstrap venv, and to install nox into it
# Exit 0 only if nox is installed at NOX_MINIMUM or newer (calendar versions: YYYY.M.D).
_PROBE = (
    "import sys\n"
    "from importlib.metadata import PackageNotFoundError, version\n"
    "try:\n"
    "    found = tuple(int(p) for p in version('nox').split('.')[:3])\n"
    "except (PackageNotFoundError, ValueError):\n"
    "    sys.exit(1)\n"
    "sys.exit(0 if found >= tuple(int(p) for p in sys.argv[1:]) else 1)\n"
)


def has_nox(python: str) -> bool:
    """Whether ``python`` has a recent enough nox."""
    argv = [python, "-c", _PROBE, *map(str, NOX_MINIMUM)]
    return _process.run(argv, timeout=PROBE_TIMEOUT).ok


def bootstrap_python(root: Path) -> str:
    """An interpreter that can run nox: this one, or the bootstrap venv (made if needed)."""
    if has_nox(sys.executable):
        return sys.executable
    folder = root / ".nox" / "_bootstrap"
    python = folder / "bin" / "python"
    if python.exists() and has_nox(str(python)):
        return str(python)
    print(f"bootstrap: installing {NOX_REQUIREMENT} into {folder}", file=sys.stderr)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for argv in ([sys.executable, "-m", "venv", "--clear", str(folder)], [*pip, NOX_REQUIREMENT]):
        done = _process.run(argv, timeout=INSTALL_TIMEOUT)
        if not done.ok:
            raise OSError(f"{done.describe()}: {(done.stderr or done.stdout).strip()[-2000:]}")
    return str(python)


def run_nox(noxfile: Path, args: list[str]) -> int:
    """Run ``nox -f noxfile ARGS`` with an interpreter that has nox; return its exit code."""
    try:
        python = bootstrap_python(noxfile.resolve().parent)
    except OSError as exc:
        problem = UsageError(
            f"could not install nox: {exc}",
            hint="install it yourself (`python3 -m pip install nox`) and run `nox`",
        )
        print(format_error(problem), file=sys.stderr)
        return 3
    argv = [python, "-m", "nox", "-f", str(noxfile), *args]
    if os.name == "posix":
        _process.hand_over(argv)  # exec: signals and exit code are nox's own
    return _process.foreground(argv).wait()
