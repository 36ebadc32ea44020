"""Link scores of Loops that Matter: the one place they are computed.

Schoenberg, Davidsen & Eberlein (2020) score each causal link ``x -> z``
from the change of the model between two consecutive computation steps
``t - dt`` and ``t`` (``Δv = v(t) - v(t - dt)``):

* for an auxiliary or flow ``z = f(x, y, ...)``::

      Δx_z = f(x(t), y(t-dt), ...) - f(x(t-dt), y(t-dt), ...)
      LS   = |Δx_z / Δz| * sign(Δx_z / Δx)        (0 where Δz = 0 or Δx = 0)

  ``f`` is the equation's numpy expression from the compiled program,
  evaluated once with every input at ``t - dt`` and once per input with
  only that input moved forward;
* for a flow ``f`` into (out of) stock ``S`` with net flow ``n``::

      LS = +|Δf / Δn|  (inflow)      -|Δf / Δn|  (outflow)   (0 where Δn = 0)

Links into SMOOTH/DELAY/TREND elements are not expanded into their internal
stocks: such a link gets ``sign(Δz Δx)`` (the whole change of the element
attributed to its input), an approximation.

:func:`link_scores` takes the values at ``t - dt`` and at ``t`` as arrays
with any leading shape: the time axis of one run (the per-run analysis,
:func:`sdrev.loops.analyze`), or runs times saving times of a batch
(:mod:`sdrev.loops.batch`). The arithmetic is the same in both, operation
for operation, so both give the same numbers bit for bit. Subscripted
models are scored element by element over their element graph
(:class:`sdrev.loops.elements.ElementGraph`): the change in ``z[i]``
caused by ``x[j]`` alone moves only element ``j`` of ``x``, and a change
below round-off (:data:`ROUND_OFF` of the value) counts as none, so that an
element cancelling out of its own equation (``SUM(x[S!]) - x[S]``) has no
effect on it (pysimlin 0.8.5 scores that link through the SUM alone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sdrev.ensemble import functions as fn
from sdrev.ensemble.program import Program

if TYPE_CHECKING:
    from sdrev.loops.elements import ElementGraph
    from sdrev.loops.graph import CausalGraph

__all__ = ["ROUND_OFF", "evaluate", "link_scores", "ratio"]

#: Relative size below which a change in an element caused by one input
#: element counts as zero (floating-point round-off of cancelling terms).
ROUND_OFF = 1e-12

_CODE_CACHE: dict = {}


def _code(expr: str):
    code = _CODE_CACHE.get(expr)
    if code is None:
        code = _CODE_CACHE[expr] = compile(expr, "<sdrev loops>", "eval")
    return code


def _namespace(program: Program, values: dict, constants: dict) -> dict:
    ns = {"np": np, "fn": fn, "L": program.lookups, "K": program.arrays}
    for k, v in constants.items():
        ns[f"v_{k}"] = v
    for k, v in values.items():
        ns["time" if k == "time" else f"v_{k}"] = v
    return ns


def evaluate(expr: str, program: Program, values: dict, constants: dict,
             shape: tuple | None = None) -> np.ndarray:
    """Value of a compiled numpy expression over arrays of values.

    Parameters
    ----------
    expr : str
        An equation's expression from the compiled program.
    program : Program
        Its lookup tables and constant arrays.
    values : dict of str to ndarray
        Variables by Python name (``"time"`` included).
    constants : dict of str to float or ndarray
    shape : tuple, optional
        Shape to broadcast the value to (default: the shape of the first of
        ``values``, a scalar model's time axis).

    Returns
    -------
    ndarray
        A new float array of ``shape``.
    """
    with np.errstate(all="ignore"):
        out = eval(_code(expr), _namespace(program, values, constants))
    if shape is None:
        shape = np.shape(next(iter(values.values())))
    return np.broadcast_to(np.asarray(out, dtype=float), shape).copy()


def ratio(num, den):
    """``num / den``, 0 where ``den`` is 0 or the quotient is not finite."""
    with np.errstate(all="ignore"):
        out = np.asarray(np.divide(num, den), dtype=float)
    # a zero denominator gives an infinity or NaN here: both become 0
    out[~np.isfinite(out)] = 0.0
    return out


def link_scores(program: Program, cg: CausalGraph, before: dict, after: dict,
                constants: dict, *, lead: tuple, elements: ElementGraph | None = None,
                edges=None) -> dict:
    """Loops that Matter link score of every edge between two states.

    Parameters
    ----------
    program : Program
    cg : CausalGraph
        The variable-level causal graph (:func:`sdrev.loops.graph.causal_graph`).
    before, after : dict of str to ndarray
        Every node's values at ``t - dt`` and at ``t``, by Python name, of
        shape ``(*lead, *subscripts)``; ``"time"`` included.
    constants : dict of str to float or ndarray
        The constants as the equations read them.
    lead : tuple of int
        Leading shape of the values (``(steps,)`` along one run's time
        axis; ``(runs, pairs)`` or ``(runs * pairs,)`` for a batch).
    elements : ElementGraph, optional
        A subscripted model's element graph: scores are then keyed by
        element nodes and flat over ``lead``.
    edges : collection of (str, str), optional
        Only these links (default: every link of the graph).

    Returns
    -------
    dict of (str, str) to ndarray
        Score of each link, of shape ``lead`` (a scalar model) or
        ``(prod(lead),)`` (element nodes of a subscripted model).
    """
    if elements is not None:
        return _element_scores(program, cg, elements, before, after, constants,
                               lead, edges)
    wanted = None if edges is None else set(edges)
    b, a = before, after
    scores: dict = {}
    g = cg.graph
    for z in g.nodes:
        preds = [x for x in g.predecessors(z) if wanted is None or (x, z) in wanted]
        if not preds:
            continue
        dz = a[z] - b[z]
        if z in cg.stocks:
            flows = cg.stocks[z]
            dn = (sum(f.sign * a[f.name] for f in flows)
                  - sum(f.sign * b[f.name] for f in flows))
            for f in flows:
                if wanted is None or (f.name, z) in wanted:
                    df = a[f.name] - b[f.name]
                    scores[(f.name, z)] = f.sign * np.abs(ratio(df, dn))
            continue
        if z in cg.delayed:
            for x in preds:
                scores[(x, z)] = np.sign(dz * (a[x] - b[x]))
            continue
        expr = cg.equations[z]
        base = evaluate(expr, program, b, constants, shape=lead)
        for x in preds:
            moved = dict(b)
            moved[x] = a[x]
            dxz = evaluate(expr, program, moved, constants, shape=lead) - base
            # where Δx = 0 the second ratio is 0, and so is the score (+0.0)
            scores[(x, z)] = np.abs(ratio(dxz, dz)) * np.sign(ratio(dxz, a[x] - b[x]))
    return scores


def _element_scores(program: Program, cg: CausalGraph, eg: ElementGraph, b: dict,
                    a: dict, constants: dict, lead: tuple, edges) -> dict:
    """:func:`link_scores` of a subscripted model, element by element."""
    wanted = None if edges is None else set(edges)
    m = int(np.prod(lead))
    nodes: dict[str, list[str]] = {}
    for node, name in eg.variable.items():
        nodes.setdefault(name, []).append(node)
    for members in nodes.values():
        members.sort(key=lambda n: eg.index[n])

    def flat(values, name):
        return values.reshape((m,) + eg.shapes[name]).reshape(m, -1)

    def keep(x, j, z, i):
        return wanted is None or (nodes[x][j], nodes[z][i]) in wanted

    scores: dict = {}
    g = cg.graph
    for z in g.nodes:
        preds = list(g.predecessors(z))
        if not preds:
            continue
        zshape = eg.shapes[z]
        shape = (m,) + zshape
        dz = flat(a[z], z) - flat(b[z], z)
        if z in cg.stocks:
            rate = eg.rates[z]
            dn = (evaluate(rate, program, a, constants, shape=shape).reshape(m, -1)
                  - evaluate(rate, program, b, constants, shape=shape).reshape(m, -1))
            for f in cg.stocks[z]:
                df = flat(a[f.name], f.name) - flat(b[f.name], f.name)
                for j, i in eg.pairs[(f.name, z)]:
                    if keep(f.name, j, z, i):
                        scores[(nodes[f.name][j], nodes[z][i])] = \
                            f.sign * np.abs(ratio(df[:, j], dn[:, i]))
            continue
        if z in cg.delayed:
            for x in preds:
                dx = flat(a[x], x) - flat(b[x], x)
                for j, i in eg.pairs[(x, z)]:
                    if keep(x, j, z, i):
                        scores[(nodes[x][j], nodes[z][i])] = np.sign(dz[:, i] * dx[:, j])
            continue
        expr = cg.equations[z]
        base = evaluate(expr, program, b, constants, shape=shape).reshape(m, -1)
        for x in preds:
            xshape = eg.shapes[x]
            start, cur = flat(b[x], x), flat(a[x], x)
            dx = cur - start
            by_source: dict[int, list[int]] = {}
            for j, i in eg.pairs[(x, z)]:
                if keep(x, j, z, i):
                    by_source.setdefault(j, []).append(i)
            for j, targets in by_source.items():
                moved_x = start.copy()
                moved_x[:, j] = cur[:, j]
                moved = dict(b)
                moved[x] = moved_x.reshape((m,) + xshape)
                value = evaluate(expr, program, moved, constants,
                                 shape=shape).reshape(m, -1)
                dxz = value - base
                # a change at round-off level is no change: SUM(x[S!]) - x[S]
                # does not depend on x[S], though numerically it may wobble
                noise = ROUND_OFF * np.maximum(np.abs(value), np.abs(base))
                dxz = np.where(np.abs(dxz) <= noise, 0.0, dxz)
                for i in targets:  # 0 where Δx = 0, as in link_scores
                    scores[(nodes[x][j], nodes[z][i])] = np.abs(
                        ratio(dxz[:, i], dz[:, i])) * np.sign(ratio(dxz[:, i], dx[:, j]))
    return scores
