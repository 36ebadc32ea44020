"""The explorer's redraw path: what runs between a slider's release and the new plot.

A subscripted model runs on the numpy engine, whose cost is its time loop:
every key output of a run (scalar beside subscripted) comes from one engine
call (:meth:`sdrev.ensemble.Batch.each`), not one call per output shape, and
a moved slider's every position is run in that one call, so the next value
along the slider is looked up.
"""

from __future__ import annotations

import numpy as np
import pytest

import sdrev.ensemble.engine as engine
from sdrev.ensemble import Batch
from sdrev.explore import Control, Explorer

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


@pytest.mark.slow
def test_a_moved_slider_runs_its_track_once_and_each_position_equals_its_run(mne, monkeypatch):
    assert mne.tracks  # subscripted: the numpy engine
    mne._tracks.clear()
    control = next(c for c in mne.controls if not c.switch)
    other = next(c for c in mne.controls if not c.switch and c is not control)
    positions = control.positions
    calls = _counting(monkeypatch)
    first = mne.run({control.name: float(positions[40])}, mne.baseline_scenario,
                    along=control.name)
    assert calls == [1]  # the release itself: one run
    assert mne.prepare_track({control.name: float(positions[40])}, mne.baseline_scenario,
                             along=control.name)
    assert calls == [1, len(positions)]  # then the whole track in one call
    second = mne.run({control.name: float(positions[150])}, mne.baseline_scenario,
                     along=control.name)
    assert calls == [1, len(positions)]  # looked up
    alone = mne.run({control.name: float(positions[150])}, mne.baseline_scenario)
    assert calls == [1, len(positions), 1]
    np.testing.assert_array_equal(second.values, alone.values)
    assert not np.array_equal(first.values, second.values)
    # another setting moved: the track no longer holds
    moved = {control.name: float(positions[150]), other.name: float(other.positions[10])}
    mne.run(moved, mne.baseline_scenario, along=control.name)
    assert calls[-1] == 1
    # a value between positions (typed, linked) has no track
    assert not mne.prepare_track({control.name: float(positions[7] + 0.5 * control.step)},
                                 mne.baseline_scenario, along=control.name)
    assert calls == [1, len(positions), 1, 1]


@pytest.mark.slow
def test_a_kernel_model_runs_one_setting_at_a_time(monkeypatch):
    ex = Explorer("crrc_standards", band_runs=2)
    assert not ex.tracks  # the compiled kernel's cost grows with the runs
    control = next(c for c in ex.controls if not c.switch)
    calls = _counting(monkeypatch)
    assert not ex.prepare_track({control.name: float(control.positions[30])},
                                ex.baseline_scenario, along=control.name)
    ex.run({control.name: float(control.positions[30])}, ex.baseline_scenario,
           along=control.name)
    assert calls == [1]


def test_a_slider_value_a_bit_off_its_position_is_that_position():
    control = Control("Gain", "gain", "Group", "Dmnl", 0.2, 1.5, 0.5, False, "")
    position = float(control.positions[180])
    assert position == 0.2 + 180 * control.step
    browser = float(np.nextafter(position, 0.0))  # the last bit differs
    assert browser != position and control.snap(browser) == position
    between = position + 0.25 * control.step  # typed or linked: kept as given
    assert control.snap(between) == between
    assert control.positions[-1] == 1.5 and control.snap(1.5) == 1.5


@pytest.mark.parametrize("attr", ["value_throttled", "value"])
def test_a_slider_change_is_not_held_for_panels_debounce(attr):
    """Panel waits 50 ms after a change from the browser before its callbacks run; the
    explorer's sliders are handled on the server's next turn instead."""
    pn = pytest.importorskip("panel")
    import weakref

    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from sdrev.explore.app import ReleaseSlider

    class Served:  # stands for the session of a served page
        id = "session"

    waits = {}
    for cls in (ReleaseSlider, pn.widgets.FloatSlider):
        doc = Document()
        served = Served()
        doc._session_context = weakref.ref(served)
        slider = cls(start=0.0, end=1.0, value=0.5)
        with set_curdoc(doc):
            model = slider.get_root(doc)
        later, soon = [], []
        doc.add_timeout_callback = lambda callback, ms, later=later: later.append(ms)
        doc.add_next_tick_callback = lambda callback, soon=soon: soon.append(callback)
        with set_curdoc(doc):
            slider._server_change(doc, model.ref["id"], None, attr, 0.5, 0.7)
        waits[cls.__name__] = (later, len(soon))
    assert waits["FloatSlider"] == ([50], 0)  # Panel's own slider: held for 50 ms
    assert waits["ReleaseSlider"] == ([], 1)  # next turn of the server's loop


def test_bcast_of_a_value_already_of_its_shape_is_a_view_without_broadcast_to(monkeypatch):
    import sdrev.ensemble.functions as fn

    calls = []
    real = np.broadcast_to
    monkeypatch.setattr(np, "broadcast_to", lambda *a, **k: calls.append(a) or real(*a, **k))
    stock = np.arange(8.0).reshape(2, 4)
    view = fn.bcast(stock, (4,))
    assert calls == []  # the numpy engine calls bcast dozens of times a step
    np.testing.assert_array_equal(view, stock)
    assert np.shares_memory(view, stock) and not view.flags.writeable  # as broadcast_to gives
    scalar = fn.bcast(np.array([1.5, 2.5]).reshape(2, 1), (4,))  # a value per run: broadcast
    assert len(calls) == 1 and scalar.shape == (2, 4) and not scalar.flags.writeable
    np.testing.assert_array_equal(scalar, [[1.5] * 4, [2.5] * 4])


@pytest.mark.slow
def test_a_release_in_the_page_keeps_the_track_for_the_next_release(mne, monkeypatch):
    pytest.importorskip("panel")
    from sdrev.explore.app import ExploreSession

    mne._tracks.clear()
    session = ExploreSession(mne)
    control = next(c for c in mne.controls if not c.switch)
    positions = control.positions
    calls = _counting(monkeypatch)
    session._on_control(control.name, float(positions[60]), along=True)
    assert calls == [1, len(positions)]  # the release's run, then its slider's track
    session._on_control(control.name, float(positions[120]), along=True)
    assert calls == [1, len(positions)]  # the next release along it: looked up
    plotted = np.array(session.source.data["current_0"])
    alone = mne.run({**session.values, control.name: float(positions[120])}, session.scenario)
    np.testing.assert_array_equal(plotted, alone.values[0])
