"""The layers import only downwards (DESIGN.md): storage <- collectors, alerts <- dashboard."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("storage", "collectors", "alerts", "dashboard", "flext_quality")
# What each layer must not import.
FORBIDDEN: dict[str, set[str]] = {
    "storage": {"collectors", "alerts", "dashboard", "flext_quality"},
    "collectors": {"alerts", "dashboard", "flext_quality"},
    "alerts": {"collectors", "dashboard", "flext_quality"},
    "dashboard": {"collectors"},
}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downwards(layer: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_packages(path) & FORBIDDEN[layer])
        for path in (ROOT / layer).rglob("*.py")
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}, f"{layer} imports a layer above it: {offenders}"


def test_every_layer_is_a_package_with_a_docstring() -> None:
    for layer in LAYERS:
        init = ROOT / layer / "__init__.py"
        assert init.is_file(), f"{layer} is not a package"
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), f"{layer} has no docstring"
