"""The package's layers: every import points down, and the probes import nothing of ours.

Read from the source with ``ast`` (imports inside functions and ``TYPE_CHECKING`` blocks count
too), so a module that reaches up a layer fails here, not in a review.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "preflight"

# Bottom to top. A module may import its own layer and the layers below it, never above.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "preflight._version",
        "preflight._errors",
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


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
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
