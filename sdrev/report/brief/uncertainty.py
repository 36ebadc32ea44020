"""The uncertainty of a brief: scenarios over many plausible parameter sets.

By default the sets are a Latin hypercube over the uncertain quantities of the
model's sensitivity spec (:func:`sdrev.sensitivity.load_spec`; for a model
without one, every documented parameter range), each mapped through its
distribution (:func:`sdrev.factors.prior`); 0/1 policy switches and loop gains
are left out, since they are levers, not uncertain quantities. With a
calibration run folder the sets are its posterior draws
(:func:`sdrev.calibrate.read_posterior`), and the parameters its ``summary.csv``
marks as not identified are named as a caveat. The runs themselves are
:func:`sdrev.compare.scenario_uncertainty` (ensemble engine).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sdrev.errors import InvalidValueError, ModelNotFoundError, NonFiniteError, UnknownNameError

if TYPE_CHECKING:
    from sdrev.compare import Comparison, ScenarioUncertainty
    from sdrev.model import Model
    from sdrev.scenario import Switch

__all__ = ["DEFAULT_UNCERTAINTY_N", "DEFAULT_UNCERTAINTY_SEED", "NOISE_SEED", "OWN",
           "BriefUncertainty", "brief_uncertainty", "default_samples", "noise_statement",
           "posterior_samples", "uncertain_factors"]

#: Parameter sets of the default Latin hypercube.
DEFAULT_UNCERTAINTY_N = 400
#: Its seed.
DEFAULT_UNCERTAINTY_SEED = 20240502
#: Seed of the model's RANDOM functions in the brief's runs: the ensemble
#: engine's default (:func:`sdrev.ensemble.run`), so ``sdrev ensemble --seed 0``
#: replays any of them.
NOISE_SEED = 0
#: Name under which the model's own constants run when it has no scenarios.
OWN = "model_constants"


@dataclass(frozen=True, eq=False)
class BriefUncertainty:
    """Scenario outcomes over many parameter sets, keyed by the brief's labels.

    Attributes
    ----------
    result : ScenarioUncertainty
        With scenario ids replaced by the brief's labels (``bands``,
        ``outcomes`` and ``pairwise``).
    factors : tuple of str
        The constants varied.
    posterior : bool
        Whether the sets are posterior draws (else a Latin hypercube over ranges).
    source : str
    unidentified : tuple of str
        Parameters the calibration did not identify (posterior only).
    seed : int or None
    samples : pandas.DataFrame or None
        The parameter sets (one row each), for the other ensemble parts of the
        brief (loop dominance across the same sets).
    noise_seed : int or None
        For a model with RANDOM functions, the seed of its noise: set ``i``
        draws stream ``i`` of it (:mod:`sdrev.ensemble.noise`) under every
        scenario, so the bands and ranges include the noise; ``None`` for a
        model without.
    """

    result: ScenarioUncertainty
    factors: tuple[str, ...]
    posterior: bool
    source: str
    unidentified: tuple[str, ...] = ()
    seed: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    samples: pd.DataFrame | None = field(default=None, repr=False)
    noise_seed: int | None = None

    @property
    def sets(self) -> int:
        """Parameter sets run under each scenario."""
        return self.result.sets

    @property
    def noise_only(self) -> bool:
        """Whether the sets vary the model's noise alone (a model with RANDOM
        functions and no documented uncertain range: every constant keeps its
        value, each set is one realisation of the noise)."""
        return not self.factors and self.noise_seed is not None

    @property
    def sets_words(self) -> str:
        """How the brief names the sets: ``"plausible parameter sets"``, or
        ``"realisations of the model's noise"`` when only the noise varies."""
        return ("realisations of the model's noise" if self.noise_only
                else "plausible parameter sets")

    @property
    def bands(self) -> pd.DataFrame:
        return self.result.bands

    def outcome(self, output: str, label: str) -> dict | None:
        """``median``, ``lower``, ``upper`` (90% range) of ``output`` under ``label``."""
        o = self.result.outcomes
        row = o[(o["output"] == output) & (o["scenario"] == label)]
        return None if not len(row) else row.iloc[0].to_dict()

    def probability(self, output: str, label: str, other: str) -> float | None:
        """Share of the sets in which ``label`` ends above ``other``."""
        p = self.result.pairwise
        if not len(p):
            return None
        row = p[(p["output"] == output) & (p["scenario"] == label) & (p["other"] == other)]
        return None if not len(row) else float(row["probability"].iloc[0])


def _is_switch(model: Model, name: str, lo: float, hi: float) -> bool:
    value = model.parameter(name).value
    return (lo, hi) == (0.0, 1.0) and isinstance(value, (int, float)) and value in (0, 1)


def uncertain_factors(model: Model, *, fixed: Collection[str] = ()):
    """The factors a brief's default uncertainty varies: the sensitivity spec's
    parameter factors (or, without a spec, every documented range), minus 0/1
    switches, loop gains, the ``[compare]`` regime parameter and the
    constants in ``fixed`` (Vensim names: the brief's own settings)."""
    from sdrev import sensitivity as sa
    from sdrev.compare import compare_defaults
    from sdrev.report.brief.levers import default_spec

    try:
        spec = sa.load_spec(model)
    except ModelNotFoundError:
        spec = default_spec(model)
    gains = {lp.gain for lp in model.loops if lp.gain}
    regime = compare_defaults(model).regime_parameter
    return [f for f in spec.factors
            if f.name not in gains and f.name != regime and f.name not in fixed
            and not _is_switch(model, f.name, *f.range)]


def default_samples(model: Model, *, n: int = DEFAULT_UNCERTAINTY_N,
                    seed: int = DEFAULT_UNCERTAINTY_SEED, band: float | None = None,
                    fixed: Collection[str] = ()) -> pd.DataFrame:
    """A Latin hypercube of ``n`` parameter sets over :func:`uncertain_factors`.

    With ``band``, each factor is confined to ``band`` x its range width on
    either side of the model's value (for models whose full ranges make runs
    diverge).

    Raises
    ------
    InvalidValueError
        If the model has no uncertain factor.
    """
    from scipy.stats import qmc

    from sdrev.factors import prior

    factors = uncertain_factors(model, fixed=fixed)
    if not factors:
        raise InvalidValueError(f"model {model.name} documents no uncertain parameter "
                                "ranges (switches and loop gains are not varied)")
    u = qmc.LatinHypercube(d=len(factors), seed=seed).random(n)
    columns = {}
    for k, f in enumerate(factors):
        values = prior(f).ppf(u[:, k])
        if band is not None:
            lo, hi = f.range
            v = float(model.parameter(f.name).value)
            width = band * (hi - lo)
            a, b = max(lo, v - width), min(hi, v + width)
            values = a + (b - a) * u[:, k]
        columns[f.name] = values
    return pd.DataFrame(columns)


def posterior_samples(model: Model, folder: str | Path, *, n: int = DEFAULT_UNCERTAINTY_N,
                      seed: int = DEFAULT_UNCERTAINTY_SEED) -> tuple[pd.DataFrame, tuple]:
    """Posterior draws of a calibration run folder, and the parameters its
    ``summary.csv`` marks as not identified by the data."""
    from sdrev.calibrate import read_posterior

    draws = read_posterior(folder, model=model, n=n, seed=seed)
    summary = Path(folder) / "summary.csv"
    unidentified: tuple = ()
    if summary.is_file():
        table = pd.read_csv(summary)
        if {"parameter", "identified"} <= set(table.columns):
            flags = table["identified"].astype(str).str.lower().isin(("true", "1"))
            unidentified = tuple(table.loc[~flags, "parameter"].astype(str))
    return draws, unidentified


def brief_uncertainty(model: Model, comparison: Comparison, labels: Mapping[str, str], *,
                      posterior: str | Path | None = None, n: int = DEFAULT_UNCERTAINTY_N,
                      seed: int = DEFAULT_UNCERTAINTY_SEED, fixed: Collection[str] = (),
                      switches: Mapping[str, Switch] | None = None,
                      progress: bool = False) -> tuple[BriefUncertainty, str]:
    """Run the compared scenarios over the default samples or the posterior.

    Parameters
    ----------
    model : Model
    comparison : Comparison
        The brief's comparison (its runs that are plain scenarios are run).
    labels : mapping of str to str
        Scenario id -> the label the brief shows.
    posterior : run folder, optional
    n, seed : int
    fixed : collection of str
        Constants set by the brief's settings (Vensim names): not sampled,
        and dropped from posterior draws.
    switches : mapping of str to Switch, optional
        The brief's timed settings: every set runs them (sample columns
        ``NAME@value`` and ``NAME@time``, :func:`sdrev.scenario.switch_columns`),
        on top of each scenario, whose value the constant keeps before the
        switch time.
    progress : bool

    Returns
    -------
    BriefUncertainty
    note : str
        How the sets were chosen, for the methods appendix.
    """
    from sdrev.compare import scenario_uncertainty
    from sdrev.report.brief.levers import FALLBACK_BAND
    from sdrev.scenario import resolve_variable

    scenarios = [r.scenario for r in comparison.runs if r.scenario is not None and not r.params]
    plain = [r for r in comparison.runs if r.scenario is None and not r.params]
    if not scenarios and plain:
        # the model's own constants (a model without scenarios): run them as one
        from sdrev.scenario import Scenario
        model = replace(model, scenarios={OWN: Scenario(OWN, "the model's own constants", {})})
        scenarios, labels = [OWN], {**labels, OWN: plain[0].label}
    if not scenarios:
        raise InvalidValueError("no compared run is a plain scenario of the model")
    outputs = []
    for out in comparison.outputs:
        try:
            outputs.append(resolve_variable(model, out).name)
        except UnknownNameError:  # a subscript element: not run under uncertainty
            continue
    if not outputs:
        raise InvalidValueError("no compared output is a scalar variable")
    unidentified: tuple = ()
    if posterior is not None:
        samples, unidentified = posterior_samples(model, posterior, n=n, seed=seed)
        samples = samples.drop(columns=[c for c in samples.columns if c in fixed])
        if samples.columns.empty:
            raise InvalidValueError("every calibrated constant is set by --set; the "
                                    "posterior leaves nothing uncertain")
        source = f"{n} posterior draws of the calibration in {Path(posterior).name}"
        note = source
    else:
        try:
            samples = default_samples(model, n=n, seed=seed, fixed=fixed)
            source = f"Latin hypercube of {n} sets over the documented ranges, seed {seed}"
        except InvalidValueError:
            if not _has_noise(model):
                raise
            # nothing documented to vary but the noise: the runs differ in their draws alone
            samples = pd.DataFrame(index=pd.RangeIndex(n))
            source = (f"{n} realisations of the model's random numbers, every constant at "
                      "its value (no uncertain parameter range is documented)")
        note = source
    kw = {"scenarios": scenarios, "outputs": outputs, "progress": progress}
    try:
        result = scenario_uncertainty(model, _timed(samples, switches), source=source, **kw)
        _check_finite(result)
    except NonFiniteError:
        if posterior is not None or samples.columns.empty:
            raise
        samples = default_samples(model, n=n, seed=seed, band=FALLBACK_BAND, fixed=fixed)
        note = (f"{source}; the full ranges gave runs that are not finite, so each parameter "
                f"varies within ±{FALLBACK_BAND:.0%} of its range around its value")
        result = scenario_uncertainty(model, _timed(samples, switches), source=source, **kw)
    _check_finite(result)
    if switches:
        note += "; every set runs the brief's timed settings"
    relabelled = _relabel(result, labels)
    noise_seed = NOISE_SEED if _has_noise(model) else None
    if noise_seed is not None and not samples.columns.empty:
        note += (f"; each set draws its own realisation of the model's random numbers "
                 f"(stream of the set's index, seed {noise_seed}), the same under every "
                 "scenario: bands and ranges include the noise")
    return BriefUncertainty(result=relabelled, factors=tuple(samples.columns),
                            posterior=posterior is not None, source=note,
                            unidentified=unidentified,
                            seed=None if posterior is not None else seed,
                            labels=dict(labels), samples=samples,
                            noise_seed=noise_seed), note


def _timed(samples: pd.DataFrame, switches: Mapping[str, Switch] | None) -> pd.DataFrame:
    """``samples`` with the columns that switch each timed constant in every set."""
    from sdrev.scenario import switch_columns

    columns = {}
    for name, switch in (switches or {}).items():
        value, at = switch_columns(name)
        columns[value], columns[at] = switch.value, switch.at
    return samples.assign(**columns) if columns else samples


def _has_noise(model: Model) -> bool:
    from sdrev.ensemble.stochastic import model_has_noise
    return model_has_noise(model.path)


def noise_statement(unc: BriefUncertainty) -> str:
    """What the uncertainty runs of a model with RANDOM functions do with its
    noise, in words (``""`` for a model without)."""
    if unc.noise_seed is None:
        return ""
    if unc.noise_only:
        return (f"The model draws random numbers and documents no uncertain parameter range, "
                f"so its noise is the uncertainty shown: each of the {unc.sets} runs of a "
                f"scenario is one realisation of it (run i draws stream i of seed "
                f"{unc.noise_seed}, the same under every scenario), with every constant at its "
                "value. The medians, ranges and bands are the spread the noise alone gives, "
                "and scenarios are compared on the same draws.")
    return (f"The model draws random numbers, so each of the {unc.sets} sets is also one "
            f"realisation of its noise: set i draws stream i of seed {unc.noise_seed}, the "
            "same under every scenario. The medians, ranges and bands therefore include the "
            "noise as well as the parameters' uncertainty, and scenarios are compared on the "
            "same draws.")


def _check_finite(result) -> None:
    values = result.outcomes[["median", "lower", "upper"]].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise NonFiniteError("some parameter sets give outcomes that are not finite")


def _relabel(result, labels: Mapping[str, str]):
    def names(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        frame = frame.copy()
        for c in (c for c in columns if c in frame.columns):
            frame[c] = frame[c].map(lambda v: labels.get(v, v))
        return frame

    return replace(result, scenarios=tuple(labels.get(s, s) for s in result.scenarios),
                   bands=names(result.bands, ["scenario"]),
                   outcomes=names(result.outcomes, ["scenario"]),
                   pairwise=names(result.pairwise, ["scenario", "other"]))
