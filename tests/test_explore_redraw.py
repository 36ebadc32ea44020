"""The explorer's redraw path: what runs between a slider's release and the new plot.

A subscripted model runs on the numpy engine, whose cost is its time loop:
every key output of a run (scalar beside subscripted) comes from one engine
call (:meth:`sdrev.ensemble.Batch.each`), not one call per output shape.
"""

from __future__ import annotations

import numpy as np
import pytest

import sdrev.ensemble.engine as engine
from sdrev.ensemble import Batch
from sdrev.explore import Explorer

MNE = "mne_reverse_knowledge"


@pytest.fixture(scope="module")
def mne():
    return Explorer(MNE, band_runs=4)


def _counting(monkeypatch) -> list:
    calls = []
    real = engine.simulate_chunk

    def counted(*args, **kwargs):
        calls.append(args[2])  # runs in the call
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "simulate_chunk", counted)
    return calls


@pytest.mark.slow
def test_batch_each_returns_outputs_of_every_shape_from_one_time_loop(mne, monkeypatch):
    scalar, subscripted = "Technological Capability", "Subsidiary Capability"
    control = next(c for c in mne.controls if not c.switch)
    rows = np.array([[control.low], [control.high]])
    both = Batch(mne.model, parameters=[control.name], outputs=[scalar, subscripted])
    calls = _counting(monkeypatch)
    data = both.each(rows)
    assert calls == [2]  # one time loop for both shapes
    assert data["technological_capability"].shape == (2, len(mne.times))
    assert data["subsidiary_capability"].shape == (2, len(mne.times), 4)
    with pytest.raises(ValueError):  # what __call__ cannot do: stack unequal shapes
        both(rows)
    for name, py in ((scalar, "technological_capability"),
                     (subscripted, "subsidiary_capability")):
        alone = Batch(mne.model, parameters=[control.name], outputs=[name])(rows)[0]
        np.testing.assert_array_equal(data[py], alone)
    # the two ends of the range give different runs: the rows reach the engine
    assert not np.array_equal(data["subsidiary_capability"][0], data["subsidiary_capability"][1])


@pytest.mark.slow
def test_a_run_of_a_subscripted_model_is_one_engine_call(mne, monkeypatch):
    assert {len(s.label) > len(s.output) for s in mne.series} == {True, False}  # both kinds
    control = next(c for c in mne.controls if not c.switch)
    calls = _counting(monkeypatch)
    run = mne.run({control.name: control.low + 0.3 * (control.high - control.low)},
                  mne.baseline_scenario)
    assert calls == [1]
    assert run.values.shape == (len(mne.series), len(mne.times))
    assert np.isfinite(run.values).all()
