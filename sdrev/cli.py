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

from sdrev import budget, cli_budget, library, runs
from sdrev.cli_parser import build_parser
from sdrev.errors import InvalidValueError, SdrevError
from sdrev.scenario import check_samples, parse_switch, run_settings, switch_columns

__all__ = ["main"]


def load(name_or_path):
    """:func:`sdrev.load`, imported when a command needs a model (PySD loads
    with it when the model's translation is not cached), so ``sdrev --help``
    and ``sdrev list`` stay instant."""
    from sdrev.model import load as load_model
    return load_model(name_or_path)

#: Exit codes, the same for every command (documented in the README).
EXIT_OK = 0
EXIT_FINDINGS = 1   # a check or comparison found failures
EXIT_BAD_INPUT = 2  # an SdrevError (and argparse's usage errors)
EXIT_SOFTWARE = 70  # an internal error (sysexits' EX_SOFTWARE)
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def cmd_list(args: argparse.Namespace) -> None:
    from sdrev.report import library_text
    print(library_text(library.list_models()))


def cmd_describe(args: argparse.Namespace) -> None:
    from sdrev.report import describe_text
    print(describe_text(load(args.model)))


def cmd_simulate(args: argparse.Namespace) -> None:
    from sdrev import simulate
    from sdrev.report import summary_table
    model = load(args.model)
    scenario = args.scenario or ("baseline" if "baseline" in model.scenarios else None)
    settings = run_settings(model, scenario=scenario, params=parse_assignments(args.set),
                            timed=True)
    folder = args.out or runs.default_run_dir(model.name, scenario or "model")
    with runs.staged_folder(folder) as stage:
        start = time.perf_counter()
        run = simulate.trajectories(model, settings, force=args.force, engine=args.engine)
        runs.save_simulation(stage, model, settings, run, plot=args.plot,
                             command=args.command_line,
                             seconds=time.perf_counter() - start)
    print(summary_table(model, run))
    print(f"\nrun written to {folder}")
    if bad := run.non_finite():
        first = min(bad, key=bad.get)
        print(f"sdrev: warning: {len(bad)} variable(s) become NaN or infinite "
              f"(first {first} at time {bad[first]:g}); listed in the manifest "
              "as non_finite", file=sys.stderr)


