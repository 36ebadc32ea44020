"""The package's shape: one module imports PySD, only the sensitivity package
imports SALib, only the report and figures packages import matplotlib (checked on
the source, imports inside functions included); layers, no import cycles, no
underscore names imported across modules, no module over 700 lines."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sdrev"

#: Third-party package -> the only places (relative to sdrev/) that import it.
ALLOWED = {
    "pysd": ("translate.py",),
    "SALib": ("sensitivity/",),
    "matplotlib": ("report/", "figures/"),
    "panel": ("explore/",),
    "bokeh": ("explore/",),
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", list(ALLOWED))
def test_third_party_imports_stay_in_their_stage(package):
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if package in _imports(path) and not rel.startswith(ALLOWED[package]):
            offenders.append(rel)
    assert not offenders, f"{package} imported outside {ALLOWED[package]}: {offenders}"
    assert any(package in _imports(p) for p in PACKAGE.rglob("*.py"))


HEAVY = ("pysd", "numba", "xarray", "dask", "matplotlib", "pandas", "scipy", "SALib", "panel",
         "bokeh")


@pytest.mark.parametrize("argv", [["--help"], ["list"]])
def test_help_and_list_load_nothing_heavy(argv):
    """`sdrev --help` and `sdrev list` must be instant: no scientific stack."""
    import subprocess
    import sys

    code = ("import sys\nfrom sdrev.cli import main\n"
            "try:\n    main(%r)\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in %r if m in sys.modules))" % (argv, HEAVY))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    assert out == "[]", f"sdrev {' '.join(argv)} imported {out}"


def _sdrev_imports(path: Path) -> set[str]:
    """Modules of sdrev a file imports (anywhere in it, TYPE_CHECKING blocks included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("sdrev"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("sdrev"))
    return found


def test_no_stage_imports_the_report_layer():
    """report/ is the top layer (with cli.py): the stages draw with figures/."""
    offenders = sorted(
        path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
        if not path.relative_to(PACKAGE).as_posix().startswith(("report/", "cli.py"))
        and any(m == "sdrev.report" or m.startswith("sdrev.report.")
                for m in _sdrev_imports(path)))
    assert not offenders, f"modules below the report layer import it: {offenders}"


#: Stages the figures layer may not import (it draws results, it runs nothing).
_ABOVE_FIGURES = ("sdrev.calibrate", "sdrev.check", "sdrev.sensitivity", "sdrev.loops",
                  "sdrev.compare", "sdrev.discover", "sdrev.report", "sdrev.explore",
                  "sdrev.cli")


def test_figures_import_no_stage_above_them():
    offenders = {}
    for path in (PACKAGE / "figures").rglob("*.py"):
        bad = sorted(m for m in _sdrev_imports(path) if m.startswith(_ABOVE_FIGURES))
        if bad:
            offenders[path.name] = bad
    assert not offenders, f"figures import higher stages: {offenders}"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def _import_graph() -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    """Modules of sdrev -> the sdrev modules each imports (anywhere in it,
    TYPE_CHECKING blocks and late imports in functions included), and every
    ``(importer, home, name)`` of an underscore name imported from another
    module."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    private = []
    for name, path in paths.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if not node.module.startswith("sdrev"):
                    continue
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in paths:  # a submodule
                        deps.add(f"{node.module}.{alias.name}")
                        continue
                    deps.add(node.module)
                    if (alias.name.startswith("_") and not alias.name.startswith("__")
                            and node.module != name):
                        private.append((name, node.module, alias.name))
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in paths)
        graph[name] = {d for d in deps if d in paths and d != name}
    return graph, private


#: Known underscore names imported across modules, ``(importer, home, name)``, still to be
#: made public in their home or moved. Remove an entry once it is gone.
_KNOWN_PRIVATE_IMPORTS: set[tuple[str, str, str]] = set()


def _cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Strongly connected sets of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(tuple(sorted(component)))
    return found


def test_no_import_cycle_among_modules():
    """No module of sdrev imports (even under TYPE_CHECKING) one that imports it back,
    directly or through others; no exception (``sdrev.model`` does not import the run
    stage: ``sdrev.simulate(model)`` runs a model)."""
    graph, _ = _import_graph()
    assert not _cycles(graph), f"import cycles: {sorted(_cycles(graph))}"


def test_no_underscore_name_imported_across_modules():
    """A name another module needs is public in its home (or moved there)."""
    _, private = _import_graph()
    new = sorted(set(private) - _KNOWN_PRIVATE_IMPORTS)
    assert not new, f"underscore names imported from other modules: {new}"
    gone = sorted(_KNOWN_PRIVATE_IMPORTS - set(private))
    assert not gone, f"fixed, remove from _KNOWN_PRIVATE_IMPORTS: {gone}"


def test_cycle_finder_sees_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [("a", "b", "c")]


#: Most lines a module of sdrev may have: split by responsibility past it.
MAX_MODULE_LINES = 700


def test_no_module_is_over_the_line_limit():
    sizes = {path.relative_to(PACKAGE).as_posix():
             len(path.read_text(encoding="utf-8").splitlines())
             for path in PACKAGE.rglob("*.py")}
    over = {rel: n for rel, n in sorted(sizes.items()) if n > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines: {over}"
    assert max(sizes.values()) > MAX_MODULE_LINES // 2  # the files were read


def _layout_block() -> str:
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Package layout", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def test_readme_layout_names_every_module_and_package():
    """The README's layout section lists each module and package at the top of sdrev/,
    and nothing that is gone, under the layer (``# N`` lines) the layer test gives it."""
    block = _layout_block()
    listed = set(re.findall(r"^  (\w+\.py|\w+/)", block, re.M))
    present = {p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"} | {
        f"{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert listed == present, (f"missing from the README: {sorted(present - listed)}; "
                               f"gone from sdrev: {sorted(listed - present)}")
    shown, layer = {}, None
    for line in block.splitlines():
        if heading := re.match(r"^  # (\d+) ", line):
            layer = int(heading.group(1))
        elif entry := re.match(r"^  (\w+)(\.py|/)", line):
            shown[entry.group(1)] = layer
    tested = {unit: n for n, units in LAYERS.items() for unit in units if unit != "sdrev"}
    assert shown == tested, {k: (shown.get(k), tested.get(k))
                             for k in shown.keys() | tested.keys()
                             if shown.get(k) != tested.get(k)}


#: Layer of each top-level module and package of sdrev (the project's architecture note, as the
#: code stands): a module imports only from its own layer or below. figures/ sits beside
#: runs.py (run folders draw their --plot figures with it; figures import no stage).
LAYERS = {
    0: ("sdrev", "errors", "naming", "versions", "budget"),
    1: ("translate", "pysdlinear", "xmile", "sanitize", "cache", "library", "units",
        "display"),
    2: ("model", "scenario", "factors", "observations", "measures"),
    3: ("simulate", "ensemble"),
    4: ("runs", "figures"),
    5: ("calibrate", "check", "sensitivity", "loops", "compare", "discover"),
    6: ("report", "explore"),
    7: ("cli", "cli_parser", "cli_budget", "__main__"),
}


def _layer_unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_modules_import_only_their_layer_or_below():
    rank = {unit: layer for layer, units in LAYERS.items() for unit in units}
    graph, _ = _import_graph()
    unplaced = sorted({_layer_unit(m) for m in graph} - set(rank))
    assert not unplaced, f"place these in LAYERS (and the README's layout): {unplaced}"
    upward = sorted((m, d) for m, deps in graph.items() for d in deps
                    if rank[_layer_unit(d)] > rank[_layer_unit(m)])
    assert not upward, f"imports of a higher layer: {upward}"
