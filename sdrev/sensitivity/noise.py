"""How the noise of a model with RANDOM functions enters a sensitivity analysis.

A model with Vensim's RANDOM functions draws one noise realisation
per run (:mod:`sdrev.ensemble.noise`: a stream keyed by the seed and a
stream index), so its outputs vary even between runs with the same
constants. ``noise`` says how the analysis treats it (:data:`NOISE_MODES`):

* ``"factor"`` (the default for such a model): the noise realisation is a
  factor of its own, :data:`NOISE_FACTOR`, discrete uniform over
  ``noise_realisations`` stream indices (the sample's value, rounded
  down), added to each factor group. Runs whose rows share the seed
  factor's value draw the same noise, so the variance the noise explains is
  the seed factor's index, and the parameters' indices are those of the
  parameters alone. The model becomes a deterministic function of its
  constants and the seed, the seed one more independent input (Hart,
  Alexanderian & Gremaud 2017; Zhu & Sudret 2021 set this extension beside
  the ones built on the output's conditional distribution). A row with
  noise seed ``k`` draws the stream of run ``k`` of ``sdrev ensemble
  --seed S`` (``S`` the analysis's seed).
* ``"fixed"``: every run draws one realisation (stream 0: common random
  numbers); the indices are conditional on that realisation.
* ``"independent"``: each run draws its own realisation (its row's
  position); the noise is variance no factor is given, and with Sobol's
  estimators it is counted in every factor's total index.

The noise seed needs a design in which runs share its value: Sobol's
pick-and-freeze matrices and Morris's one-at-a-time steps
(:data:`NOISE_FACTOR_METHODS`). FAST, RBD-FAST, PAWN and delta estimate an
index from one factor's values alone, and stream numbers carry no order the
noise follows, so there the noise stays independent and the run's warnings
say so. Morris's grid gives the seed its levels only (a handful of
realisations); its mu* is the mean absolute change of the output from one
realisation to another. The loop-knockout runs share stream 0 (with ``"factor"`` and
``"fixed"``): a change is the loop's, not the noise's.

A model without RANDOM functions has no noise: giving ``noise`` for it is
an error.
"""

from __future__ import annotations

from sdrev.errors import InvalidValueError, suggest

__all__ = ["NOISE_FACTOR", "NOISE_FACTOR_METHODS", "NOISE_MODES", "NOISE_REALISATIONS",
           "check_noise"]

#: How the noise of a model with RANDOM functions enters the analysis
#: (see the module's docstring); the first is the default.
NOISE_MODES = ("factor", "fixed", "independent")
#: Methods whose designs can give the noise seed an index: Sobol's pick and
#: freeze (runs that share the seed's value share the noise) and Morris's
#: one-at-a-time steps. The others estimate from each factor's values alone
#: (given data, a search curve), where an index of stream numbers measures
#: nothing: the noise stays independent there, with a warning.
NOISE_FACTOR_METHODS = ("sobol", "morris")
#: Name of the noise-seed factor.
NOISE_FACTOR = "noise seed"
#: Default count of noise realisations the noise-seed factor ranges over.
NOISE_REALISATIONS = 100_000


def check_noise(noise, model: str, *, stochastic: bool) -> str:
    """``noise`` if it is one of :data:`NOISE_MODES` and the model has noise.

    Raises
    ------
    InvalidValueError
        Naming the bad value and the valid ones.
    """
    if noise not in NOISE_MODES:
        raise InvalidValueError(f"unknown noise treatment {noise!r}; valid: "
                                f"{', '.join(NOISE_MODES)}" + suggest(str(noise), NOISE_MODES))
    if not stochastic:
        raise InvalidValueError(f"model {model} has no RANDOM functions: there is no noise to "
                                f"treat as {noise!r}; leave the noise setting out")
    return noise
