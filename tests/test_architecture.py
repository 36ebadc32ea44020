"""The package's shape: one module imports PySD, only the sensitivity package
imports SALib, only the report package imports matplotlib (checked on the
source, imports inside functions included)."""

from __future__ import annotations

import ast
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
