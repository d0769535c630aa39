"""The package's layers, each rule of docs/architecture.md ("How it is built") as a test.

Read from the source with ``ast`` (imports inside functions and ``TYPE_CHECKING`` blocks count
too), so a module that breaks a rule fails here, not in a review. Each rule has a test that
shows it can fail (``test_..._is_caught``).
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "preflight"

# Bottom to top. A module may import its own layer and the layers below it, never above.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "preflight._version",
        "preflight._errors",
        "preflight._args",
        "preflight._atomic",
        "preflight._process",
        "preflight._tether",
        "preflight._reaper",
        "preflight._secrets",
        "preflight._read",
        "preflight._json",
        "preflight._strict",
        "preflight._text",
    ),
    ("preflight._policy", "preflight._lock"),
    ("preflight._facts", "preflight._interpreters"),
    ("preflight._checks",),
    ("preflight._report",),
    ("preflight._engine",),
    ("preflight._render",),
    ("preflight._alerts",),
    ("preflight._ops",),
    ("preflight._cli", "preflight.nox", "preflight.__main__", "preflight"),
)


def _layer(module: str) -> int:
    """The rank of ``module``: the layer of its longest matching prefix."""
    best: tuple[int, int] | None = None
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for every import of ``preflight`` in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "preflight":  # "from preflight import _cli" imports preflight._cli
                found += [(node.lineno, f"preflight.{a.name}") for a in node.names]
            elif node.module.startswith("preflight."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("preflight")]
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "_probe" not in p.parts)


def each_module(paths: Iterable[Path]) -> pytest.MarkDecorator:
    """One test per module of ``paths``, named by its path in the package."""
    return pytest.mark.parametrize("path", list(paths), ids=lambda p: str(p.relative_to(PACKAGE)))


@each_module(MODULES)
def test_imports_point_down(path: Path) -> None:
    module = _module_name(path)
    rank = _layer(module)
    upward = [
        f"line {line}: {module} imports {target}"
        for line, target in _imports(path)
        if target != "preflight" and _layer(target) > rank
    ]
    assert not upward, "\n".join(upward)


def test_the_layers_are_all_there() -> None:
    """A layer named here that no longer exists would make the test above vacuous."""
    names = {_module_name(p) for p in MODULES}
    for prefixes in LAYERS:
        for prefix in prefixes:
            assert any(n == prefix or n.startswith(prefix + ".") for n in names), prefix


PROBES = sorted((PACKAGE / "_probe").glob("*.py"))


@pytest.mark.parametrize("path", PROBES, ids=lambda p: p.name)
def test_probes_import_only_the_standard_library(path: Path) -> None:
    """They run inside the judged interpreter: nothing of ours, nothing installed there."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported - set(
        sys.stdlib_module_names
    )


def test_a_reach_upward_is_caught(tmp_path: Path) -> None:
    """The check itself can fail: a low module importing the CLI is named."""
    low = tmp_path / "low.py"
    low.write_text("from preflight._cli.check import check_and_report\n")
    assert _imports(low) == [(1, "preflight._cli.check")]
    assert _layer("preflight._cli.check") > _layer("preflight._facts.gather")
    low.write_text("from preflight import _cli, __version__\n")
    assert _imports(low) == [(1, "preflight._cli"), (1, "preflight.__version__")]
    assert _layer("preflight._cli") > _layer("preflight._facts.gather")


# Inside the alerts package, bottom to top: the model knows no sink, no state and no delivery;
# bounded (one call under one deadline) knows nothing of alerts.
ALERTS = ("log", "bounded", "model", "sinks", "state", "dispatch")


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (PACKAGE / "_alerts").glob("*.py") if p.stem != "__init__"),
    ids=lambda p: p.name,
)
def test_the_alerts_package_is_layered_too(path: Path) -> None:
    rank = ALERTS.index(path.stem)
    above = [
        target
        for _, target in _imports(path)
        if target.startswith("preflight._alerts.") and ALERTS.index(target.split(".")[2]) > rank
    ]
    assert above == [], f"{path.name} imports {above}"


def test_the_json_reader_imports_nothing_of_ours() -> None:
    """``_json`` is the bottom of every JSON reader: the standard library only."""
    assert _imports(PACKAGE / "_json.py") == []


