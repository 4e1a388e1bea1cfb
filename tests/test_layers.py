"""The house keeps its layers: read every import of `lib_enhance/` and check the rules of
docs/ARCHITECTURE.md, so a change that breaks one fails CI instead of growing a tangle.

Imports are read from the source (every `import`, at any depth: a lazy import inside a function
is a dependency too), never executed, so the check needs neither the WebUI nor gradio. The last
tests plant a violation of each rule in a copy of the package and show the check reports it.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "lib_enhance"

FLOORS: tuple[tuple[str, ...], ...] = (
    ("spec",),
    ("geometry", "host"),
    ("detect", "qa"),
    ("stages",),
    ("batch",),
    ("webui", "testing"),
)
"""Bottom to top. A unit imports only itself and units on lower floors: never sideways, never
up. `testing` (the recording test host) shares the top floor so nothing in the product can
import it."""

HOST_ROOTS = ("modules", "modules_forge", "backend", "launch", "gradio")
"""Top-level packages of the WebUI hosts and their UI toolkit: only `webui/` may import them."""
HOST_UNIT = "webui"
MAX_TOP_LEVEL_MODULES = 8


# ---- reading imports


def modules_of(root: Path) -> dict[str, Path]:
    """Dotted module name → file, for every .py under root/lib_enhance."""
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


def imports_of(module: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import in the file; `from p import m` names the
    submodule p.m when it exists, else p."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = _package_of(module, path).split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names]
            for target in dict.fromkeys(t if t in known else base for t in targets):
                yield target, node.lineno


def unit_of(module: str) -> str | None:
    """The layer unit of a lib_enhance module: its package or top-level module name."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    return parts[1] if len(parts) > 1 else PACKAGE


def graph_of(root: Path) -> dict[str, list[tuple[str, int]]]:
    """lib_enhance module → the lib_enhance modules it imports, with line numbers."""
    mods = modules_of(root)
    known = set(mods)
    return {
        name: [(t, line) for t, line in imports_of(name, path, known) if unit_of(t)]
        for name, path in mods.items()
    }


# ---- the rules


def host_import_violations(root: Path) -> list[str]:
    """Rule 1: only webui/ imports the WebUI (`modules`, …) or gradio."""
    mods = modules_of(root)
    found = []
    for name, path in mods.items():
        if unit_of(name) == HOST_UNIT:
            continue
        for target, line in imports_of(name, path, set(mods)):
            if target.split(".")[0] in HOST_ROOTS:
                found.append(f"{path.relative_to(root)}:{line} imports {target}")
    return found


def floor_of(unit: str) -> int:
    return next(i for i, units in enumerate(FLOORS) if unit in units)


def layer_violations(root: Path) -> list[str]:
    """Rule 2: a unit imports only itself and lower floors (stages never reach batch or
    webui; spec and geometry reach nothing above them)."""
    found = []
    for name, targets in graph_of(root).items():
        unit = unit_of(name)
        if unit == PACKAGE:
            continue
        for target, line in targets:
            other = unit_of(target)
            if other in (unit, PACKAGE):
                continue
            if floor_of(other) >= floor_of(unit):
                found.append(f"{name}:{line} ({unit}, floor {floor_of(unit)}) imports "
                             f"{target} ({other}, floor {floor_of(other)})")  # fmt: skip
    return found


def import_cycles(root: Path) -> list[list[str]]:
    """Rule 3: no module reaches itself through its imports (Tarjan's strongly connected
    components of the module graph; a component of two or more modules is a circle)."""
    graph = {name: sorted({t for t, _ in targets}) for name, targets in graph_of(root).items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def top_level_modules(root: Path) -> list[str]:
    return sorted(p.name for p in (root / PACKAGE).glob("*.py"))


def all_floors_named(root: Path) -> list[str]:
    """Every unit under lib_enhance must have a floor, so a new package is placed on purpose."""
    units = {unit_of(name) for name in modules_of(root)} - {PACKAGE}
    placed = {u for floor in FLOORS for u in floor}
    return sorted(units - placed)


# ---- the house as it is


def test_only_the_webui_layer_imports_the_host_or_gradio():
    assert host_import_violations(REPO) == []


def test_every_import_goes_down_the_floors():
    assert all_floors_named(REPO) == []
    assert layer_violations(REPO) == []


def test_no_import_circles():
    assert import_cycles(REPO) == []


def test_at_most_eight_top_level_modules():
    assert len(top_level_modules(REPO)) <= MAX_TOP_LEVEL_MODULES, top_level_modules(REPO)


def test_the_import_reader_sees_lazy_and_relative_imports():
    graph = graph_of(REPO)
    pipeline = {t for t, _ in graph["lib_enhance.stages.pipeline"]}
    assert {"lib_enhance.stages.hires", "lib_enhance.stages.context"} <= pipeline
    adapter = {t for t, _ in graph["lib_enhance.webui.host_adapter"]}
    assert "lib_enhance.stages.pipeline" in adapter  # imported inside a function


# ---- each rule, broken on purpose in a copy, is reported


@pytest.fixture
def house(tmp_path: Path) -> Path:
    shutil.copytree(REPO / PACKAGE, tmp_path / PACKAGE)
    return tmp_path


def _plant(root: Path, module: str, line: str, inside_function: bool = False) -> None:
    path = root / (module.replace(".", "/") + ".py")
    code = f"\n\ndef _planted():\n    {line}\n" if inside_function else f"\n{line}\n"
    path.write_text(path.read_text(encoding="utf-8") + code, encoding="utf-8")


def test_a_gradio_import_outside_webui_is_reported(house: Path):
    _plant(house, "lib_enhance.geometry.tiles", "import gradio as gr", inside_function=True)
    assert host_import_violations(house) == [
        f"lib_enhance/geometry/tiles.py:{_last_line(house, 'geometry/tiles.py')} imports gradio"
    ]


def test_a_webui_import_in_a_stage_is_reported(house: Path):
    _plant(house, "lib_enhance.stages.tiled", "from ..webui import settings")
    (found,) = layer_violations(house)
    assert found.startswith("lib_enhance.stages.tiled:")
    assert "imports lib_enhance.webui.settings (webui, floor 5)" in found


def test_spec_reaching_up_is_reported(house: Path):
    _plant(house, "lib_enhance.spec.presets", "from ..geometry import tiles")
    (found,) = layer_violations(house)
    assert "lib_enhance.spec.presets" in found and "lib_enhance.geometry.tiles" in found


def test_an_import_circle_is_reported(house: Path):
    _plant(house, "lib_enhance.stages.context", "from . import pipeline", inside_function=True)
    assert import_cycles(house) == [
        [
            "lib_enhance.stages.context",
            "lib_enhance.stages.detail",
            "lib_enhance.stages.hires",
            "lib_enhance.stages.lockstep",
            "lib_enhance.stages.pipeline",
            "lib_enhance.stages.tiled",
        ]
    ]


def test_a_new_package_without_a_floor_is_reported(house: Path):
    (house / PACKAGE / "upscale").mkdir()
    (house / PACKAGE / "upscale" / "__init__.py").write_text('"""Upscalers."""\n')
    assert all_floors_named(house) == ["upscale"]


def test_a_ninth_top_level_module_is_counted(house: Path):
    for i in range(MAX_TOP_LEVEL_MODULES):
        (house / PACKAGE / f"extra_{i}.py").write_text("")
    assert len(top_level_modules(house)) > MAX_TOP_LEVEL_MODULES


def _last_line(root: Path, rel: str) -> int:
    return len((root / PACKAGE / rel).read_text(encoding="utf-8").splitlines())
