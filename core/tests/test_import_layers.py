"""Apps import downward only (docs/architecture.md, "Layers"), and no module imports
itself back through others. Tests and migrations are outside the rule: tests may
use any app's fakes and factories."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Bottom first: a module may import from its own layer and from those before it.
LAYERS = ("core", "accounts", "llm", "messaging", "assistant", "zapa_site")


def _modules() -> dict[str, Path]:
    modules = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "tests" in parts or "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = _modules()


def test_the_layers_cover_the_project():
    assert {"core.audit", "accounts.services", "llm.services", "messaging.ingest.store"} <= set(
        MODULES
    )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_an_app_above_its_own(module):
    rank = LAYERS.index(module.split(".")[0])
    above = {
        name
        for name in _imports(MODULES[module], top_level_only=False)
        if name.split(".")[0] in LAYERS and LAYERS.index(name.split(".")[0]) > rank
    }
    assert not above, f"{module} imports from a layer above it: {sorted(above)}"


def test_no_import_cycles_between_modules():
    graph = {
        module: {
            name
            for name in _imports(path, top_level_only=True)
            if name in MODULES and name != module
        }
        for module, path in MODULES.items()
    }
    visiting, done, cycles = set(), set(), []

    def visit(module, trail):
        if module in done:
            return
        if module in visiting:
            cycles.append([*trail[trail.index(module) :], module])
            return
        visiting.add(module)
        for name in sorted(graph[module]):
            visit(name, [*trail, module])
        visiting.discard(module)
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert not cycles, " ; ".join(" -> ".join(cycle) for cycle in cycles)