def test_the_strict_reader_imports_nothing_of_ours() -> None:
    """``_strict`` reads what every validator of untrusted values reads: the standard library
    only, so that any layer may use it."""
    assert _imports(PACKAGE / "_strict.py") == []


def test_the_reader_of_untrusted_files_imports_only_the_errors() -> None:
    """``_read`` is the bottom of every reader: it may lean on nothing but ``_errors``."""
    assert [target for _, target in _imports(PACKAGE / "_read.py")] == ["preflight._errors"]


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _dotted(node: ast.expr) -> str | None:
    """``os.path.isdir`` for the expression ``os.path.isdir``; None for anything not a name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def _stdlib_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """``(line, module)`` of every import of a module that is not ours (``from os import
    path`` gives ``os.path``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and not node.module.startswith("preflight")
        ):
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


# --- rule: every child through the subprocess boundary -----------------------------------------

# What starts a process. The reaper is the child side of _process (run by it as a script): it
# starts the child it reaps. nox's session.run is nox's own boundary, not ours: the nox
# sessions hand it the commands nox runs and logs (it imports no subprocess here).
STARTERS_MODULES = ("subprocess", "multiprocessing", "pty", "concurrent.futures.process")
STARTERS_CALLS = re.compile(r"os\.(fork|forkpty|exec\w*|spawn\w*|posix_spawn\w*|system|popen)$")
MAY_START = ("_process.py", "_reaper.py")


def _children_started(tree: ast.Module) -> list[str]:
    found = [
        f"line {line}: imports {name}"
        for line, name in _stdlib_imports(tree)
        if any(name == m or name.startswith(m + ".") for m in STARTERS_MODULES)
        or STARTERS_CALLS.match(name)
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name is not None and STARTERS_CALLS.match(name):
                found.append(f"line {node.lineno}: calls {name}")
    return found


@each_module(p for p in MODULES if p.name not in MAY_START or p.parent != PACKAGE)
def test_every_child_is_started_by_the_subprocess_boundary(path: Path) -> None:
    """Only ``_process`` starts a process (deadline, reaper, clean environment, no shell)."""
    assert _children_started(_tree(path)) == []


def test_a_child_started_elsewhere_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nfrom subprocess import run\n"
        "def f():\n    import multiprocessing\n    os.execv('x', ['x'])\n"
        "    os.posix_spawnp('x', ['x'], {})\n"
    )
    assert _children_started(_tree(module)) == [
        "line 2: imports subprocess.run",
        "line 4: imports multiprocessing",
        "line 5: calls os.execv",
        "line 6: calls os.posix_spawnp",
    ]


# --- rule: the checks are pure functions of facts and policy -------------------------------------

# What a check may use of os: the string functions of os.path (relpath only of absolute paths).
PURE_OS_PATH = {"normpath", "basename", "dirname", "join", "split", "splitext", "relpath",
                "commonpath", "normcase", "isabs", "sep"}  # fmt: skip
# Modules that do I/O or read a clock; and ours that read files or start children.
IMPURE_MODULES = ("io", "subprocess", "socket", "shutil", "tempfile", "glob", "time", "urllib",
                  "http", "select", "signal", "threading", "concurrent", "sqlite3", "zipfile",
                  "tarfile", "pathlib.Path.cwd", "datetime.datetime.now")  # fmt: skip
IMPURE_OURS = ("preflight._read", "preflight._process", "preflight._atomic", "preflight._tether",
               "preflight._reaper", "preflight._secrets", "preflight._interpreters")  # fmt: skip
# Of _facts, a check names the facts' types (and site's pure comparison), never a gatherer:
# from the modules that also gather, only types (CamelCase) and the functions named here.
FACTS_A_CHECK_MAY_NAME = ("model", "context", "baseline", "bytecode", "osv", "site")
PURE_FACT_FUNCTIONS = {"layout_disagreement"}
PATH_IO = {"stat", "lstat", "exists", "is_file", "is_dir", "is_symlink", "read_text",
           "read_bytes", "open", "iterdir", "glob", "rglob", "resolve", "absolute", "write_text",
           "write_bytes", "mkdir", "unlink", "touch", "chmod", "samefile", "readlink", "cwd",
           "home", "rmdir", "expanduser"}  # fmt: skip