def cmd_ensemble(args: argparse.Namespace) -> None:
    from sdrev import ensemble
    from sdrev.ensemble import plan
    model = load(args.model)
    outputs = [o.strip() for o in args.outputs.split(",") if o.strip()]
    assigned = parse_assignments(args.set)
    settings = run_settings(model, scenario=args.scenario, params=assigned, timed=True)

    def within_budget(runs: int, columns: int, frame=None) -> None:
        blocks = ensemble_blocks(model, args, runs=runs, outputs=len(outputs),
                                 time=settings.time)
        budget.check(cli_budget.ensemble(model, runs=runs, columns=columns,
                                         outputs=len(outputs), time=settings.time,
                                         samples=frame, blocks=blocks),
                     force=args.force, max_disk=budget.free_disk(args.out),
                     hint="ask for fewer runs or outputs, or a larger SAVEPER or TIME STEP")

    samples, varied = ensemble_samples(model, args, within_budget=within_budget)
    check_samples(model, samples)
    for name in assigned:
        control = " ".join(name.replace("_", " ").split()).upper() in (
            "TIME STEP", "FINAL TIME", "SAVEPER", "INITIAL TIME")
        if not control and model.parameter(name).name in settings.switches:
            continue  # a sampled value of a timed constant is its value before the switch
        if name in samples or (not control and model.parameter(name).py_name in samples):
            raise InvalidValueError(
                f"--set {name}: {name!r} is also sampled; set it or sample it, not both")
    for name, value in settings.params.items():  # scenario and --set, where not sampled
        if name not in samples and model.parameter(name).py_name not in samples:
            samples[name] = value
    for key, name in (("time_step", "TIME STEP"), ("final_time", "FINAL TIME")):
        if key in settings.time:
            samples[name] = settings.time[key]
    for name, switch in settings.switches.items():  # NAME=VALUE@TIME: unless sampled
        for column, value in zip(switch_columns(name), (switch.value, switch.at)):
            if column not in samples:
                samples[column] = value
    print(plan.varied_text(varied, runs=len(samples)))
    time_step = settings.time.get("time_step", model.time.step)
    for warning in plan.short_time_constants(model, samples, time_step=time_step):
        print(f"sdrev: warning: {warning}", file=sys.stderr)
    fmt = ensemble_format(model, args, runs=len(samples), outputs=len(outputs),
                          time=settings.time)
    folder = args.out or runs.default_run_dir(model.name, "ensemble")
    with runs.staged_folder(folder) as stage:
        start = time.perf_counter()
        extra = {"seed": args.seed, "varied": [v.as_dict() for v in varied]}
        if fmt == "zarr":  # written block by block as the runs complete
            from sdrev.ensemble import store
            target = store.run_to_zarr(model, samples, stage / "ensemble.zarr",
                                       outputs=outputs, scheduler=args.scheduler,
                                       progress=not args.quiet,
                                       saveper=settings.time.get("saveper"),
                                       seed=args.seed)
            entry = store.manifest_entry(target)
            runs.write_csv(samples, stage / "samples.csv", index_label="run")
            runs.write_json(stage / "manifest.json", {**runs.manifest(
                model, settings, command=args.command_line, extra={
                    **extra, "engine": entry.get("engine"),
                    "elapsed_seconds": round(time.perf_counter() - start, 3)}),
                "ensemble": entry})
            sizes, names, engine = (entry["runs"], entry["times"]), entry["outputs"], \
                entry.get("engine")
        else:
            # plain arrays: NetCDF is written without importing xarray (and dask)
            data = ensemble.run_arrays(model, samples, outputs=outputs,
                                       scheduler=args.scheduler, progress=not args.quiet,
                                       saveper=settings.time.get("saveper"), seed=args.seed)
            bad = ensemble.non_finite_runs(data)
            if len(bad):  # kept, but counted and named: their numbers mean nothing
                shown = ", ".join(str(i) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
                print(f"sdrev: warning: {len(bad)} of {len(samples)} runs give NaN or "
                      f"infinite values (runs {shown}; see samples.csv)", file=sys.stderr)
                extra["non_finite_runs"] = {"count": int(len(bad)),
                                            "runs": [int(i) for i in bad[:100]]}
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(max_workers=1) as pool:
                # samples.csv beside ensemble.nc: both writers release the GIL
                csv_written = pool.submit(runs.write_csv, samples, stage / "samples.csv",
                                          index_label="run")
                ensemble.write(data, stage, format=fmt, manifest=runs.manifest(
                    model, settings, command=args.command_line, extra={
                        **extra, "engine": data.attrs.get("engine"),
                        "elapsed_seconds": round(time.perf_counter() - start, 3)}))
                csv_written.result()
            sizes = (data.sizes["run"], data.sizes["time"])
            names, engine = list(data.data_vars), data.attrs.get("engine")
    print(f"{sizes[0]} runs x {sizes[1]} saved times of {', '.join(names)} ({engine}) "
          f"written to {folder}")


def ensemble_blocks(model, args: argparse.Namespace, *, runs: int, outputs: int,
                    time: dict) -> bool:
    """Whether ``sdrev ensemble`` writes its result to Zarr block by block:
    when asked, or when a result over 2 GiB or over half the free memory
    would otherwise go to NetCDF."""
    from sdrev.ensemble import store
    if args.format in ("zarr", "parquet"):
        return args.format == "zarr"
    size = store.estimate_bytes(model, runs=runs, outputs=outputs,
                                saveper=time.get("saveper"),
                                time_step=time.get("time_step"),
                                final_time=time.get("final_time"))
    return size > min(store.TWO_GIB, budget.memory_limit())


def ensemble_format(model, args: argparse.Namespace, *, runs: int, outputs: int,
                    time: dict) -> str:
    """The format of ``sdrev ensemble``'s result: as asked, except that a
    result over 2 GiB or over half the free memory goes to Zarr (written in
    blocks) unless Parquet was asked for."""
    if args.format in ("zarr", "parquet"):
        return args.format
    if not ensemble_blocks(model, args, runs=runs, outputs=outputs, time=time):
        return "netcdf"
    from sdrev.ensemble import store
    size = store.estimate_bytes(model, runs=runs, outputs=outputs,
                                saveper=time.get("saveper"), time_step=time.get("time_step"),
                                final_time=time.get("final_time"))
    print(f"sdrev: note: the result (about {size / 2**30:.1f} GiB) is too large for "
          "one NetCDF3 file in memory; written to ensemble.zarr in blocks as the runs "
          "complete (read it with xarray.open_zarr)", file=sys.stderr)
    return "zarr"


def ensemble_samples(model, args: argparse.Namespace, *, within_budget=None):
    """The runs of ``sdrev ensemble`` and what they vary: a samples CSV,
    posterior draws, or a Latin hypercube over a spec's factors (each by its
    distribution) or the model's documented ranges (uniform).

    ``within_budget(runs, columns, frame=None)``, if given, is called with
    the number of runs and varied columns before a Latin hypercube is drawn
    (and with the table once a file is read), to refuse what cannot fit.
    """
    import pandas as pd

    from sdrev.ensemble import plan
    check = within_budget or (lambda runs, columns, frame=None: None)
    if getattr(args, "posterior", None):
        from sdrev.calibrate import read_posterior
        draws = read_posterior(args.posterior, model=model)
        check(len(draws), draws.shape[1], draws)
        return draws, plan.varied(draws, source="posterior")
    if args.samples:
        budget.check_file(args.samples, what="samples file", limit=budget.MAX_SAMPLES_BYTES)
        try:
            frame = pd.read_csv(args.samples)
        except (OSError, ValueError) as exc:
            raise InvalidValueError(f"cannot read samples file {str(args.samples)!r}: {exc}"
                                    ) from None
        check(len(frame), frame.shape[1], frame)
        return frame, plan.varied(frame, source="samples file")
    method, _, size = (args.sample or "").partition(":")
    if method != "lhs" or not size.isdigit() or int(size) < 1:
        raise InvalidValueError(
            f"--sample {args.sample!r}: expected lhs:N with N a positive integer")
    factors, source = sample_factors(model, args.ranges)
    check(int(size), len(factors))
    frame = plan.sample_factors(factors, int(size), seed=args.seed)
    return frame, plan.varied(frame, factors=factors, source=source)


def sample_factors(model, spec_path: Path | None):
    """Factors to sample and where they come from: a sensitivity spec's
    ``[[factor]]`` entries (their distributions), or every documented range
    (uniform)."""
    from sdrev.ensemble import plan
    if spec_path is None:
        return plan.documented_factors(model), "documented range"
    from sdrev.sensitivity import load_spec
    try:
        spec = load_spec(model, spec_path)
    except UnicodeDecodeError as exc:
        raise InvalidValueError(
            f"cannot read spec {str(spec_path)!r}: not UTF-8 text ({exc.reason} "
            f"at byte {exc.start})") from None
    if not spec.factors:
        raise InvalidValueError(
            f"spec {str(spec_path)!r} has no [[factor]] entry to sample; add one or "
            "give --samples FILE.csv")
    label = spec.path.stem if spec.path is not None else str(spec_path)
    return spec.factors, f"spec {label}"


def cmd_conformance(args: argparse.Namespace) -> int:
    import json

    from sdrev.ensemble import conformance
    results = conformance.check_folder(args.folder, rtol=args.rtol, progress=not args.quiet)
    if args.json:  # stdout stays valid JSON; the summary line goes to stderr
        print(json.dumps([r.as_dict() for r in results], indent=2))
        print(conformance.summary(results), file=sys.stderr)
        return EXIT_FINDINGS if any(not r.passed for r in results) else EXIT_OK
    for r in (r for r in results if not r.passed):
        why = r.reason or f"worst relative error {r.worst_rel_error:.3g} in {r.worst_column}"
        print(f"FAILED {r.model}: {why}")
    print(conformance.summary(results))
    return EXIT_FINDINGS if any(not r.passed for r in results) else EXIT_OK


def cmd_loops(args: argparse.Namespace) -> None:
    from sdrev import loops
    from sdrev.figures.loop_scores import loop_score_figure
    from sdrev.figures.trajectories import save_figure
    from sdrev.report import loops_table_text
    model = load(args.model)
    params = parse_assignments(args.set)
    if args.samples or args.sample:
        return cmd_loops_ensemble(model, params, args)
    if args.posterior:  # the loops of the posterior median parameter set
        from sdrev.calibrate import read_posterior
        median = read_posterior(args.posterior, model=model).median()
        params = {**{k: float(v) for k, v in median.items()}, **params}
        print(f"parameters at the posterior median of {args.posterior}: "
              + ", ".join(f"{k} = {v:.4g}" for k, v in median.items()), file=sys.stderr)
    analysis = loops.analyze(model, scenario=args.scenario, params=params, seed=args.seed)
    print(analysis.to_json(indent=2) if args.json else loops_table_text(analysis))
    if args.plot:
        folder = args.out or runs.default_run_dir(model.name, "loops")
        with runs.staged_folder(folder) as stage:
            paths = save_figure(loop_score_figure(analysis), stage / "loop_scores",
                                formats=("png", "svg"))
            (stage / "loops.json").write_text(analysis.to_json(indent=2) + "\n")
            runs.write_json(stage / "manifest.json", runs.manifest(
                model, run_settings(model, scenario=args.scenario, params=params,
                                    timed=True),
                command=args.command_line,
                extra={"files": [p.name for p in paths] + ["loops.json"]}))
        print(f"\nfigure written to {folder / 'loop_scores.png'}", file=sys.stderr)


def cmd_loops_ensemble(model, params: dict, args: argparse.Namespace) -> None:
    """``sdrev loops MODEL --samples FILE | --sample lhs:N``: dominance over runs."""
    from sdrev import loops
    if args.posterior:
        raise InvalidValueError("--posterior analyses the posterior median run; for the "
                                "posterior draws give them as --samples FILE.csv")
    def within_budget(runs: int, columns: int, frame=None) -> None:
        budget.check(cli_budget.loops_ensemble(model, runs=runs, columns=columns,
                                               samples=frame), force=args.force,
                     hint="ask for fewer runs, or check TIME STEP and FINAL TIME")

    timed = next((f"{k}={v}" for k, v in params.items()
                  if parse_switch(v, k) is not None), None)
    if timed is not None:
        raise InvalidValueError(
            f"--set {timed}: loop dominance over many runs takes constant settings; a "
            "timed setting is analysed in one run (`sdrev loops MODEL --set NAME=VALUE@TIME` "
            "without --samples or --sample)")
    samples, _ = ensemble_samples(model, args, within_budget=within_budget)
    check_samples(model, samples)
    for name, value in params.items():  # --set: the same in every run
        samples[name] = value
    result = loops.analyze_ensemble(model, samples, scenario=args.scenario,
                                    progress=not args.quiet, seed=args.seed)
    folder = args.out or runs.default_run_dir(model.name, "loops-ensemble")
    result.write(folder, command=args.command_line, model=model)
    if args.json:
        print(result.dominance.to_json(orient="records", indent=2))
    else:
        print(result.text())
    print(f"\ntables and figure written to {folder}", file=sys.stderr)


def cmd_sensitivity(args: argparse.Namespace) -> None:
    from sdrev import sensitivity as sa
    model = load(args.model)
    spec = sa.load_spec(model, args.spec)
    if args.noise is not None:
        spec = spec.with_noise(args.noise)
    given = None
    if args.posterior:
        from sdrev.calibrate import read_posterior
        given = read_posterior(args.posterior, model=model)
    method, n = args.method or spec.method, spec.n if args.N is None else args.N
    if n >= 1 and method in sa.METHODS:  # other values: sa.run names the valid ones
        budget.check(cli_budget.sensitivity(
            model, spec, method=method, n=n, given_rows=None if given is None else len(given)),
            force=args.force, hint="give a smaller -N")
    from sdrev.figures.sensitivity import prestart_worker
    prestart_worker()  # its start overlaps the runs (about a second of the figures' time)
    result = sa.run(model, spec, method=args.method, n=args.N, seed=args.seed,
                    progress=not args.quiet, given=given)
    folder = args.out or runs.default_run_dir(model.name, f"sensitivity-{result.method}")
    sa.write(result, folder, command=args.command_line)
    print(sa.summary_text(result))
    print(f"\nsensitivity run written to {folder}")


def cmd_compare(args: argparse.Namespace) -> None:
    from sdrev import compare
    model = load(args.model)
    comparison = rmap = None
    if args.regime_map:
        x, y = (compare.parse_range(item, model) for item in args.regime_map)
        grid = compare.parse_grid(args.grid) if args.grid else None
        budget.check(cli_budget.regime_map(model, grid=grid or (50, 50)), force=args.force,
                     hint="give a coarser --grid, or check TIME STEP and FINAL TIME")
        rmap = compare.regime_map(model, x=x, y=y, grid=grid,
                                  output=args.output, year=args.year, progress=not args.quiet)
    if not args.regime_map or args.scenarios or args.vary:
        comparison = compare.compare_scenarios(model, split_names(args.scenarios),
                                               vary=compare.parse_vary(args.vary),
                                               outputs=split_names(args.outputs))
    uncertainty = None
    if args.posterior:
        from sdrev.calibrate import read_posterior
        uncertainty = compare.scenario_uncertainty(
            model, read_posterior(args.posterior, model=model),
            scenarios=split_names(args.scenarios), outputs=split_names(args.outputs),
            source=f"posterior draws of {args.posterior}", progress=not args.quiet)
    folder = args.out or runs.default_run_dir(model.name, "compare")
    compare.write(folder, model, comparison=comparison, regime_map=rmap,
                  uncertainty=uncertainty, command=args.command_line)
    print(compare.summary_text(comparison, rmap, uncertainty))
    print(f"\ncomparison written to {folder}")
    if rmap is not None:
        print(f"(two conditions at a time, the others at {rmap.scenario or 'the model'}'s "
              f"values; every condition at once: sdrev discover {args.model})")


def cmd_discover(args: argparse.Namespace) -> None:
    from sdrev import discover
    model = load(args.model)
    if args.N is not None and args.N >= 1:  # smaller N: discover.run says what is valid
        budget.check(cli_budget.discovery(model, n=args.N, columns=len(model.parameters)),
                     force=args.force, hint="give a smaller -N")
    samples = source = None
    if args.posterior:
        if args.spec:
            raise InvalidValueError("give --spec or --posterior, not both")
        from sdrev.calibrate import read_posterior
        samples = read_posterior(args.posterior, model=model, n=args.N, seed=args.seed)
        source = f"{len(samples):,} posterior draws of {args.posterior}"
    result = discover.run(model, outcome=args.outcome, spec=args.spec, samples=samples,
                          source=source, n=args.N, seed=args.seed, method=args.method,
                          max_boxes=args.boxes, progress=not args.quiet)
    folder = args.out or runs.default_run_dir(model.name, f"discover-{result.method}")
    discover.write(result, folder, command=args.command_line)
    print(discover.summary_text(result))
    print(f"\ndiscovery written to {folder}")


def cmd_report(args: argparse.Namespace) -> None:
    from sdrev.report import brief
    model = load(args.model)
    if args.sensitivity is None and args.N is not None and args.N >= 1:
        from sdrev.report.brief.levers import default_spec
        try:
            spec = default_spec(model)
        except SdrevError:  # nothing to vary: the brief says so itself
            spec = None
        if spec is not None:
            budget.check(cli_budget.sensitivity(model, spec, method="sobol", n=args.N),
                         force=args.force, hint="give a smaller -N")
    if args.uncertainty and args.sets is not None and args.sets >= 1:
        scenarios = max(len(split_names(args.scenarios) or model.scenarios), 1)
        budget.check(cli_budget.ensemble(model, runs=args.sets * scenarios,
                                         columns=len(model.parameters),
                                         outputs=max(len(model.key_outputs), 1)),
                     force=args.force, hint="give fewer --sets")
    result = brief.build_brief(model, scenarios=split_names(args.scenarios),
                               sensitivity=args.sensitivity, sensitivity_n=args.N,
                               loops=args.loops, compare=args.compare,
                               uncertainty=args.uncertainty, posterior=args.posterior,
                               uncertainty_n=args.sets, params=parse_assignments(args.set),
                               progress=not args.quiet)
    folder = args.out or runs.default_run_dir(model.name, "brief")
    paths = brief.write_brief(result, folder, command=args.command_line, pdf=args.pdf)
    print("brief written to " + " and ".join(str(p) for p in paths[:-1]))


def cmd_calibrate(args: argparse.Namespace) -> None:
    from sdrev import calibrate
    model = load(args.model)
    spec = calibrate.load_spec(model, args.spec)
    steps = spec.steps if args.N is None else args.N
    walkers = spec.walkers if args.walkers is None else args.walkers
    if (args.method or spec.method) == "mcmc" and steps >= 1 and walkers >= 1:
        budget.check(cli_budget.calibration(model, steps=steps, walkers=walkers,
                                            parameters=len(spec.labels)),
                     force=args.force, hint="give fewer steps (-N) or walkers")
    result = calibrate.run(model, spec, method=args.method, steps=args.N, seed=args.seed,
                           walkers=args.walkers, holdout=args.holdout, progress=not args.quiet)
    folder = args.out or runs.default_run_dir(model.name, f"calibrate-{result.method}")
    with runs.staged_folder(folder) as stage:
        calibrate.write(result, stage, figures=not args.no_figures, manifest=runs.manifest(
            model, run_settings(model, scenario=spec.scenario), command=args.command_line))
    print(calibrate.summary_text(result))
    print(f"\ncalibration written to {folder}")


def cmd_check(args: argparse.Namespace) -> int:
    from sdrev import check
    only = check.parse_only(args.only)  # a bad --only fails before the model loads
    model = load(args.model)
    if "extremes" in only and args.samples >= 1:  # the joint Latin hypercube's runs
        budget.check(cli_budget.ensemble(model, runs=args.samples,
                                         columns=len(model.parameters),
                                         outputs=max(len(model.variables), 1)),
                     force=args.force, hint="give fewer --samples")
    report = check.run(model, only=only, data=args.data, seed=args.seed, samples=args.samples)
    if args.out:
        check.write(report, args.out, model=model, command=args.command_line)
    if args.json:  # stdout stays valid JSON; the summary line goes to stderr
        print(report.to_json(indent=2))
        print(report.summary_line(), file=sys.stderr)
    else:
        print(report.text())
    if args.out:
        print(f"check report written to {args.out}", file=sys.stderr)
    return 0 if report.ok else 1


def cmd_explore(args: argparse.Namespace) -> None:
    from sdrev import explore
    if not explore.available():
        raise InvalidValueError(f"sdrev explore needs Panel and Bokeh: {explore.EXTRA_HINT}")
    explore.serve(load(args.model), host=args.host, port=args.port, posterior=args.posterior)


def split_names(text: str | None) -> list[str] | None:
    """``"A, B"`` to ``["A", "B"]``; ``None`` stays ``None``."""
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def parse_assignments(items: Sequence[str] | None) -> dict[str, str]:
    """``["NAME=VALUE", ...]`` to ``{NAME: VALUE}`` (values checked later)."""
    values = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InvalidValueError(f"--set {item!r}: expected NAME=VALUE")
        values[name.strip()] = value.strip()
    return values


class Terminated(KeyboardInterrupt):
    """SIGTERM, unwound like Ctrl-C so that staging folders are removed."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _one_line(text: str, *, limit: int | None = None) -> str:
    """``text`` on one line; cut after ``limit`` characters (a message
    quoting a huge input stays readable)."""
    line = " ".join(str(text).split())
    if limit is not None and len(line) > limit:
        line = f"{line[:limit]}... ({len(line):,} characters in all)"
    return line


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sdrev`` command; returns the exit code.

    0 success; 1 a check or comparison found failures; 2 bad input (one
    line on stderr); 70 an internal error (one line; the traceback with
    ``SDREV_DEBUG=1``); 130 interrupted, 143 terminated (SIGTERM is
    unwound like Ctrl-C). A closed output pipe ends the command quietly.
    """
    import signal
    import threading

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.func = globals()[f"cmd_{args.command}"]  # looked up now: tests may replace one
    args.command_line = shlex.join(["sdrev", *argv])
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK
    except SdrevError as exc:
        print(f"sdrev: error: {_one_line(exc, limit=2000)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:
        print("sdrev: error: out of memory; ask for fewer runs, outputs or "
              "saved times (a larger SAVEPER or TIME STEP)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except UnicodeDecodeError as exc:  # a binary or mis-encoded input file
        print(f"sdrev: error: an input file is not UTF-8 text ({exc.reason} "
              f"at byte {exc.start})", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Terminated:
        print("sdrev: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("sdrev: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # never a bare traceback for users
        if os.environ.get("SDREV_DEBUG"):
            raise
        print(f"sdrev: internal error: {type(exc).__name__}: "
              f"{_one_line(exc)[:500]} (please report it; SDREV_DEBUG=1 "
              "shows the traceback)", file=sys.stderr)
        return EXIT_SOFTWARE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return EXIT_OK if code is None else int(code)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the exit flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
