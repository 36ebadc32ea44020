"""The ``sdrev`` command line's arguments: the parser and its argument types.

Each subcommand records its name in ``args.command``; :mod:`sdrev.cli` runs
``cmd_<name>``. Building the parser imports nothing but the standard library,
so ``sdrev --help`` stays instant.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

__all__ = ["DISCOVER_GRAMMAR", "build_parser", "port_number", "seed", "tolerance"]

#: The outcome grammar, shown by ``sdrev discover --help``.
DISCOVER_GRAMMAR = """outcome expressions:
  NAME @ TIME                 value of a variable at a time (a number, start or end)
  NAME[SCENARIO]              the variable under one of the model's scenarios (all on
                              the same parameter sets; without it, the base scenario)
  value_at(NAME, TIME)   time_average(NAME[, START, END])   maximum(NAME)
  first_crossing(NAME, THRESHOLD[, up|down])   (never crossing counts as +infinity)
  + - * / on numbers and variables; < <= > >= == != ; and, or, not; ( )
  a name with the words and/or/not goes in double quotes: "R and D Spending"
examples:
  sdrev discover machine_tool_io
  sdrev discover machine_tool_io --outcome \\
    'Technological Capability[network] @ 2020 > Technological Capability[lie] @ 2020'
  sdrev discover crrc_standards --outcome 'first_crossing(Standards Influence, 0.5) < 2025'
"""


def seed(text: str) -> int:
    """A random seed: an integer from 0 to 2**32 - 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"invalid seed {text!r}; give an integer from 0 to 4294967295")
    return value


