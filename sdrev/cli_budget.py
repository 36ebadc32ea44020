"""What each command of the ``sdrev`` command line would compute, before it runs.

The command line knows a command's size from its arguments (``-N``,
``--sample lhs:N``, ``--walkers``, a samples file's rows) before anything is
sampled or run; these functions turn them into a
:class:`sdrev.budget.Estimate` (runs, integration steps per run, bytes held
and written) that :func:`sdrev.budget.check` holds against the limits. They
sit beside the parser, at the command line's layer, because they read the
stages' own counts (a SALib method's runs for its ``N``, a spec's factors).
"""

from __future__ import annotations

from collections.abc import Mapping

from sdrev import budget

__all__ = ["calibration", "discovery", "ensemble", "loops_ensemble", "regime_map",
           "sensitivity", "time_of_runs"]

_CONTROLS = {"TIME STEP": "time_step", "FINAL TIME": "final_time", "SAVEPER": "saveper",
             "INITIAL TIME": "initial_time"}


def _control(name: str) -> str | None:
    return _CONTROLS.get(" ".join(str(name).replace("_", " ").split()).upper())


def time_of_runs(model, time: Mapping[str, float] | None = None, samples=None) -> tuple[int, int]:
    """Integration steps and saved times of the longest run.

    Parameters
    ----------
    model : sdrev.model.Model
    time : mapping, optional
        Overrides of the model's time settings (``time_step``, ``final_time``,
        ``saveper``), as in :class:`sdrev.scenario.RunSettings`.
    samples : pandas.DataFrame, optional
        Runs whose columns may set TIME STEP, FINAL TIME, SAVEPER or
        INITIAL TIME per run: the shortest step and the longest horizon count.
    """
    t = model.time
    values = {"initial_time": t.initial, "final_time": t.final, "time_step": t.step,
              "saveper": t.saveper, **dict(time or {})}
    if samples is not None:
        import pandas as pd

        for column in samples.columns:
            key = _control(column)
            if key is None:
                continue
            # values that are not finite numbers are refused later, by name
            numbers = pd.to_numeric(samples[column], errors="coerce").astype(float)
            numbers = numbers[numbers.abs() < float("inf")]
            if len(numbers):
                values[key] = float(numbers.max() if key == "final_time" else numbers.min())
    return budget.time_points(values["initial_time"], values["final_time"],
                              values["time_step"], values["saveper"])


def _state(model, runs: int) -> int:
    """Bytes of the engine's state for ``runs`` runs at once."""
    return runs * max(len(getattr(model, "variables", ())), 1) * budget.FLOAT


def ensemble(model, *, runs: int, columns: int, outputs: int,
             time: Mapping[str, float] | None = None, samples=None,
             blocks: bool = False) -> budget.Estimate:
    """``sdrev ensemble``: the samples table, the engine's state and the
    result (in memory, or one block of it when written to Zarr in blocks)."""
    from sdrev.ensemble import store

    steps, saved = time_of_runs(model, time, samples)
    result = runs * saved * outputs * budget.FLOAT
    table = runs * (columns + 1) * budget.FLOAT
    if blocks:  # one block of runs in memory at a time; all of it on disk
        per_run = max(saved * outputs * budget.FLOAT, 1)
        block = max(1, min(runs, store.BLOCK_RUNS, store.BLOCK_BYTES // per_run))
        held = block * per_run + _state(model, block)
    else:
        held = result + _state(model, runs)
    return budget.Estimate("this ensemble", runs, steps, table + held, disk=result)


def loops_ensemble(model, *, runs: int, columns: int, samples=None) -> budget.Estimate:
    """``sdrev loops --sample``: the samples, one chunk's score arrays and
    every run's relative scores of the documented loops."""
    from sdrev.loops.chunks import CHUNK_BYTES

    steps, saved = time_of_runs(model, None, samples)
    kept = runs * max(len(model.loops), 1) * saved * budget.FLOAT
    table = runs * (columns + 1) * budget.FLOAT
    chunk = min(CHUNK_BYTES, runs * saved * max(len(model.variables), 1) * budget.FLOAT)
    return budget.Estimate("this loop analysis", runs, steps, table + kept + chunk)


def sensitivity(model, spec, *, method: str, n: int, given_rows: int | None = None
                ) -> budget.Estimate:
    """``sdrev sensitivity``: the method's runs for ``n`` (Sobol' ``N (2D + 2)``
    with second-order indices), with the convergence check's smaller
    samples when they are drawn anew; each run's outputs are held."""
    from sdrev.sensitivity import methods

    mod = methods.get(method)
    groups = [g for g in ("parameters", "loops") if spec.group(g)]
    if given_rows is not None:
        groups, n = ["parameters"], given_rows
    runs = width = 0
    for g in groups:
        problem = spec.problem(g)
        count = mod.runs(problem, n, second_order=spec.second_order)
        if mod.prefix(problem, n, second_order=spec.second_order) is None:
            count += mod.runs(problem, max(n // 2, 1), second_order=spec.second_order)
            count += mod.runs(problem, max(n // 4, 1), second_order=spec.second_order)
        runs += count
        width = max(width, problem["num_vars"])
    steps, saved = time_of_runs(model)
    outputs = max(len(spec.outputs), 1)
    memory = runs * (width + 1 + saved * outputs) * budget.FLOAT + _state(model, runs)
    return budget.Estimate("this sensitivity analysis", runs, steps, memory)


def discovery(model, *, n: int, columns: int) -> budget.Estimate:
    """``sdrev discover``: ``n`` parameter sets under each of the model's
    scenarios at most (the outcome's scenarios are a subset)."""
    scenarios = max(len(model.scenarios), 1)
    runs = n * scenarios
    steps, saved = time_of_runs(model)
    memory = n * (columns + 1) * budget.FLOAT + runs * saved * budget.FLOAT \
        + _state(model, runs)
    return budget.Estimate("this discovery", runs, steps, memory)


def calibration(model, *, steps: int, walkers: int, parameters: int) -> budget.Estimate:
    """``sdrev calibrate --method mcmc``: a run per walker and step; the
    chain (steps x walkers x parameters) and its log-probabilities held."""
    runs = steps * walkers
    run_steps, _ = time_of_runs(model)
    memory = runs * (parameters + 2) * budget.FLOAT + _state(model, walkers)
    return budget.Estimate("this calibration", runs, run_steps, memory)


def regime_map(model, *, grid: tuple[int, int]) -> budget.Estimate:
    """``sdrev compare --regime-map``: two regimes at every grid point."""
    runs = 2 * grid[0] * grid[1]
    steps, saved = time_of_runs(model)
    return budget.Estimate("this regime map", runs, steps,
                           runs * saved * budget.FLOAT + _state(model, runs))
