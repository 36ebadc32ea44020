"""Scores stage of loop analysis: Loops that Matter (Schoenberg, Davidsen &
Eberlein 2020).

From one simulation saved at every computation step (the ensemble engine's
Euler loop, so the values equal PySD's):

* link scores of every causal link at every step:
  :func:`sdrev.loops.links.link_scores` (the one home of the formulas,
  shared with the batch analysis of :mod:`sdrev.loops.batch`), along the
  run's time axis;
* loop score: the product of the link scores around the loop;
* relative loop score: the loop score over the sum of the absolute loop
  scores of all loops in its cycle partition (``[-1, 1]``; positive means
  the loop is reinforcing at that moment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sdrev.ensemble.codegen import build_simulator
from sdrev.ensemble.engine import simulate_chunk, time_grid
from sdrev.ensemble.program import Program
from sdrev.loops import links
from sdrev.loops.graph import CausalGraph
from sdrev.loops.links import evaluate, ratio

if TYPE_CHECKING:
    from sdrev.loops.elements import ElementGraph

__all__ = ["Trajectories", "classify_polarity", "link_scores", "loop_scores",
           "pad", "relative_scores", "simulate_every_step",
           "POLARITY_CONFIDENCE_THRESHOLD"]

#: Mixed-sign loops whose confidence ``|r - |b|| / (r + |b|)`` reaches this
#: are "mostly reinforcing/balancing" rather than undetermined (Schoenberg &
#: Eberlein 2020; the same cutoff as pysimlin).
POLARITY_CONFIDENCE_THRESHOLD = 0.99


@dataclass(frozen=True)
class Trajectories:
    """Every variable of one run at every computation step.

    Attributes
    ----------
    times : ndarray
        Every integration time.
    saved : ndarray of bool
        Which of ``times`` are saving times (SAVEPER).
    values : dict of str to ndarray
        Python name -> values at ``times``.
    constants : dict of str to float
        The constants of the run.
    """

    times: np.ndarray
    saved: np.ndarray
    values: dict
    constants: dict


def simulate_every_step(program: Program, cg: CausalGraph,
                        constants: dict | None = None) -> Trajectories:
    """Run the model once, keeping every variable at every time step.

    Parameters
    ----------
    program : Program
    cg : CausalGraph
    constants : dict, optional
        Values of constants by Python name, on top of the model's own
        (control variables included).
    """
    consts = dict(program.constants)
    consts.update(constants or {})
    sim = _every_step_simulator(program)
    c = {k: float(v) if np.ndim(v) == 0 else np.asarray(v, dtype=float)
         for k, v in consts.items()}
    dt = c["time_step"]
    _, data = simulate_chunk(sim, c, 1, saveper=dt)
    grid = time_grid(c["initial_time"], c["final_time"], dt, c["saveper"])
    values = {k: np.asarray(v[0], dtype=float) for k, v in data.items()}
    values["time"] = grid.times
    for stock, flows in cg.stocks.items():  # synthetic net-flow nodes
        for f in flows:
            if f.name not in values and f.name in cg.equations:
                shape = np.shape(values[stock])
                values[f.name] = evaluate(cg.equations[f.name], program,
                                           values, c, shape=shape)
    if len(grid.times) != len(next(iter(values.values()))):
        raise RuntimeError("time grid and simulation disagree")  # pragma: no cover
    return Trajectories(times=grid.times, saved=grid.saved, values=values,
                        constants=c)


_SIMULATORS: dict = {}


def _every_step_simulator(program: Program):
    """The simulator of every variable of ``program``, generated once per
    program object (the constants of a run are its input, not part of the
    code; the program is kept with it so that its ``id`` is not reused)."""
    key = id(program)
    if key not in _SIMULATORS:
        if len(_SIMULATORS) >= 8:
            _SIMULATORS.clear()
        outputs = tuple(sorted(n for n in program.step
                               if n not in program.constants and n != "time"))
        _SIMULATORS[key] = (program, build_simulator(program, outputs))
    return _SIMULATORS[key][1]


def link_scores(program: Program, cg: CausalGraph, traj: Trajectories, *,
                elements: ElementGraph | None = None) -> dict:
    """Link score of every edge of the causal graph at every step of one run.

    The scores of each step ``t`` (against ``t - dt``), computed by
    :func:`sdrev.loops.links.link_scores` along the run's time axis.

    Parameters
    ----------
    program : Program
    cg : CausalGraph
        The variable-level graph.
    traj : Trajectories
    elements : ElementGraph, optional
        A subscripted model's element graph (scores keyed by element nodes).

    Returns
    -------
    dict of (str, str) to ndarray
        Series aligned with ``traj.times``; the first value (no previous
        step) is 0.
    """
    v = traj.values
    before = {k: a[:-1] for k, a in v.items()}
    after = {k: a[1:] for k, a in v.items()}
    scores = links.link_scores(program, cg, before, after, traj.constants,
                               lead=(len(traj.times) - 1,), elements=elements)
    return {edge: pad(series) for edge, series in scores.items()}


def pad(series):
    """``series`` with a 0 in front (the first step has no previous step)."""
    return np.concatenate([[0.0], series])


def loop_scores(loops, scores: dict) -> np.ndarray:
    """Loop scores, shape ``(len(loops), steps)``: products of link scores."""
    if not loops:
        return np.zeros((0, len(next(iter(scores.values()))) if scores else 0))
    out = []
    for loop in loops:
        product = np.ones_like(next(iter(scores.values())))
        for a, b in zip(loop, loop[1:] + loop[:1]):
            product = product * scores[(a, b)]
        out.append(product)
    return np.array(out)


def relative_scores(raw: np.ndarray, partition: list[int]) -> np.ndarray:
    """Loop scores over the summed absolute scores of their partition."""
    rel = np.zeros_like(raw)
    part = np.asarray(partition)
    for p in set(partition):
        rows = part == p
        denom = np.abs(raw[rows]).sum(axis=0)
        rel[rows] = ratio(raw[rows], denom[None, :])
    return rel


def classify_polarity(series: np.ndarray) -> tuple[str, float]:
    """Polarity of a loop from its relative score series.

    ``reinforcing``/``balancing`` when every non-zero score has one sign;
    ``mostly reinforcing``/``mostly balancing`` when the signs change but
    ``|r - |b|| / (r + |b|)`` (``r``, ``|b|``: summed positive and absolute
    negative scores) is at least :data:`POLARITY_CONFIDENCE_THRESHOLD`;
    ``undetermined`` otherwise, and for a loop that never scores.

    Returns
    -------
    polarity : str
    confidence : float
    """
    s = np.asarray(series, dtype=float)
    s = s[np.isfinite(s) & (s != 0.0)]
    if s.size == 0:
        return "undetermined", 0.0
    r = float(s[s > 0].sum())
    b = float(-s[s < 0].sum())
    conf = min(1.0, abs(r - b) / (r + b))
    if b == 0.0:
        return "reinforcing", 1.0
    if r == 0.0:
        return "balancing", 1.0
    if conf >= POLARITY_CONFIDENCE_THRESHOLD:
        return ("mostly reinforcing" if r > b else "mostly balancing"), conf
    return "undetermined", conf
