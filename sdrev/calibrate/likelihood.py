"""The posterior of a calibration, vectorised over parameter sets.

:class:`Problem` turns a :class:`~sdrev.calibrate.spec.CalibrationSpec` into
array functions of ``theta`` (shape ``(sets, parameters)``, one row per
parameter set, columns as ``spec.labels``): the log prior, the log
likelihood and their sum. One call runs every parameter set of every case in
one batch of the ensemble engine (:class:`sdrev.ensemble.Batch`).

The likelihood of each observation (see ``../shared/notes`` on calibrating to
sparse case data, and Sterman 2000, ch. 21, on fitting SD models):

- ``value``: normal errors on the level, or with ``lognormal`` errors normal
  on the log (relative errors); ``sd`` is on that scale.
- ``upper_bound`` / ``lower_bound``: a censored observation, the probability
  that the true value lies on the reported side of the bound.
- ``first_crossing``: the model's first crossing time of the threshold, with
  normal errors of ``sd`` on the time; a run that never crosses within the
  horizon gets the probability that the event lies beyond it (not minus
  infinity, so the sampler can climb out).

A parameter set whose run fails numerically (NaN, inf, or a non-positive
level under lognormal errors) has likelihood zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdrev.calibrate.spec import CalibrationSpec
from sdrev.factors import prior
from sdrev.measures import first_crossing, values_at
from sdrev.observations import Observation

__all__ = ["Problem", "event_times"]


@dataclass(frozen=True)
class _Group:
    """Observations of one kind, variable and case, evaluated together."""

    case: int
    variable: int
    kind: str
    times: np.ndarray
    values: np.ndarray
    sd: np.ndarray          # known sd (NaN where estimated)
    noise: int | None       # column of theta of the estimated sd
    lognormal: bool


def _flat_density(factor):
    """``(lo, hi, log_scale, log density constant)`` of a uniform or log-uniform
    prior (checked against scipy in the tests), else ``None``."""
    lo, hi = factor.range
    if factor.distribution == "uniform":
        return lo, hi, False, -np.log(hi - lo)
    if factor.distribution == "loguniform":
        return lo, hi, True, -np.log(np.log(hi) - np.log(lo))
    return None


def event_times(times: np.ndarray, Y: np.ndarray, threshold: float) -> np.ndarray:
    """Each run's first time of reaching ``threshold``: from below for runs that
    start below it, from above for the others (NaN: never within the run)."""
    up = first_crossing(times, Y, threshold, direction="up")
    down = first_crossing(times, Y, threshold, direction="down")
    return np.where(Y[:, 0] < threshold, up, down)


class Problem:
    """Log prior, likelihood and posterior of a calibration spec.

    Parameters
    ----------
    model : Model
    spec : CalibrationSpec
    observations : sequence of Observation, optional
        Those fitted (default: the spec's, less any holdout).
    threads : int, optional
        Threads of the compiled kernel for large calls.
    engine : {"auto", "sdrev", "pysd"}, optional
        As in :func:`sdrev.ensemble.run`; ``"pysd"`` evaluates the same
        likelihood with PySD, run by run (the reference, for benchmarks).

    Attributes
    ----------
    labels : tuple of str
    priors : list
        Frozen scipy distributions, one per label.
    bounds : ndarray, shape (parameters, 2)
        Search bounds of each parameter (the factor's range).
    variables : tuple of str
        Observed variables (Vensim names), in the order of the outputs.
    evaluations : int
        Model runs made so far.
    """

    def __init__(self, model, spec: CalibrationSpec, *, observations=None,
                 threads: int | None = None, engine: str = "auto"):
        from sdrev.ensemble import Batch

        self.model, self.spec = model, spec
        self.labels = spec.labels
        self.priors = [prior(p.factor) for p in spec.parameters]
        self.bounds = np.array([p.factor.range for p in spec.parameters], dtype=float)
        self._flat = [_flat_density(p.factor) for p in spec.parameters]
        obs = tuple(spec.observations if observations is None else observations)
        self.observations = obs
        self.variables = tuple(dict.fromkeys(o.variable for o in obs))
        self.cases = spec.cases
        factor_names = [f.name for f in spec.factors]
        scenario_names = sorted({k for c in spec.cases for k in c.params} - set(factor_names))
        self._columns = factor_names + scenario_names
        defaults = {p.name: p.value for p in model.parameters}
        self._scenario = np.array([[float(c.params.get(k, defaults.get(k, np.nan)))
                                    for k in scenario_names] for c in spec.cases]
                                  ).reshape(len(spec.cases), len(scenario_names))
        self._slots = self._factor_slots()
        events = any(o.kind == "first_crossing" for o in obs)
        outputs = self.variables or tuple(model.key_outputs[:1])
        self.batch = Batch(model, parameters=self._columns, outputs=outputs,
                           saveper=model.time.step if events else None, threads=threads,
                           engine=engine)
        self.times = np.asarray(self.batch.times, dtype=float)
        self._groups = self._group(obs)
        self.evaluations = 0

    @property
    def batch_columns(self) -> tuple[str, ...]:
        """Vensim names of the constants each model run sets, in the order of
        the columns of :meth:`design`."""
        return tuple(self._columns)

    # -- theta -> model runs ---------------------------------------------------------
    def _factor_slots(self) -> np.ndarray:
        """``slots[c, j]``: column of theta holding factor j in case c."""
        labels = {p.label: i for i, p in enumerate(self.spec.parameters)}
        slots = np.zeros((len(self.spec.cases), len(self.spec.factors)), dtype=int)
        for c, case in enumerate(self.spec.cases):
            for j, f in enumerate(self.spec.factors):
                key = f"{f.name}[{case.name}]" if f.name in self.spec.per_case else f.name
                slots[c, j] = labels[key]
        return slots

    def design(self, theta: np.ndarray) -> np.ndarray:
        """The batch's parameter rows: every set for case 0, then case 1, ..."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        n, cases = len(theta), len(self.spec.cases)
        rows = np.empty((cases * n, len(self._columns)))
        k = len(self.spec.factors)
        for c in range(cases):
            block = rows[c * n:(c + 1) * n]
            block[:, :k] = theta[:, self._slots[c]]
            block[:, k:] = self._scenario[c]
        return rows

    def simulate(self, theta) -> np.ndarray:
        """Outputs for each set and case: shape ``(variables, cases, sets, times)``."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        out = self.batch(self.design(theta))
        self.evaluations += out.shape[1]
        return out.reshape(out.shape[0], len(self.spec.cases), len(theta), out.shape[-1])

    # -- densities ----------------------------------------------------------------------
    def log_prior(self, theta) -> np.ndarray:
        """Sum of the priors' log densities (``-inf`` outside their support)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        total = np.zeros(len(theta))
        with np.errstate(divide="ignore", invalid="ignore"):
            for i, (dist, flat) in enumerate(zip(self.priors, self._flat)):
                if flat is None:
                    total += dist.logpdf(theta[:, i])
                else:  # uniform or log-uniform: the same density without scipy's overhead
                    x = theta[:, i]
                    lo, hi, log_scale, density = flat
                    inside = (x >= lo) & (x <= hi)
                    value = density - (np.log(np.where(inside, x, 1.0)) if log_scale else 0.0)
                    total += np.where(inside, value, -np.inf)
        return np.where(np.isnan(total), -np.inf, total)

    def log_likelihood(self, theta, *, outputs: np.ndarray | None = None) -> np.ndarray:
        """Log likelihood of each parameter set (runs the model unless given ``outputs``)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        Y = self.simulate(theta) if outputs is None else outputs
        total = np.zeros(len(theta))
        with np.errstate(all="ignore"):
            for g in self._groups:
                total += self._group_loglik(g, Y[g.variable, g.case], theta)
        return np.where(np.isfinite(total), total, -np.inf)

    def log_posterior(self, theta) -> np.ndarray:
        """Log prior plus log likelihood; the model runs only where the prior is positive."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        lp = self.log_prior(theta)
        ok = np.isfinite(lp)
        if ok.any():
            lp[ok] += self.log_likelihood(theta[ok])
        return lp

    def _group_loglik(self, g: _Group, Y: np.ndarray, theta: np.ndarray) -> np.ndarray:
        from scipy.special import log_ndtr

        sd = g.sd[None, :] if g.noise is None else theta[:, [g.noise]]
        if g.kind == "first_crossing":
            t_end = self.times[-1]
            ll = np.zeros(len(Y))
            for k, (t_obs, threshold) in enumerate(zip(g.times, g.values)):
                t_model = event_times(self.times, Y, threshold)
                s = sd[:, min(k, sd.shape[1] - 1)]
                hit = -0.5 * ((t_obs - t_model) / s) ** 2 - np.log(s * np.sqrt(2 * np.pi))
                ll += np.where(np.isnan(t_model), log_ndtr((t_obs - t_end) / s), hit)
            return ll
        mu = values_at(self.times, Y, g.times)
        obs = g.values[None, :]
        if g.lognormal:
            mu, obs = np.log(np.where(mu > 0, mu, np.nan)), np.log(obs)
        z = (obs - mu) / sd
        if g.kind == "value":
            terms = -0.5 * z ** 2 - np.log(sd * np.sqrt(2 * np.pi))
            if g.lognormal:  # density of the observation itself, not of its log
                terms = terms - obs
        elif g.kind == "upper_bound":   # the true value lies below the bound
            terms = log_ndtr(z)
        else:                           # lower_bound: above it
            terms = log_ndtr(-z)
        return np.where(np.isnan(terms), -np.inf, terms).sum(axis=1)

    def _group(self, obs) -> list[_Group]:
        cases = {c.name: i for i, c in enumerate(self.spec.cases)}
        noise = {p.noise: i for i, p in enumerate(self.spec.parameters) if p.noise}
        keyed: dict[tuple, list[Observation]] = {}
        for o in obs:
            estimated = o.sd is None and o.kind != "first_crossing"
            keyed.setdefault((cases[o.case], self.variables.index(o.variable), o.kind,
                              estimated), []).append(o)
        groups = []
        for (case, var, kind, estimated), items in keyed.items():
            name = self.variables[var]
            groups.append(_Group(
                case=case, variable=var, kind=kind,
                times=np.array([o.time for o in items]),
                values=np.array([o.value for o in items]),
                sd=np.array([np.nan if o.sd is None else o.sd for o in items]),
                noise=noise[name] if estimated else None,
                lognormal=self.spec.errors.get(name) == "lognormal" and kind != "first_crossing"))
        return groups

    # -- predictions ---------------------------------------------------------------------
    def predict(self, theta, observations, *, seed: int = 0) -> np.ndarray:
        """Predictive draws of each observation: shape ``(sets, observations)``.

        The model's value (or event time) under each parameter set plus a draw
        of its measurement error; for bounds, the predicted value itself.
        """
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        Y = self.simulate(theta)
        rng = np.random.default_rng(seed)
        cases = {c.name: i for i, c in enumerate(self.spec.cases)}
        noise = {p.noise: i for i, p in enumerate(self.spec.parameters) if p.noise}
        out = np.empty((len(theta), len(observations)))
        for k, o in enumerate(observations):
            traj = Y[self.variables.index(o.variable), cases[o.case]]
            sd = (np.full(len(theta), o.sd) if o.sd is not None
                  else theta[:, noise[o.variable]])
            if o.kind == "first_crossing":
                point = event_times(self.times, traj, o.value)
            else:
                point = values_at(self.times, traj, [o.time])[:, 0]
            if o.kind in ("upper_bound", "lower_bound"):
                out[:, k] = point
            elif self.spec.errors.get(o.variable) == "lognormal" and o.kind == "value":
                with np.errstate(all="ignore"):
                    out[:, k] = np.exp(np.log(point) + rng.normal(0, 1, len(theta)) * sd)
            else:
                out[:, k] = point + rng.normal(0, 1, len(theta)) * sd
        return out
