"""The layers import one way: no module imports a layer above its own, TYPE_CHECKING included.

Read from the source (no import runs): a lower layer that needs a higher one, even for a type,
is a cycle waiting to happen and a sign that a value crosses the layers untyped.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import preflight

PACKAGE = Path(preflight.__file__).parent

# Bottom to top, as the architecture says; the modules of one layer may import each other.
LAYERS = (
    {"_errors", "_atomic", "_process", "_version"},
    {"_policy", "_lock"},
    {"_facts", "_interpreters"},
    {"_checks"},
    {"_report"},
    {"_render"},
    {"_alerts"},
    {"_ops"},
    {"_engine"},
    {"_cli", "nox"},
    {"__init__", "__main__"},
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# Inside the alerts package, bottom to top: the model knows no sink, no state and no delivery.
ALERTS = ("log", "model", "sinks", "state", "dispatch")


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "_probe" not in p.parts)


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return [name for name in names if name.split(".")[0] == "preflight"]


def _id(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def test_every_module_has_a_layer() -> None:
    tops = {path.relative_to(PACKAGE).with_suffix("").parts[0] for path in _modules()}
    assert tops <= set(RANK), f"no layer for {sorted(tops - set(RANK))}"


@pytest.mark.parametrize("path", _modules(), ids=_id)
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    own = path.relative_to(PACKAGE).with_suffix("").parts[0]
    upward = [
        name
        for name in _imports(path)
        if name != "preflight" and RANK[name.split(".")[1]] > RANK[own]
    ]
    assert upward == [], f"{_id(path)} (layer {own}) imports {upward}"


def test_the_probes_import_nothing_of_ours() -> None:
    for path in sorted((PACKAGE / "_probe").glob("*.py")):
        assert _imports(path) == [], _id(path)


def test_the_alerts_package_is_layered_too() -> None:
    for path in sorted((PACKAGE / "_alerts").glob("*.py")):
        if path.stem == "__init__":
            continue
        rank = ALERTS.index(path.stem)
        above = [
            name
            for name in _imports(path)
            if name.startswith("preflight._alerts.") and ALERTS.index(name.split(".")[2]) > rank
        ]
        assert above == [], f"{_id(path)} imports {above}"
