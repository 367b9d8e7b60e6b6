"""Every import in `common/` points down the layers CLAUDE.md draws.

A module may import its own package and any package of a lower layer, never one beside or
above it: the run modes sit on the probe, the probe on the providers, and so on down to
the error codes. Lazy imports inside functions count too (they are still dependencies).
"""

from __future__ import annotations

import ast
from pathlib import Path

COMMON = Path(__file__).resolve().parents[1] / "common"

# Lowest first. Packages of the same rank must not import each other.
LAYERS: dict[str, int] = {
    "errors": 0,
    "contract": 1,
    "io": 2,
    "tokens": 3,
    "providers": 4,
    "probe": 5,
    "analysis": 5,
    "health": 6,
    "runs": 6,
    "report": 7,
}


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "common" else None


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "common":  # `from common import runs`
                found += [(node.lineno, f"common.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def test_every_package_of_common_has_a_layer() -> None:
    packages = {p.stem if p.is_file() else p.name for p in COMMON.iterdir() if not p.name.startswith("__")}
    assert packages == set(LAYERS)


def test_every_import_points_down() -> None:
    wrong: list[str] = []
    for path in sorted(COMMON.rglob("*.py")):
        own = _package("common." + ".".join(path.relative_to(COMMON).with_suffix("").parts))
        assert own is not None
        for line, module in _imports(path):
            target = _package(module)
            if target is None or target == own:
                continue
            if LAYERS[target] >= LAYERS[own]:
                wrong.append(f"{path.relative_to(COMMON.parent)}:{line} ({own}) imports {module} ({target})")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(wrong)
