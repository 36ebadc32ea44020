"""The ``sdrev`` command line: a thin layer over the Python API.

Each command parses its options and makes a few API calls. User errors
(:class:`sdrev.SdrevError`) print one line to stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sdrev import library, runs
from sdrev.errors import InvalidValueError, SdrevError
from sdrev.model import load
from sdrev.scenario import run_settings
from sdrev.simulate import simulate_settings

__all__ = ["main"]


def cmd_list(args: argparse.Namespace) -> None:
    from sdrev.report import library_text
    print(library_text(library.list_models()))


def cmd_describe(args: argparse.Namespace) -> None:
    from sdrev.report import describe_text
    print(describe_text(load(args.model)))


def cmd_simulate(args: argparse.Namespace) -> None:
    from sdrev.report import summary_table
    model = load(args.model)
    scenario = args.scenario or ("baseline" if "baseline" in model.scenarios else None)
    settings = run_settings(model, scenario=scenario, params=parse_assignments(args.set))
    folder = args.out or runs.default_run_dir(model.name, scenario or "model")
    with runs.staged_folder(folder) as stage:
        start = time.perf_counter()
        frame = simulate_settings(model, settings)
        runs.save_simulation(stage, model, settings, frame, plot=args.plot,
                             command=args.command_line,
                             seconds=time.perf_counter() - start)
    print(summary_table(model, frame))
    print(f"\nrun written to {folder}")


def parse_assignments(items: Sequence[str] | None) -> dict[str, str]:
    """``["NAME=VALUE", ...]`` to ``{NAME: VALUE}`` (values checked later)."""
    values = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InvalidValueError(f"--set {item!r}: expected NAME=VALUE")
        values[name.strip()] = value.strip()
    return values


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sdrev`` command."""
    parser = argparse.ArgumentParser(
        prog="sdrev",
        description="System-dynamics models of latecomer catch-up and reverse innovation.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="the library's models")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("describe", help="stocks, flows, parameters, scenarios, documentation")
    p.add_argument("model", metavar="MODEL", help="library name or path to an .mdl file")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("simulate", help="run a model once and write a run folder")
    p.add_argument("model", metavar="MODEL", help="library name or path to an .mdl file")
    p.add_argument("--scenario", help="scenario name (default: baseline, if the model has one)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="set a constant (repeatable); also TIME STEP, FINAL TIME, SAVEPER")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="run folder (default results/MODEL/<run-id>/)")
    p.add_argument("--plot", action="store_true", help="also write PNG figures of key outputs")
    p.set_defaults(func=cmd_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sdrev`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.command_line = shlex.join(["sdrev", *argv])
    try:
        args.func(args)
    except SdrevError as exc:
        print(f"sdrev: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sdrev: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a bare traceback for users
        if os.environ.get("SDREV_DEBUG"):
            raise
        print(f"sdrev: internal error: {type(exc).__name__}: {exc} "
              "(set SDREV_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