def tolerance(text: str) -> float:
    """A relative tolerance: a finite number >= 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(
            f"invalid tolerance {text!r}; give a finite number >= 0, e.g. 0.05")
    return value


def port_number(text: str) -> int:
    """A TCP port: an integer from 0 (any free port) to 65535 (argparse type)."""
    value = int(text) if text.isdigit() else -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            f"invalid port {text!r}; give an integer from 0 (any free port) to 65535")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sdrev`` command."""
    parser = argparse.ArgumentParser(
        prog="sdrev",
        description="System-dynamics models of latecomer catch-up and reverse innovation.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="the library's models")
    p.set_defaults(command="list")

    p = sub.add_parser("describe", help="stocks, flows, parameters, scenarios, documentation")
    p.add_argument("model", metavar="MODEL", help="library name or path to an .mdl, .xmile or .stmx file")
    p.set_defaults(command="describe")

    p = sub.add_parser("simulate", help="run a model once and write a run folder")
    p.add_argument("model", metavar="MODEL", help="library name or path to an .mdl, .xmile or .stmx file")
    p.add_argument("--scenario", help="scenario name (default: baseline, if the model has one)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="set a constant (repeatable); also TIME STEP, FINAL TIME, SAVEPER; "
                        "NAME=VALUE@TIME: VALUE from TIME on (policy timing)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="run folder (default results/MODEL/<run-id>/)")
    p.add_argument("--plot", action="store_true", help="also write PNG figures of key outputs")
    p.add_argument("--force", action="store_true",
                   help="run even when the run would take over 10 million steps or 2 GiB")
    p.add_argument("--engine", choices=("auto", "sdrev", "pysd"), default="auto",
                   help="auto: the compiled engine, PySD where it cannot take the model "
                        "(default); sdrev: the compiled engine only; pysd: the reference")
    p.set_defaults(command="simulate")

    p = sub.add_parser("ensemble", help="many runs at once on the vectorised engine")
    p.add_argument("model", metavar="MODEL", help="library name or path to an .mdl, .xmile or .stmx file")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--samples", type=Path, metavar="FILE.csv",
                     help="one row per run, one column per varied constant")
    how.add_argument("--sample", metavar="lhs:N", help="Latin hypercube of N runs")
    how.add_argument("--posterior", type=Path, metavar="RUN_DIR",
                     help="one run per posterior draw of a `sdrev calibrate` run folder")
    p.add_argument("--ranges", type=Path, metavar="FILE",
                   help="sensitivity spec whose factors give the ranges and "
                        "distributions (default: every documented parameter range, "
                        "uniform)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="set a constant in every run (repeatable); also TIME STEP, "
                        "FINAL TIME, SAVEPER; NAME=VALUE@TIME: VALUE from TIME on "
                        "(policy timing; samples may vary it: columns NAME@value, NAME@time)")
    p.add_argument("--outputs", required=True, metavar="A,B",
                   help="variables to save (Vensim or snake_case names)")
    p.add_argument("--scenario", help="scenario for the constants not sampled")
    p.add_argument("--seed", type=seed, default=0,
                   help="seed of the sample and of the model's RANDOM functions, "
                        "one stream per run (default 0)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address, or 'local' for a local Dask cluster")
    p.add_argument("--format", choices=("netcdf", "parquet", "zarr"), default=None,
                   help="ensemble.nc (default), ensemble.parquet, or ensemble.zarr "
                        "(written block by block as the runs complete; chosen "
                        "automatically for results over 2 GiB or half the free "
                        "memory)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="run folder (default results/MODEL/<run-id>/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true",
                   help="run even when the estimated work or memory is over the limits")
    p.set_defaults(command="ensemble")

    p = sub.add_parser("loops", help="feedback loops, polarity and dominance (Loops that Matter)")
    p.add_argument("model", metavar="MODEL", help="library name or path to an .mdl, .xmile or .stmx file")
    p.add_argument("--scenario", help="scenario to analyse (default: the model's constants)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="set a constant (repeatable); NAME=VALUE@TIME: VALUE from TIME on "
                        "(policy timing; the loops are scored along the run with the step)")
    p.add_argument("--json", action="store_true", help="print the analysis as JSON")
    p.add_argument("--plot", action="store_true",
                   help="write the stacked relative-loop-score figure (PNG, SVG)")
    p.add_argument("--posterior", type=Path, metavar="RUN_DIR",
                   help="analyse the posterior median parameter set of a `sdrev calibrate` run")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--samples", type=Path, metavar="FILE.csv",
                     help="analyse every run of a samples table: probability of dominance")
    how.add_argument("--sample", metavar="lhs:N", help="the same over a Latin hypercube of N runs")
    p.add_argument("--ranges", type=Path, metavar="FILE",
                   help="with --sample: a spec whose [[factor]] entries give the ranges "
                        "(default: the model's documented ranges)")
    p.add_argument("--seed", type=seed, default=0,
                   help="seed of the sample and of the model's RANDOM functions: each run "
                        "scores along its own noise realisation, the one `sdrev ensemble "
                        "--seed` draws for it (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="folder for --plot, or for an ensemble's tables and figure")
    p.add_argument("--force", action="store_true",
                   help="run even when the estimated work or memory is over the limits")
    p.set_defaults(command="loops")

    p = sub.add_parser("sensitivity", help="global sensitivity analysis with SALib")
    p.add_argument("model", metavar="MODEL", help="library name or path to an .mdl, .xmile or .stmx file")
    p.add_argument("--spec", type=Path, metavar="FILE",
                   help="sensitivity spec: a .toml path, or the name of a bundled spec "
                        "such as crrc_standards_dominance (default: the model's own, "
                        "sensitivity/MODEL.toml)")
    p.add_argument("--method", choices=("sobol", "morris", "fast", "rbd_fast", "pawn", "delta"),
                   help="SALib method (default from the spec)")
    p.add_argument("-N", type=int, help="sample size (meaning depends on the method)")
    p.add_argument("--posterior", type=Path, metavar="RUN_DIR",
                   help="analyse the posterior draws of a `sdrev calibrate` run (given data: "
                        "--method delta or pawn)")
    p.add_argument("--seed", type=seed,
                   help="random seed of the sample and of the model's RANDOM functions "
                        "(default from the spec)")
    p.add_argument("--noise", choices=("factor", "fixed", "independent"),
                   help="a model with RANDOM functions: its noise realisation as a factor "
                        "of its own ('noise seed', the default), one realisation for every "
                        "run (fixed), or each run its own, counted in no factor (independent)")
    p.add_argument("--out", type=Path, metavar="DIR", help="run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true",
                   help="run even when the estimated work or memory is over the limits")
    p.set_defaults(command="sensitivity")

    p = sub.add_parser("compare", help="scenarios side by side, or a regime map")
    p.add_argument("model", metavar="MODEL", help="library name or path to an .mdl, .xmile or .stmx file")
    p.add_argument("--scenarios", metavar="A,B",
                   help="scenarios (default: all, or the model's [compare] list)")
    p.add_argument("--vary", action="append", metavar="PARAM=v1,v2",
                   help="compare values of a constant (repeatable)")
    p.add_argument("--outputs", metavar="A,B", help="outputs (default: key outputs)")
    p.add_argument("--regime-map", nargs=2, metavar=("X=lo:hi", "Y=lo:hi"),
                   help="map two regimes over two conditions")
    p.add_argument("--grid", metavar="NXxNY", help="regime-map grid (default 50x50)")
    p.add_argument("--output", help="regime-map outcome (default from the model)")
    p.add_argument("--year", type=float, help="regime-map year (default from the model)")
    p.add_argument("--posterior", type=Path, metavar="RUN_DIR",
                   help="also run the scenarios over the posterior draws of a `sdrev "
                        "calibrate` run: outcome ranges and how often each scenario wins")
    p.add_argument("--out", type=Path, metavar="DIR", help="run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true",
                   help="run even when the estimated work or memory is over the limits")
    p.set_defaults(command="compare")

    p = sub.add_parser(
        "discover", help="scenario discovery: the combinations of conditions under which "
                         "an outcome holds (PRIM or CART boxes over the ensemble)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Sample the conditions, run every scenario the outcome names on the "
                    "same parameter sets, and find boxes of conditions where the outcome "
                    "holds and where it fails.",
        epilog=DISCOVER_GRAMMAR)
    p.add_argument("model", metavar="MODEL", help="library name or path to an .mdl, .xmile or .stmx file")
    p.add_argument("--outcome", metavar="EXPR",
                   help="outcome expression (default: the model's [discover] outcome)")
    p.add_argument("--spec", type=Path, metavar="FILE",
                   help="TOML whose [[factor]] entries are sampled (a sensitivity spec; "
                        "default: the model's own, else every documented range)")
    p.add_argument("-N", type=int, metavar="N",
                   help="parameter sets (default 4000; with --posterior, draws resampled)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the sample (default 0)")
    p.add_argument("--method", choices=("prim", "cart"), default="prim",
                   help="PRIM (prim package) or CART (scikit-learn); default prim")
    p.add_argument("--boxes", type=int, default=2, metavar="K",
                   help="boxes per class at most (default 2)")
    p.add_argument("--posterior", type=Path, metavar="RUN_DIR",
                   help="the posterior draws of a `sdrev calibrate` run instead of a sample")
    p.add_argument("--out", type=Path, metavar="DIR", help="run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--force", action="store_true",
                   help="run even when the estimated work or memory is over the limits")
    p.set_defaults(command="discover")

    p = sub.add_parser("report", help="policy brief: self-contained HTML and PDF")
    p.add_argument("model", metavar="MODEL", help="library name or path to an .mdl, .xmile or .stmx file")
    p.add_argument("--scenarios", metavar="A,B", help="scenarios to compare")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="set a constant on top of every scenario (repeatable): the brief "
                        "for these settings, as `sdrev explore` opens it; NAME=VALUE@TIME: "
                        "VALUE from TIME on (policy timing)")
    p.add_argument("--sensitivity", type=Path, metavar="RUN_DIR",
                   help="sensitivity run folder (default: a small Sobol' run, N=256)")
    p.add_argument("-N", type=int, default=256,
                   help="N of that default Sobol' run, a power of 2 (default 256)")
    p.add_argument("--loops", action=argparse.BooleanOptionalAction, default=True,
                   help="include the loop analysis (default yes)")
    p.add_argument("--compare", type=Path, metavar="RUN_DIR",
                   help="`sdrev compare` run folder to reuse")
    p.add_argument("--posterior", type=Path, metavar="RUN_DIR",
                   help="calibration run folder: its posterior draws are the parameter sets "
                        "of the uncertainty bands (default: a Latin hypercube over the "
                        "documented ranges)")
    p.add_argument("--sets", type=int, default=400, metavar="N",
                   help="parameter sets of the uncertainty bands (default 400)")
    p.add_argument("--uncertainty", action=argparse.BooleanOptionalAction, default=True,
                   help="include bands, outcome ranges and win probabilities (default yes)")
    p.add_argument("--pdf", action=argparse.BooleanOptionalAction, default=True,
                   help="print the PDF with headless Chromium or WeasyPrint (default yes)")
    p.add_argument("--out", type=Path, metavar="DIR", help="run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--force", action="store_true",
                   help="run even when the estimated work or memory is over the limits")
    p.set_defaults(command="report")

    p = sub.add_parser("calibrate", help="estimate constants from observed numbers, with "
                                         "uncertainty (MCMC or maximum likelihood)")
    p.add_argument("model", metavar="MODEL", help="library name or path to an .mdl, .xmile or .stmx file")
    p.add_argument("--spec", type=Path, metavar="FILE.toml",
                   help="calibration spec (default: the library's calibration/MODEL.toml)")
    p.add_argument("--method", choices=("mcmc", "mle"),
                   help="mcmc (emcee, posterior) or mle (differential evolution + profile "
                        "likelihoods); default from the spec")
    p.add_argument("-N", type=int, metavar="STEPS", help="MCMC steps per walker (default "
                   "from the spec, else 2000)")
    p.add_argument("--walkers", type=int, help="MCMC walkers (default from the spec, else 32)")
    p.add_argument("--seed", type=seed, help="random seed (default from the spec)")
    p.add_argument("--holdout", metavar="T0:T1",
                   help="leave out the observations in [T0, T1] and score the predictive "
                        "bands on them")
    p.add_argument("--no-figures", action="store_true", help="tables only")
    p.add_argument("--out", type=Path, metavar="DIR", help="run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--force", action="store_true",
                   help="run even when the estimated work or memory is over the limits")
    p.set_defaults(command="calibrate")

    p = sub.add_parser("check", help="model-validity battery: units, extreme conditions, "
                                     "time step, mechanisms, reference behaviour")
    p.add_argument("model", metavar="MODEL", help="library name or path to an .mdl, .xmile or .stmx file")
    p.add_argument("--only", metavar="A,B",
                   help="checks to run, of units,extremes,dt,mechanisms,reference (default all)")
    p.add_argument("--data", type=Path, metavar="FILE.csv",
                   help="observation table (default: data/MODEL.csv for a library model)")
    p.add_argument("--seed", type=seed, default=1,
                   help="seed of the extreme-conditions Latin hypercube (default 1)")
    p.add_argument("--samples", type=int, default=64,
                   help="runs in that Latin hypercube (default 64)")
    p.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="also write check.json, check.txt and manifest.json to this folder")
    p.add_argument("--force", action="store_true",
                   help="run even when the estimated work or memory is over the limits")
    p.set_defaults(command="check")

    p = sub.add_parser("explore", help="interactive explorer in the browser: sliders, "
                                       "live trajectories, outcomes, loop dominance")
    p.add_argument("model", metavar="MODEL", help="library name or path to a model file")
    p.add_argument("--port", type=port_number, default=5006,
                   help="TCP port (default 5006; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to serve on (default 127.0.0.1: this machine only)")
    p.add_argument("--posterior", type=Path, metavar="RUN_DIR",
                   help="draw the uncertainty band over the posterior of a `sdrev "
                        "calibrate` run")
    p.set_defaults(command="explore")

    p = sub.add_parser("conformance",
                       help="run Vensim test models and compare with their canonical output")
    p.add_argument("folder", type=Path, metavar="DIR")
    p.add_argument("--rtol", type=tolerance, default=0.05,
                   help="relative tolerance, finite and >= 0 (default 0.05)")
    p.add_argument("--json", action="store_true", help="per-model results as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(command="conformance")
    return parser
