"""Boxes of conditions that concentrate an outcome: PRIM and CART.

PRIM is the ``prim`` package (Hadka's standalone release of the EMA
Workbench's implementation of Friedman & Fisher's Patient Rule Induction
Method, with Bryant & Lempert's quasi-p-values); CART is scikit-learn's
:class:`~sklearn.tree.DecisionTreeClassifier`, whose leaves are boxes.
This module only chooses among what they find and tabulates it.

Box statistics (Bryant & Lempert 2010): *coverage*, the share of all cases
of interest that fall in the box; *density*, the share of the box's runs
that are cases of interest; *mass*, the share of all runs in the box. The
*quasi-p-value* of a restriction is the one-sided binomial probability of
the box's density if the restriction were dropped: small values mean the
restriction matters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sdrev.errors import InvalidValueError

__all__ = ["MAX_QP", "METHODS", "MIN_ODDS_RATIO", "Box", "BoxSearch", "cart_boxes",
           "density_floor", "odds_ratio", "prim_boxes", "quasi_p"]

#: Box-finding methods.
METHODS = ("prim", "cart")
#: Restrictions with a larger quasi-p-value are dropped from a chosen box.
MAX_QP = 0.05
#: A box is reported when the odds of its class inside it are at least this
#: many times the odds among the runs it is sought in.
MIN_ODDS_RATIO = 2.0


@dataclass(frozen=True, eq=False)
class Box:
    """One box: restricted factors with their limits, and its statistics.

    Attributes
    ----------
    target : bool
        The class the box concentrates: runs where the outcome holds
        (``True``) or fails (``False``).
    rank : int
        1 for the first box of its class, 2 for the next, ... PRIM finds
        each further box on the runs the earlier boxes leave (covering), and
        its statistics count those runs only; CART's boxes are disjoint
        leaves of one tree.
    limits : pandas.DataFrame
        One row per restricted factor: ``factor, low, high, lower_bound,
        upper_bound, qp`` (``lower_bound``/``upper_bound``: whether the
        box cuts the factor from below/above), most significant first.
    coverage, density, mass : float
    runs, hits : int
        Runs in the box and cases of interest among them.
    step : int or None
        The box's position on its PRIM peeling trajectory.
    """

    target: bool
    rank: int
    limits: pd.DataFrame
    coverage: float
    density: float
    mass: float
    runs: int
    hits: int
    step: int | None = None

    @property
    def factors(self) -> tuple[str, ...]:
        return tuple(self.limits["factor"])

    def contains(self, X: pd.DataFrame) -> np.ndarray:
        """Which rows of ``X`` lie in the box."""
        inside = np.ones(len(X), dtype=bool)
        for r in self.limits.itertuples(index=False):
            values = X[r.factor].to_numpy(dtype=float)
            inside &= (values >= r.low) & (values <= r.high)
        return inside

    def conditions(self, digits: int = 3) -> list[str]:
        """The restrictions in words: ``"IP Protection > 0.55"``, ``"0.2 < a < 0.7"``."""
        out = []
        for r in self.limits.itertuples(index=False):
            lo, hi = f"{r.low:.{digits}g}", f"{r.high:.{digits}g}"
            if r.lower_bound and r.upper_bound:
                out.append(f"{lo} < {r.factor} < {hi}")
            elif r.lower_bound:
                out.append(f"{r.factor} > {lo}")
            else:
                out.append(f"{r.factor} < {hi}")
        return out


@dataclass(frozen=True, eq=False)
class BoxSearch:
    """What a method found for one class: its boxes and (PRIM) peeling trajectories.

    Attributes
    ----------
    boxes : tuple of Box
    trajectory : pandas.DataFrame
        ``target, rank, step, coverage, density, mass, res_dim, chosen``
        (empty for CART, which has no trajectory).
    """

    boxes: tuple[Box, ...]
    trajectory: pd.DataFrame


def density_floor(share: float) -> float:
    """The least density of a box worth reporting for a class of base share ``share``.

    Halfway from the base share to 1: a box must lift the class well above
    what a random draw of runs gives (a class of 12% of the runs needs boxes
    of density 56% or more; one of 88%, 94%).
    """
    return share + (1.0 - share) / 2


def odds_ratio(density: float, share: float) -> float:
    """Odds of the class inside a box (``density``) over its odds overall (``share``).

    Symmetric in the two classes, unlike the ratio of densities (which
    cannot exceed 1.14 for a class of 88% of the runs): 95% against 88% is
    an odds ratio of 2.6, 39% against 12% of 4.7.
    """
    if density >= 1.0:
        return float("inf")
    if share <= 0.0:
        return float("inf") if density > 0 else 1.0
    if share >= 1.0:
        return 1.0
    return (density / (1 - density)) / (share / (1 - share))


def quasi_p(X: pd.DataFrame, y: np.ndarray, inside: np.ndarray,
            limits: pd.DataFrame) -> list[float]:
    """Quasi-p-value of each restriction of a box (Bryant & Lempert 2010).

    For each restricted factor, the box with that restriction dropped has
    density ``p``; the quasi-p-value is the binomial probability of at
    least the box's hits among its runs at that ``p`` (one-sided), as the
    EMA Workbench and the ``prim`` package compute it for PRIM boxes.
    """
    from scipy.stats import binom

    n, hits = int(inside.sum()), int(y[inside].sum())
    out = []
    for r in limits.itertuples(index=False):
        loose = np.ones(len(X), dtype=bool)
        for s in limits.itertuples(index=False):
            if s.factor != r.factor:
                v = X[s.factor].to_numpy(dtype=float)
                loose &= (v >= s.low) & (v <= s.high)
        p = y[loose].mean() if loose.any() else 0.0
        out.append(float(binom.sf(hits - 1, n, p)))
    return out


def _limits(X: pd.DataFrame, bounds: dict[str, tuple[float, float]], qp) -> pd.DataFrame:
    rows = []
    for (name, (lo, hi)), q in zip(bounds.items(), qp):
        v = X[name].to_numpy(dtype=float)
        rows.append({"factor": name, "low": float(lo), "high": float(hi),
                     "lower_bound": bool(lo > v.min()), "upper_bound": bool(hi < v.max()),
                     "qp": float(q)})
    frame = pd.DataFrame(rows, columns=["factor", "low", "high", "lower_bound",
                                        "upper_bound", "qp"])
    return frame.sort_values("qp", kind="stable").reset_index(drop=True)


def _box(X, y, target, rank, bounds, qp, step=None) -> Box:
    limits = _limits(X, bounds, qp)
    inside = np.ones(len(X), dtype=bool)
    for name, (lo, hi) in bounds.items():
        v = X[name].to_numpy(dtype=float)
        inside &= (v >= lo) & (v <= hi)
    hits = int(y[inside].sum())
    return Box(target=target, rank=rank, limits=limits,
               coverage=hits / max(int(y.sum()), 1), density=hits / max(int(inside.sum()), 1),
               mass=float(inside.mean()), runs=int(inside.sum()), hits=hits, step=step)


def prim_boxes(X: pd.DataFrame, y: np.ndarray, *, target: bool = True, max_boxes: int = 2,
               peel_alpha: float = 0.05, paste_alpha: float = 0.05, mass_min: float = 0.05,
               min_density: float | None = None, min_coverage: float = 0.1) -> BoxSearch:
    """PRIM boxes of the runs where ``y == target``.

    Each box is chosen on its peeling trajectory as the one with the
    largest product of coverage and density among those with density at
    least ``min_density`` (default :func:`density_floor` of the share of
    the class among the runs left); restrictions whose quasi-p-value
    exceeds :data:`MAX_QP` are then dropped (PRIM's ``drop_restriction``),
    one at a time, least significant first. The box is reported if the
    odds of the class inside it are at least :data:`MIN_ODDS_RATIO` times
    its odds among the runs it was sought in (:func:`odds_ratio`). Further
    boxes are sought on the runs the earlier ones leave (PRIM's covering),
    until ``max_boxes``, a box not reported, or one below ``min_coverage``.

    Parameters
    ----------
    X : pandas.DataFrame
        One row per run, one column per factor.
    y : ndarray of bool
    target : bool, optional
    max_boxes : int, optional
    peel_alpha, paste_alpha, mass_min : float, optional
        PRIM's peeling and pasting fractions and least box mass.
    min_density, min_coverage : float, optional

    Returns
    -------
    BoxSearch
    """
    import logging

    try:
        import prim
    except ImportError:
        raise InvalidValueError(
            "PRIM needs the `prim` package (GPL-3, so not installed with sdrev): "
            "pip install \"sdrev[prim]\", or use --method cart") from None

    cases = np.asarray(y, dtype=bool) == target
    logging.getLogger("prim").setLevel(logging.WARNING)
    finder = prim.Prim(X.reset_index(drop=True).astype(float), cases, threshold=None,
                       peel_alpha=peel_alpha, paste_alpha=paste_alpha, mass_min=mass_min)
    boxes: list[Box] = []
    rows: list[dict] = []
    left = cases.copy()
    for rank in range(1, max_boxes + 1):
        if not left.any():
            break
        found = finder.find_box()
        if found is None:
            break
        traj = found.peeling_trajectory
        peeled = len(traj)
        base = float(traj["density"].iloc[0])  # the class's share of the runs left
        floor = min_density if min_density is not None else density_floor(base)
        good = np.flatnonzero(traj["density"].to_numpy() >= floor)
        if good.size == 0:
            _trajectory_rows(rows, traj, target, rank, None, peeled)
            break
        score = traj["coverage"].to_numpy()[good] * traj["density"].to_numpy()[good]
        step = int(good[np.argmax(score)])
        found.select(step)
        chosen = step
        while True:  # drop restrictions that do not matter, least significant first
            qp = found.limits["qp values"]
            if qp.empty or qp.max() <= MAX_QP:
                break
            found.drop_restriction(str(qp.idxmax()))  # appended to the trajectory
            chosen = len(found.peeling_trajectory) - 1
        if len(found.limits) == 0 or odds_ratio(found.density, base) < MIN_ODDS_RATIO:
            _trajectory_rows(rows, found.peeling_trajectory, target, rank, None, peeled)
            break
        _trajectory_rows(rows, found.peeling_trajectory, target, rank, chosen, peeled)
        lims = found.limits
        bounds = {str(k): (float(v["min"]), float(v["max"])) for k, v in lims.iterrows()}
        stats = found.stats  # on the runs the earlier boxes leave, as PRIM reports them
        box = Box(target=target, rank=rank,
                  limits=_limits(X, bounds, [float(q) for q in lims["qp values"]]),
                  coverage=float(stats["coverage"]), density=float(stats["density"]),
                  mass=float(stats["mass"]), runs=len(found.yi),
                  hits=int(cases[found.yi].sum()), step=chosen)
        if box.limits.empty or box.coverage < min_coverage:
            break
        boxes.append(box)
        left &= ~box.contains(X)
    return BoxSearch(tuple(boxes), pd.DataFrame(rows, columns=[
        "target", "rank", "step", "coverage", "density", "mass", "res_dim", "chosen",
        "dropped"]))


def _trajectory_rows(rows, traj, target, rank, chosen, peeled) -> None:
    for step in range(len(traj)):
        rows.append({"target": target, "rank": rank, "step": step,
                     "coverage": float(traj["coverage"].iloc[step]),
                     "density": float(traj["density"].iloc[step]),
                     "mass": float(traj["mass"].iloc[step]),
                     "res_dim": int(traj["res dim"].iloc[step]), "chosen": step == chosen,
                     "dropped": step >= peeled})


def cart_boxes(X: pd.DataFrame, y: np.ndarray, *, target: bool = True, max_boxes: int = 2,
               mass_min: float = 0.05, max_depth: int = 6, seed: int = 0,
               min_density: float | None = None, min_coverage: float = 0.1) -> BoxSearch:
    """CART boxes: the leaves of a classification tree where ``y == target`` dominates.

    The tree (scikit-learn, leaves of at least ``mass_min`` of the runs,
    depth at most ``max_depth``) splits the runs; each leaf is a box. The
    leaves with density at least ``min_density`` (default
    :func:`density_floor`) are reported, largest coverage first (leaves are
    disjoint: coverage and density do not trade off within one), at most
    ``max_boxes``; restrictions whose quasi-p-value exceeds :data:`MAX_QP`
    are dropped, and the box reported if its odds ratio stays at least
    :data:`MIN_ODDS_RATIO`, as for PRIM.

    Returns
    -------
    BoxSearch
        Without a trajectory.
    """
    from sklearn.tree import DecisionTreeClassifier

    cases = np.asarray(y, dtype=bool) == target
    share = float(cases.mean())
    if min_density is None:
        min_density = density_floor(share)
    names = list(X.columns)
    values = X.to_numpy(dtype=float)
    tree = DecisionTreeClassifier(max_depth=max_depth, random_state=seed,
                                  min_samples_leaf=max(1, int(np.ceil(mass_min * len(X)))))
    tree.fit(values, cases)
    t = tree.tree_
    leaves: list[dict] = []

    def walk(node: int, bounds: dict) -> None:
        if t.children_left[node] == -1:
            leaves.append(bounds)
            return
        name, cut = names[t.feature[node]], float(t.threshold[node])
        lo, hi = bounds.get(name, (-np.inf, np.inf))
        walk(t.children_left[node], {**bounds, name: (lo, min(hi, cut))})
        walk(t.children_right[node], {**bounds, name: (max(lo, np.nextafter(cut, np.inf)), hi)})

    walk(0, {})
    candidates = []
    for bounds in leaves:
        finite = {k: (max(lo, float(X[k].min())), min(hi, float(X[k].max())))
                  for k, (lo, hi) in bounds.items()}
        box = _box(X, cases, target, 0, finite, [0.0] * len(finite))
        if box.density >= min_density and box.coverage >= min_coverage:
            candidates.append(finite)
    candidates.sort(key=lambda b: -_box(X, cases, target, 0, b, [0.0] * len(b)).coverage)
    boxes: list[Box] = []
    for bounds in candidates:
        if len(boxes) == max_boxes:
            break
        while True:
            box = _box(X, cases, target, 0, bounds, [0.0] * len(bounds))
            qp = quasi_p(X, cases, box.contains(X), box.limits)
            worst = int(np.argmax(qp)) if qp else -1
            if not qp or qp[worst] <= MAX_QP:
                break
            bounds = {k: v for k, v in bounds.items() if k != box.limits["factor"][worst]}
        if box.limits.empty or odds_ratio(box.density, share) < MIN_ODDS_RATIO:
            continue
        ordered = dict(zip(box.limits["factor"], zip(box.limits["low"], box.limits["high"])))
        boxes.append(_box(X, cases, target, 0, ordered, qp))
    boxes.sort(key=lambda b: -b.coverage)  # dropping restrictions changed the coverages
    boxes = [_box(X, cases, target, rank, dict(zip(b.limits["factor"],
                                                    zip(b.limits["low"], b.limits["high"]))),
                  list(b.limits["qp"])) for rank, b in enumerate(boxes, start=1)]
    return BoxSearch(tuple(boxes), pd.DataFrame(columns=[
        "target", "rank", "step", "coverage", "density", "mass", "res_dim", "chosen",
        "dropped"]))
