"""The layout is the architecture: imports flow experiments -> learners -> bayes, gle ->
teacher_student (experiments also imports bayes and gle directly); bayes and gle never import each
other; no module imports another that imports it back (no
cycles, counting imports inside functions too)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("teacher_student", "gle", "bayes", "learners", "experiments")
ALLOWED = {
    "teacher_student": set(),
    "gle": {"teacher_student"},
    "bayes": {"teacher_student"},
    "learners": {"teacher_student", "gle", "bayes"},
    "experiments": {"teacher_student", "gle", "bayes", "learners"},
}


def imports() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its file."""
    graph = {}
    for package in PACKAGES:
        for path in (ROOT / package).glob("*.py"):
            name = f"{package}.{path.stem}"
            found = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom):
                    if node.level:  # relative: inside the package
                        base = package if node.module is None else f"{package}.{node.module}"
                        found |= (
                            {base} if node.module else {f"{package}.{a.name}" for a in node.names}
                        )
                    elif node.module and node.module.split(".")[0] in PACKAGES:
                        found.add(node.module)
                elif isinstance(node, ast.Import):
                    found |= {a.name for a in node.names if a.name.split(".")[0] in PACKAGES}
            graph[name] = {m for m in found if m != name}
    return graph


def test_packages_import_only_downwards():
    for module, targets in imports().items():
        package = module.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            assert other == package or other in ALLOWED[package], (module, target)


def test_no_import_cycles():
    graph = imports()
    graph = {m: {t for t in ts if t in graph} for m, ts in graph.items()}  # modules, not packages
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in graph[node]:
            assert state.get(nxt) != 1, " -> ".join([*path, node, nxt])
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [])
