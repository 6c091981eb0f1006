"""The package layers import only downward (smi_assets/__init__.py states the rule), and no
module-level import circle exists anywhere in the project."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOMAIN_PACKAGES = ["corpus", "knowledge", "frequency", "smi", "crossmodel", "checkpoints", "reference_data"]
DAGSTER_LAYER = ("smi_assets.orchestration", "smi_assets.defs", "smi_assets.definitions", "smi_assets.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for package in ("smi_assets", "training") for path in sorted((ROOT / package).rglob("*.py"))}


def imported_modules(path: Path, *, top_level_only: bool) -> set[str]:
    """Absolute names a module imports; with `top_level_only`, only the imports that run when
    the module is imported (not those inside functions, nor under ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    statements = tree.body if top_level_only else list(ast.walk(tree))
    names = set()
    for node in statements:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_project_modules_are_found():
    modules = project_modules()
    assert {"smi_assets.common.errors", "smi_assets.orchestration.resources", "smi_assets.smi.forecast.proxy", "training.train"} <= set(modules)


def test_common_imports_nothing_else_of_the_project():
    for name, path in project_modules().items():
        if name.startswith("smi_assets.common"):
            project_imports = {module for module in imported_modules(path, top_level_only=False) if module.startswith(("smi_assets", "training"))}
            assert all(module.startswith("smi_assets.common") for module in project_imports), f"{name} imports {sorted(project_imports)}"


@pytest.mark.parametrize("package", [*DOMAIN_PACKAGES, "training"])
def test_domain_packages_never_import_the_dagster_layer(package):
    prefix = package if package == "training" else f"smi_assets.{package}"
    for name, path in project_modules().items():
        if name == prefix or name.startswith(prefix + "."):
            imports = imported_modules(path, top_level_only=False)
            wrong = sorted(module for module in imports if module.startswith(DAGSTER_LAYER) or module == "dagster" or module.startswith("dagster."))
            assert not wrong, f"{name} imports {wrong}"


def test_no_module_level_import_circle():
    modules = project_modules()
    graph = {name: {module for module in imported_modules(path, top_level_only=True) if module in modules and module != name} for name, path in modules.items()}
    visiting, done = set(), set()

    def visit(name: str, trail: list[str]) -> None:
        if name in done:
            return
        assert name not in visiting, "import circle: " + " -> ".join([*trail[trail.index(name) :], name])
        visiting.add(name)
        for imported in sorted(graph[name]):
            visit(imported, [*trail, name])
        visiting.discard(name)
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
