"""autograder/sandbox/ is grouped by side (issue 18): grader/ runs in the grading process,
inside/ runs as the sandbox user from a copy in the sandbox folder, layers/ holds one module
per isolation layer. These tests read every import between its modules (module level or in
a function) from the source, so a cross import fails here before it fails in a sandbox."""
import ast
import importlib

import pytest

from autograder.sandbox.grader import folder
from engine_cases import harness

SANDBOX = harness.REPO / "autograder" / "sandbox"
PACKAGE = "autograder.sandbox"
LAYERS = ("sandbox_user", "rlimits", "seccomp", "landlock", "namespaces", "non_dumpable", "sweeping",
          )
# The grader-side modules that import user-side code in the grading process, and why. None
# of them reaches the sandbox's copy: they import the checkout's files, as the engine does.
GRADER_USES_INSIDE = {
    ("grader.channel", "inside.worker_main"): "the in-process benchmark mode runs the dispatcher here",
    ("grader.channel", "inside.stubs"): "the in-process benchmark mode installs the stand-ins here",
    ("grader.config", "inside.stubs"): "checks configured stand-ins against the names it knows",
    ("grader.portable", "inside.workdir"): "the name of a worker's folder, to pass as its cwd",
}


def module_name(path):
    parts = path.relative_to(SANDBOX).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SANDBOX.rglob("*.py"))}


def imports_of(name):
    """The sandbox modules `name` imports (relative imports resolved), and its absolute
    imports of the engine (`autograder...`)."""
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    if name == "":
        package = []
    ours, engine = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            engine |= {a.name for a in node.names if a.name.split(".")[0] == "autograder"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            if node.module.split(".")[0] == "autograder":
                engine.add(node.module)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
            if node.level - 1 > len(package):  # above autograder.sandbox: the engine
                engine.add("." * node.level + (node.module or ""))
                continue
            stem = base + (node.module.split(".") if node.module else [])
            for alias in node.names:
                sub = ".".join(stem + [alias.name])
                ours.add(sub if sub in MODULES else ".".join(stem))
    return ours & set(MODULES), engine


GRAPH = {name: imports_of(name)[0] for name in MODULES}


def copied_modules():
    """The modules folder.py copies into the sandbox, named as here."""
    names = set()
    for entry in folder.RUNTIME_FILES:
        path = SANDBOX / entry
        for p in ([*path.rglob("*.py")] if path.is_dir() else [path]):
            names.add(module_name(p))
    return names


def side(name):
    return name.split(".")[0] if "." in name else "shared"


def cross_imports(graph, copied):
    """Every import that breaks the grouping, as readable lines."""
    wrong = []
    for name, targets in graph.items():
        for target in sorted(targets):
            if name in copied and target not in copied and target not in ("", "layers", "inside"):
                wrong.append(f"{name} (copied into the sandbox) imports {target}, which is not copied")
            if side(name) == "inside" and side(target) == "grader":
                wrong.append(f"{name} (sandbox user) imports the grader's {target}")
            if side(name) == "grader" and side(target) == "inside" and (name, target) not in GRADER_USES_INSIDE:
                wrong.append(f"{name} (grader) imports the sandbox user's {target}")
    return wrong


def cycles(graph):
    found = set()

    def walk(node, path):
        for nxt in graph.get(node, ()):
            if nxt in path:
                found.add(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif len(path) < 40:
                walk(nxt, path + [nxt])
    for start in graph:
        walk(start, [start])
    return sorted(found)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_sandbox_module_imports(name):
    importlib.import_module(f"{PACKAGE}.{name}" if name else PACKAGE)


def test_each_side_imports_only_its_own_and_what_it_shares():
    assert cross_imports(GRAPH, copied_modules()) == []


def test_what_is_copied_into_the_sandbox_imports_nothing_of_the_engine():
    """The copy runs as `_agsandbox`, where `autograder` does not exist (and must not)."""
    copied = copied_modules()
    assert {"inside.zygote_process", "inside.worker_main", "inside.portable_worker", "protocol"} <= copied
    assert not {n for n in copied if side(n) == "grader"}
    assert {n: imports_of(n)[1] for n in copied if imports_of(n)[1]} == {}


def test_the_checks_above_see_a_cross_import():
    """The same checks on the graph with one import added each way, and with the
    `portable` <-> `sandbox` cycle the flat layout had."""
    copied = copied_modules()
    for importer, imported in (("inside.worker_main", "grader.errors"), ("grader.sandbox", "inside.zygote_process"),
                               ("layers.seccomp", "layers.sweeping")):
        graph = {**GRAPH, importer: GRAPH[importer] | {imported}}
        assert cross_imports(graph, copied), (importer, imported)
    graph = {**GRAPH, "grader.portable": GRAPH["grader.portable"] | {"grader.sandbox"}}
    assert cycles(graph) and cycles(GRAPH) == []


def test_the_sandbox_package_has_no_import_cycle():
    """Issue 18: `portable.py` and `sandbox.py` imported each other. Every import between the
    sandbox's modules, at module level or inside a function, now goes one way."""
    assert cycles(GRAPH) == []



def test_each_layer_is_one_module_that_says_what_it_stops_in_each_mode():
    for layer in LAYERS:
        path = SANDBOX / "layers" / f"{layer}.py"
        assert path.exists(), layer
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        for mode in ("Full mode", "Docker mode", "Portable mode"):
            assert mode in doc, f"layers/{layer}.py: its docstring does not say what it does in {mode}"
