"""The import graph of symgrad points one way: command line -> API ->
compiler -> stages (front end, differentiation, code generation) -> IR and
base modules. Every module's imports are read with `ast` (those inside
functions too) and compared with the layering written here as data; no
module imports a private name (`_x`) of another, nor reads one from a
module or object of another (`builder._partial`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Where each package's modules are in the repository (installed, both are under symgrad/).
PACKAGES = {"symgrad": REPO / "symgrad", "symgrad.codegen": REPO / "codegen"}

# The layers, lowest first: a module may import modules of its own layer or
# of lower ones, never of higher ones. Inside a layer the graph has no cycle.
LAYERS = [
    ("base", {"symgrad.version", "symgrad.source", "symgrad.shapes", "symgrad.naming", "symgrad.cache",
              "symgrad.optim", "symgrad.check_runtime", "symgrad.codegen.numpy.runtime",
              "symgrad.codegen.numpy.helpers", "symgrad.codegen.array_api.runtime",
              "symgrad.codegen.array_api.helpers", "symgrad.codegen.helpers", "symgrad.codegen.numba.runtime",
              "symgrad.codegen.numba.helpers"}),
    ("IR", {"symgrad.syntax", "symgrad.ir", "symgrad.ops"}),
    ("stages", {"symgrad.parsing", "symgrad.lowering", "symgrad.binding", "symgrad.rewrites", "symgrad.simplify",
                "symgrad.scalar", "symgrad.partials", "symgrad.differentiation", "symgrad.second_order", "symgrad.notation", "symgrad.mathml",
                "symgrad.explain", "symgrad.codegen",
                "symgrad.codegen.schedule", "symgrad.codegen.numpy", "symgrad.codegen.numpy.printer",
                "symgrad.codegen.numpy.probe", "symgrad.codegen.numpy.writer", "symgrad.codegen.array_api",
                "symgrad.codegen.array_api.printer", "symgrad.codegen.array_api.writer", "symgrad.codegen.numba",
                "symgrad.codegen.numba.printer", "symgrad.codegen.numba.writer", "symgrad.codegen.numba.fusion"}),
    ("compiler", {"symgrad.compiler"}),
    ("API", {"symgrad", "symgrad.checking", "symgrad.adapters", "symgrad.graphing", "symgrad.page",
             "symgrad.minimize"}),
    ("command line", {"symgrad.cli", "symgrad.cli_check", "symgrad.__main__"}),
]
LAYER = {module: rank for rank, (_, modules) in enumerate(LAYERS) for module in modules}
# Underscored names of other libraries' public interfaces, and of generated modules.
FOREIGN_UNDERSCORED = {"_asdict", "_replace",             # NamedTuple's
                       "_load",                           # Lark's
                       "_CHECK_SPEC", "_check_probe"}     # a module compiled --with-check


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = [p for p in path.relative_to(folder).with_suffix("").parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


MODULES = modules()


def imports(name: str) -> list[tuple[str, str, int]]:
    """(module imported, name taken from it or "", line) for every import
    of a symgrad module in module `name`, at any depth."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, "", node.lineno) for alias in node.names if alias.name.startswith("symgrad")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if not source.startswith("symgrad"):
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                # `from . import cache` imports the module symgrad.cache
                found.append((submodule, "", node.lineno) if submodule in MODULES
                             else (source, alias.name, node.lineno))
    return found


def test_every_module_has_a_layer():
    assert set(MODULES) - set(LAYER) == set()
    assert set(LAYER) - set(MODULES) == set()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down_the_layers(name):
    upward = [f"{name}:{line} imports {imported} ({LAYERS[LAYER[imported]][0]} above {LAYERS[LAYER[name]][0]})"
              for imported, _, line in imports(name) if LAYER[imported] > LAYER[name]]
    assert upward == []


def test_inside_each_layer_the_imports_have_no_cycle():
    graph = {name: {imported for imported, _, _ in imports(name) if imported != name} for name in MODULES}
    state: dict[str, str] = {}

    def visit(name, path):
        state[name] = "open"
        for imported in sorted(graph[name]):
            if state.get(imported) == "open":
                pytest.fail("import cycle: " + " -> ".join(path[path.index(imported):] + [imported]))
            if imported not in state:
                visit(imported, path + [imported])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_loop_through_the_package_init_is_gone():
    """__init__ -> compiler -> cache -> __init__ was a loop: no module
    imports the package itself (its __version__ is symgrad.version's)."""
    assert [f"{name}:{line}" for name in MODULES for imported, _, line in imports(name) if imported == "symgrad"] == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_name_of_another_module_is_imported_or_read(name):
    private = [f"{name}:{line} imports {taken} from {source}" for source, taken, line in imports(name)
               if taken.startswith("_") and not taken.startswith("__")]
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    own_classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and node.attr not in FOREIGN_UNDERSCORED
                and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls", *own_classes})):
            private.append(f"{name}:{node.lineno} reads {ast.unparse(node)}")
    assert private == []


def test_the_reader_finds_an_upward_import_and_a_private_read(tmp_path, monkeypatch):
    """The checks above can fail: a stage that imports the compiler, and
    reads a builder's private state, is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f(builder):\n    from .compiler import load\n    return builder._partial\n")
    monkeypatch.setitem(MODULES, "symgrad.bad", bad)
    monkeypatch.setitem(LAYER, "symgrad.bad", LAYER["symgrad.lowering"])
    with pytest.raises(AssertionError, match="imports symgrad.compiler"):
        test_imports_point_down_the_layers("symgrad.bad")
    with pytest.raises(AssertionError, match=r"reads builder\._partial"):
        test_no_private_name_of_another_module_is_imported_or_read("symgrad.bad")