CLOCK = re.compile(r"(datetime\.)?(datetime|date)\.(now|utcnow|today)$|time\.\w+$")


def _gatherers_named(tree: ast.Module) -> list[str]:
    """The functions a module names from ``_facts`` that are not known to be pure."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("preflight._facts.")
            and (node.module or "").split(".")[2] not in ("model", "context")
        ):
            found += [
                f"line {node.lineno}: imports {node.module}.{a.name}"
                for a in node.names
                if not a.name[:1].isupper() and a.name not in PURE_FACT_FUNCTIONS
            ]
    return found


def _impure(tree: ast.Module) -> list[str]:
    found = []
    for line, name in _stdlib_imports(tree):
        if name in ("os", "os.path") or (name.startswith("os.path.") and name[8:] in PURE_OS_PATH):
            continue
        if name.startswith("os.") or any(name == m or name.startswith(m + ".")
                                         for m in IMPURE_MODULES):  # fmt: skip
            found.append(f"line {line}: imports {name}")
    for line, target in _imports_of(tree):
        if any(target == m or target.startswith(m + ".") for m in IMPURE_OURS) or (
            target.startswith("preflight._facts.")
            and target.split(".")[2] not in FACTS_A_CHECK_MAY_NAME
        ):
            found.append(f"line {line}: imports {target}")
    found += _gatherers_named(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if name == "open" or (name is not None and CLOCK.match(name)):
            found.append(f"line {node.lineno}: calls {name}")
        elif name is not None and name.startswith("os."):
            if not (name.startswith("os.path.") and name[8:] in PURE_OS_PATH):
                found.append(f"line {node.lineno}: calls {name}")
        elif isinstance(node.func, ast.Attribute) and node.func.attr in PATH_IO:
            found.append(f"line {node.lineno}: calls .{node.func.attr}()")
    return found


def _imports_of(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "preflight":
                found += [(node.lineno, f"preflight.{a.name}") for a in node.names]
            elif node.module.startswith("preflight."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("preflight")]
    return found


CHECKS = sorted((PACKAGE / "_checks").glob("*.py"))


@pytest.mark.parametrize("path", CHECKS, ids=lambda p: p.name)
def test_the_checks_are_pure(path: Path) -> None:
    """A check judges facts gathered before it (``_facts``): it opens, stats and runs
    nothing, and reads no clock (``Context.now``; the engine times them)."""
    assert _impure(_tree(path)) == []


def test_an_impure_check_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "check.py"
    module.write_text(
        "import os, time\nfrom pathlib import Path\n"
        "from preflight._facts.project import file_mode\n"
        "from preflight._facts.osv import Advisory, load\n"
        "def check(ctx):\n"
        "    os.path.normpath('a')\n"  # pure: allowed
        "    Path('x').stat()\n    os.path.isdir('x')\n    open('x')\n    os.listdir('.')\n"
        "    datetime.now()\n"
    )
    assert _impure(_tree(module)) == [
        "line 1: imports time",
        "line 3: imports preflight._facts.project",
        "line 3: imports preflight._facts.project.file_mode",
        "line 4: imports preflight._facts.osv.load",
        "line 7: calls .stat()",
        "line 8: calls os.path.isdir",
        "line 9: calls open",
        "line 10: calls os.listdir",
        "line 11: calls datetime.now",
    ]


# --- rule: renderers render a Report (and typed values), never the engine or a check ------------

# Of _checks, a renderer names the result model a Report holds and the typed readers of the
# details it shows (a lock's age, the time a probe took), nothing else.
RENDER_MAY_NOT = ("preflight._engine", "preflight._checks", "preflight._process")
RENDER_MAY = ("preflight._checks.result", "preflight._checks.details")


def _reaches_past(
    tree: ast.Module, banned: tuple[str, ...], allowed: tuple[str, ...] = ()
) -> list[str]:
    return [
        f"line {line}: imports {target}"
        for line, target in _imports_of(tree)
        if any(target == b or target.startswith(b + ".") for b in banned)
        and not any(target == a or target.startswith(a + ".") for a in allowed)
    ]


@pytest.mark.parametrize("path", sorted((PACKAGE / "_render").glob("*.py")), ids=lambda p: p.name)
def test_renderers_know_neither_the_engine_nor_the_checks(path: Path) -> None:
    assert _reaches_past(_tree(path), RENDER_MAY_NOT, RENDER_MAY) == []


def test_a_renderer_reaching_into_the_engine_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "r.py"
    module.write_text(
        "from preflight._checks.result import Status\nfrom preflight._engine import Judged\n"
        "from preflight._checks._selection import lock_entries\n"
    )
    assert _reaches_past(_tree(module), RENDER_MAY_NOT, RENDER_MAY) == [
        "line 2: imports preflight._engine",
        "line 3: imports preflight._checks._selection",
    ]


# --- rule: the front ends are peers; the policy and the lock start no child ----------------------

NEVER: tuple[tuple[str, tuple[str, ...]], ...] = (
    # nox.py and the CLI share argument types through _args, not each other
    ("nox.py", ("preflight._cli", "preflight.__main__")),
    ("_cli", ("preflight.nox", "preflight.__main__")),
    # reading [tool.preflight] and a lock is reading files, never running anything
    ("_policy", ("preflight._process", "preflight._reaper", "preflight._tether")),
    ("_lock", ("preflight._process", "preflight._reaper", "preflight._tether")),
)


def _under(name: str) -> list[Path]:
    target = PACKAGE / name
    return sorted(target.glob("*.py")) if target.is_dir() else [target]


@pytest.mark.parametrize(
    ("path", "banned"),
    [
        pytest.param(p, banned, id=str(p.relative_to(PACKAGE)))
        for name, banned in NEVER
        for p in _under(name)
    ],
)
def test_the_never_arrows(path: Path, banned: tuple[str, ...]) -> None:
    assert _reaches_past(_tree(path), banned) == []


def test_a_never_arrow_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "nox.py"
    module.write_text(
        "from preflight._cli.options import Parser\nfrom preflight._args import seconds\n"
    )
    assert _reaches_past(_tree(module), NEVER[0][1]) == ["line 1: imports preflight._cli.options"]
    assert all(_under(name) for name, _ in NEVER)  # no rule is about a module that is gone


# --- rule: the front ends reach the engine through the public API --------------------------------

FRONT_ENDS = [*_under("_cli"), PACKAGE / "nox.py", PACKAGE / "__main__.py"]


def test_the_front_ends_use_the_public_api() -> None:
    """``preflight.check`` (and the request it takes), never ``preflight._engine``."""
    found = {
        str(p.relative_to(PACKAGE)): _reaches_past(_tree(p), ("preflight._engine",))
        for p in FRONT_ENDS
    }
    assert {k: v for k, v in found.items() if v} == {}


def test_a_front_end_calling_the_engine_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "cli.py"
    module.write_text("from preflight import check\nfrom preflight._engine import judge\n")
    assert _reaches_past(_tree(module), ("preflight._engine",)) == [
        "line 2: imports preflight._engine"
    ]


# --- rule: typed values cross the layers, never a JSON dict read by key --------------------------

# A report's interpreter and a check's details are read by their fields (Report.interpreter is
# an Interpreter; the details other layers read have typed readers in _checks/details.py). The
# layers that write them (_checks, _report) are the only ones that may read them by key.
BY_KEY_MAY = ("_checks", "_report")
BY_KEY = ("interpreter", "details")


def _read_by_key(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        target = None
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute):
            target = node.value
            how = "[...]"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "pop", "setdefault", "keys", "items", "values")
            and isinstance(node.func.value, ast.Attribute)
        ):
            target = node.func.value
            how = f".{node.func.attr}()"
        if target is not None and target.attr in BY_KEY:
            found.append(f"line {node.lineno}: .{target.attr}{how}")
    return found


@each_module(p for p in MODULES if p.relative_to(PACKAGE).parts[0] not in BY_KEY_MAY)
def test_the_interpreter_and_the_details_are_read_by_their_fields(path: Path) -> None:
    assert _read_by_key(_tree(path)) == []


def test_a_read_by_key_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "def f(report, check):\n"
        "    report.interpreter.get('path')\n    report.interpreter['version']\n"
        "    check.details.get('age_days')\n    report.interpreter.path\n"
    )
    assert _read_by_key(_tree(module)) == [
        "line 2: .interpreter.get()",
        "line 3: .interpreter[...]",
        "line 4: .details.get()",
    ]
