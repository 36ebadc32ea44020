"""Scores stage of loop analysis: Loops that Matter (Schoenberg, Davidsen &
Eberlein 2020).

From one simulation saved at every computation step (the ensemble engine's
Euler loop, so the values equal PySD's), at each step ``t`` with
``Δv = v(t) - v(t - dt)``:

* link score of ``x -> z`` for an auxiliary or flow ``z = f(x, y, ...)``::

      Δx_z = f(x(t), y(t-dt), ...) - f(x(t-dt), y(t-dt), ...)
      LS   = |Δx_z / Δz| * sign(Δx_z / Δx)        (0 where Δz = 0 or Δx = 0)

  ``f`` is the equation's numpy expression from the compiled program,
  evaluated over the whole time axis at once with one input moved forward;
* link score of flow ``f`` into (out of) stock ``S`` with net flow ``n``::

      LS = +|Δf / Δn|  (inflow)      -|Δf / Δn|  (outflow)   (0 where Δn = 0)

* loop score: the product of the link scores around the loop;
* relative loop score: the loop score over the sum of the absolute loop
  scores of all loops in its cycle partition (``[-1, 1]``; positive means
  the loop is reinforcing at that moment).

Links into SMOOTH/DELAY/TREND elements are not expanded into their internal
stocks: such a link gets the score ``sign(Δz Δx)`` (the whole change of the
element attributed to its input), an approximation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdrev.ensemble import functions as fn
from sdrev.ensemble.codegen import build_simulator
from sdrev.ensemble.engine import simulate_chunk, time_grid
from sdrev.ensemble.program import Program
from sdrev.loops.graph import CausalGraph

__all__ = ["Trajectories", "classify_polarity", "link_scores", "loop_scores",
           "evaluate", "pad", "ratio", "relative_scores",
           "simulate_every_step",
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
    outputs = tuple(sorted(n for n in program.step
                           if n not in program.constants and n != "time"))
    sim = build_simulator(program, outputs)
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


def _namespace(program: Program, values: dict, constants: dict) -> dict:
    ns = {"np": np, "fn": fn, "L": program.lookups, "K": program.arrays}
    for k, v in constants.items():
        ns[f"v_{k}"] = v
    for k, v in values.items():
        ns["time" if k == "time" else f"v_{k}"] = v
    return ns


_CODE_CACHE: dict = {}


def _code(expr: str):
    code = _CODE_CACHE.get(expr)
    if code is None:
        code = _CODE_CACHE[expr] = compile(expr, "<sdrev loops>", "eval")
    return code


def evaluate(expr: str, program: Program, values: dict, constants: dict,
              shape: tuple | None = None):
    """Value of ``expr`` over the time axis, broadcast to ``shape`` (by
    default the shape of the first value: a scalar model's time axis)."""
    with np.errstate(all="ignore"):
        out = eval(_code(expr), _namespace(program, values, constants))
    if shape is None:
        shape = np.shape(next(iter(values.values())))
    return np.broadcast_to(np.asarray(out, dtype=float), shape).copy()


def ratio(num, den):
    """``num / den``, 0 where ``den`` is 0 or the quotient is not finite."""
    with np.errstate(all="ignore"):
        out = np.where(den == 0.0, 0.0, num / np.where(den == 0.0, 1.0, den))
    return np.where(np.isfinite(out), out, 0.0)


def link_scores(program: Program, cg: CausalGraph, traj: Trajectories) -> dict:
    """Link score of every edge of the causal graph at every step.

    Returns
    -------
    dict of (str, str) to ndarray
        Series aligned with ``traj.times``; the first value (no previous
        step) is 0.
    """
    v = traj.values
    prev = {k: a[:-1] for k, a in v.items()}
    scores: dict = {}
    g = cg.graph
    for z in g.nodes:
        preds = list(g.predecessors(z))
        if not preds:
            continue
        dz = np.diff(v[z])
        if z in cg.stocks:
            flows = cg.stocks[z]
            net = sum(f.sign * v[f.name] for f in flows)
            dn = np.diff(net)
            for f in flows:
                df = np.diff(v[f.name])
                scores[(f.name, z)] = pad(f.sign * np.abs(ratio(df, dn)))
            continue
        if z in cg.delayed:
            for x in preds:
                dx = np.diff(v[x])
                scores[(x, z)] = pad(np.sign(dz * dx))
            continue
        expr = cg.equations[z]
        base = evaluate(expr, program, prev, traj.constants)
        for x in preds:
            moved = dict(prev)
            moved[x] = v[x][1:]
            dxz = evaluate(expr, program, moved, traj.constants) - base
            dx = np.diff(v[x])
            score = np.abs(ratio(dxz, dz)) * np.sign(ratio(dxz, dx))
            scores[(x, z)] = pad(np.where(dx == 0.0, 0.0, score))
    return scores


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
