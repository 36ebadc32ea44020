"""The browser explorer (`sdrev explore`): its engine, its page, and a real browser.

The browser tests start ``sdrev explore`` in a subprocess on a free local
port and drive Debian's Chromium headless through Playwright's sync API
(pointed at the system's executable: nothing is downloaded). They are
skipped, with the reason, where Playwright or Chromium is missing (set
``SDREV_CHROMIUM`` to a browser binary to choose one).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

import sdrev
from sdrev.errors import InvalidValueError, UnknownNameError
from sdrev.explore import Explorer, RunFailedError
from sdrev.explore.groups import DEFAULT_GROUP, mdl_groups

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def crrc():
    return Explorer("crrc_standards", band_runs=200)


def _within(explorer, name: str, fraction: float) -> float:
    """A round value at ``fraction`` of a control's documented range."""
    c = explorer.control(name)
    return round(c.low + fraction * (c.high - c.low), 6)


# -- the engine ---------------------------------------------------------------------------

def test_controls_are_the_ranged_constants_grouped_as_in_the_model(crrc):
    model = crrc.model
    ranged = [p.name for p in model.parameters
              if p.range is not None and p.range[0] < p.range[1]
              and not isinstance(p.value, Mapping)]
    assert [c.name for c in crrc.controls] == ranged
    assert set(crrc.held) == {p.name for p in model.parameters} - set(ranged)
    groups = {c.group for c in crrc.controls}
    assert groups == {"Capability engine", "Strategic guiding", "Standard innovation",
                      "Ecology rebuilding", "Standards influence"}
    assert crrc.control("Strategic Guiding Switch").group == "Strategic guiding"
    assert {c.name for c in crrc.controls if c.switch} == {
        "Strategic Guiding Switch", "Ecology Rebuilding Switch"}
    rd = crrc.control("r_and_d_spending")  # snake_case finds it too
    assert (rd.low, rd.high) == model.parameter("R and D Spending").range


def test_groups_of_a_file_without_sections(tmp_path):
    path = tmp_path / "plain.mdl"
    path.write_text("{UTF-8}\nA = 1\n ~ Dmnl [0,2]\n ~ |\n", encoding="utf-8")
    assert mdl_groups(path, ["A"]) == {"A": DEFAULT_GROUP}
    assert mdl_groups(tmp_path / "model.xmile", ["A"]) == {"A": DEFAULT_GROUP}


def test_values_outside_the_documented_range_are_refused(crrc):
    rd = crrc.control("R and D Spending")
    with pytest.raises(InvalidValueError, match=re.escape(
            f"R and D Spending = 5 is outside its documented range [{rd.low:g}, {rd.high:g}]")):
        crrc.check("R and D Spending", 5)
    with pytest.raises(InvalidValueError, match="switch: 0 or 1"):
        crrc.check("Strategic Guiding Switch", 0.5)
    with pytest.raises(InvalidValueError, match="finite number"):
        crrc.check("R and D Spending", "nan")
    with pytest.raises(UnknownNameError, match="R and D Spending"):
        crrc.check("R and D Spendin", rd.default)
    with pytest.raises(InvalidValueError):  # nothing is run
        crrc.run({"R and D Spending": rd.low - 1.0}, "baseline")


def test_a_run_equals_pysd_with_the_same_setting(crrc):
    value = _within(crrc, "R and D Spending", 0.8)
    run = crrc.run({"R and D Spending": value}, "no_ecology_rebuilding")
    frame = sdrev.simulate(crrc.model, scenario="no_ecology_rebuilding",
                                params={"R and D Spending": value})
    np.testing.assert_allclose(run.times, frame.index.to_numpy())
    for s, series in enumerate(crrc.series):
        np.testing.assert_allclose(run.values[s], frame[series.key].to_numpy(),
                                   rtol=1e-6, atol=1e-9)


def test_outcomes_differ_from_baseline_as_the_runs_do(crrc):
    values = {"R and D Spending": crrc.control("R and D Spending").high}
    run = crrc.run(values, "baseline")
    rows = crrc.outcomes(run, values, "baseline")
    base = crrc.baseline()
    assert [r.series.label for r in rows] == list(crrc.model.key_outputs)
    for s, row in enumerate(rows):
        assert row.final == pytest.approx(run.values[s][-1])
        assert row.final_baseline == pytest.approx(base.values[s][-1])
        assert row.final_difference == pytest.approx(run.values[s][-1] - base.values[s][-1])
        first, last = base.values[s][0], base.values[s][-1]
        assert row.threshold == pytest.approx(first + 0.5 * (last - first))
        hit = np.flatnonzero(run.values[s] >= row.threshold)
        if hit.size:  # interpolated between the saved times around the first hit
            assert run.times[hit[0] - 1] <= row.reached <= run.times[hit[0]]
    same = crrc.outcomes(base, crrc.scenario_values("baseline"), "baseline")
    assert all(r.final_difference == 0 and r.reached_difference == 0 for r in same)


def test_a_declared_threshold_follows_its_constant():
    ex = Explorer("machine_tool_io", band_runs=50)
    row = next(r for r in ex.outcomes(ex.baseline(), {}, "baseline")
               if r.series.output == "Technological Capability")
    assert row.threshold == ex.model.parameter("Upgrading Capability Threshold").value
    values = {"Upgrading Capability Threshold": ex.control(
        "Upgrading Capability Threshold").high}
    run = ex.run(values, "baseline")
    moved = next(r for r in ex.outcomes(run, values, "baseline")
                 if r.series.output == "Technological Capability")
    assert moved.threshold == values["Upgrading Capability Threshold"]
    assert not moved.reached <= row.reached  # a higher bar is reached later (or never)


def test_the_band_varies_only_the_constants_not_moved(crrc):
    values = crrc.scenario_values("baseline")
    band = crrc.band(values, "baseline")
    run = crrc.baseline()
    assert band.shape == (3, len(crrc.series), len(crrc.times))
    assert (band[0] <= band[2]).all() and (band[0, :, -1] < band[2, :, -1]).any()
    low = crrc.control("R and D Spending").low
    moved = crrc.band(dict(values, **{"R and D Spending": low}), "baseline")
    assert not np.allclose(moved, band)
    assert np.isfinite(band).all() and np.isfinite(run.values).all()


def test_a_posterior_gives_the_band(tmp_path):
    ex_plain = Explorer("crrc_standards", band_runs=100)
    rd = ex_plain.control("R and D Spending")
    folder = tmp_path / "calibration"
    folder.mkdir()
    draws = pd.DataFrame({"R and D Spending": np.linspace(rd.low, rd.high, 40),
                          "log_posterior": 0.0})
    draws.to_csv(folder / "posterior.csv", index=False)
    ex = Explorer("crrc_standards", posterior=folder, band_runs=100)
    values = ex.scenario_values("baseline")
    band = ex.band(values, "baseline")
    lows = ex.run(dict(values, **{"R and D Spending": rd.low}), "baseline").values
    highs = ex.run(dict(values, **{"R and D Spending": rd.high}), "baseline").values
    s = 0  # Standards Influence: the band lies between the runs at the draws' ends
    edge_lo = np.minimum(lows[s], highs[s]) - 1e-9
    edge_hi = np.maximum(lows[s], highs[s]) + 1e-9
    assert ((band[0, s] >= edge_lo) & (band[2, s] <= edge_hi)).all()
    assert not np.allclose(band, ex_plain.band(values, "baseline"))


def test_csv_holds_the_current_run_and_the_baseline(crrc):
    values = {"R and D Spending": _within(crrc, "R and D Spending", 0.3)}
    run = crrc.run(values, "baseline")
    table = pd.read_csv(io.StringIO(crrc.csv(run)))
    assert set(table["run"]) == {"current", "baseline"}
    current = table[table["run"] == "current"]
    np.testing.assert_allclose(current["standards_influence"], run.values[0], rtol=1e-9)
    band = crrc.band(values, "baseline")
    table = pd.read_csv(io.StringIO(crrc.csv(run, band)))
    assert set(table["run"]) == {"current", "baseline", "band_p5", "band_p50", "band_p95"}


def test_loop_periods_name_the_documented_loops(crrc):
    periods = crrc.loop_periods(crrc.scenario_values("baseline"), "baseline")
    assert periods and all(start <= end for _, start, end, _, _ in periods)
    assert periods[0][3] == ("R1",) and periods[0][4] == "R1 strategic guiding"


def test_a_subscripted_model_plots_each_element_as_pysd_does():
    ex = Explorer("mne_reverse_knowledge", band_runs=20)
    labels = [s.label for s in ex.series]
    assert "Subsidiary Capability[sub1]" in labels and "Subsidiary Capability[sub4]" in labels
    assert "Subsidiary Activity Share" in ex.held  # subscripted: no slider
    control = next(c for c in ex.controls if not c.switch)
    value = _within(ex, control.name, 0.8)
    run = ex.run({control.name: value}, ex.baseline_scenario)
    frame = sdrev.simulate(ex.model, scenario=ex.baseline_scenario, params={control.name: value})
    for s, series in enumerate(ex.series):
        np.testing.assert_allclose(run.values[s], frame[series.key].to_numpy(),
                                   rtol=1e-6, atol=1e-9, err_msg=series.label)


# -- the page, without a browser ----------------------------------------------------------

def test_query_round_trip_and_refusals(crrc):
    pytest.importorskip("panel")
    from sdrev.explore.app import parse_query, query_string

    value = _within(crrc, "R and D Spending", 0.25)
    scenario, values, band, refused = parse_query(crrc, {
        "scenario": [b"no_strategic_guiding"], "r_and_d_spending": [repr(value).encode()],
        "influence_gain_rate": [b"99"], "nonsense": [b"1"], "band": [b"1"]})
    assert scenario == "no_strategic_guiding" and band
    assert values["R and D Spending"] == value
    assert values["Strategic Guiding Switch"] == 0.0  # the scenario's value
    assert values["Influence Gain Rate"] == crrc.control("Influence Gain Rate").default
    assert len(refused) == 2 and "outside its documented range" in refused[0]
    query = parse_qs(query_string(crrc, scenario, values, band)[1:])
    assert query == {"scenario": ["no_strategic_guiding"],
                     "r_and_d_spending": [f"{value:.10g}"], "band": ["1"]}
    _, _, _, refused = parse_query(crrc, {"scenario": "nowhere"})
    assert refused == ["unknown scenario 'nowhere'"]


def test_a_failed_run_shows_a_message_and_keeps_the_last_plot(crrc, monkeypatch):
    pytest.importorskip("panel")
    from sdrev.explore.app import ExploreSession

    session = ExploreSession(crrc, {})
    before = np.array(session.source.data["current_0"])

    def fail(values, scenario=None, *, along=None):
        raise RunFailedError("the run gave a non-finite value of Standards Influence")

    monkeypatch.setattr(crrc, "run", fail)
    session.exact_name.value = "R and D Spending"
    session.exact_value.value = str(_within(crrc, "R and D Spending", 0.9))
    session.exact_button.clicks += 1
    assert "The run failed" in session.message.object
    assert "non-finite value" in session.message.object
    np.testing.assert_array_equal(session.source.data["current_0"], before)
    monkeypatch.undo()
    value = _within(crrc, "R and D Spending", 0.7)
    session.exact_value.value = str(value)
    session.exact_button.clicks += 1  # the page goes on working
    assert session.message.object == ""
    assert session.values["R and D Spending"] == value
    assert session.widgets["R and D Spending"].value == value
    session.exact_value.value = "300"
    session.exact_button.clicks += 1
    assert "outside its documented range" in session.message.object
    assert session.values["R and D Spending"] == value


def test_report_args_hold_the_moved_settings_and_the_scenario(crrc, tmp_path):
    value = _within(crrc, "R and D Spending", 0.8)
    scenario = crrc.scenarios[-1]
    args = crrc.report_args({"R and D Spending": value}, scenario, out=tmp_path / "b")
    assert args[:2] == ["report", "crrc_standards"]
    assert args[args.index("--scenarios") + 1].split(",")[0] == scenario
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    assert sets == [f"R and D Spending={value!r}"]  # only what moved away from the scenario
    assert args[-2:] == ["--out", str(tmp_path / "b")]
    with pytest.raises(InvalidValueError, match="outside its documented range"):
        crrc.report_args({"R and D Spending": 1e9}, None, out=tmp_path / "c")


@pytest.mark.slow
def test_open_as_a_brief_writes_the_brief_of_these_settings(crrc, tmp_path, monkeypatch):
    """The page's button runs `sdrev report --set ...` in a process of its own and
    offers the brief; the brief holds the settings the page had."""
    pytest.importorskip("panel")
    from sdrev.explore.app import ExploreSession

    full = crrc.report_args

    def quick(values, scenario=None, *, out):  # the same brief, with fewer runs
        args = full(values, scenario, out=out)
        return [*args[:-2], "--no-pdf", "--no-loops", "--no-uncertainty", "-N", "16", *args[-2:]]

    monkeypatch.setattr(crrc, "report_args", quick)
    monkeypatch.chdir(tmp_path)  # the default run folder: results/crrc_standards/brief-...
    session = ExploreSession(crrc, {"scenario": ECOLOGY_OFF,  # the ecology switch on from 2012.5
                                    "ecology_rebuilding_switch": "1",
                                    "ecology_rebuilding_switch@time": "2012.5"})
    value = _within(crrc, "R and D Spending", 0.8)
    session.exact_name.value = "R and D Spending"
    session.exact_value.value = str(value)
    session.exact_button.clicks += 1
    session.brief_button.clicks += 1
    assert session.brief_job is not None and not session.brief_job.running
    assert "Brief written to" in session.message.object, session.message.object
    assert session.brief_download.visible
    folder = session.brief_job.folder
    assert folder.resolve().is_relative_to(tmp_path.resolve())
    assert session.brief_download.file == str(folder / "brief.html")
    html = (folder / "brief.html").read_text()
    assert "Settings of this brief" in html and f"R and D Spending = {value:g}" in html
    assert f"{ECOLOGY} = 1 from 2012.5" in html
    import json

    from sdrev.scenario import resolve_variable
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["settings"] == {"R and D Spending": value,
                                    ECOLOGY: {"value": 1.0, "at": 2012.5}}
    # the brief's reference run is the page's: the switch steps on at 2012.5
    frame = sdrev.simulate(crrc.model, scenario=ECOLOGY_OFF,
                           params={"R and D Spending": value, ECOLOGY: "1@2012.5"})
    first = manifest["compared_runs"][0]
    for row in (r for r in manifest["outcomes"] if r["label"] == first):
        key = resolve_variable(crrc.model, row["output"]).py_name
        assert row["final_value"] == pytest.approx(frame[key].iloc[-1], rel=1e-9)


def test_cli_says_how_to_install_the_extra(monkeypatch, capsys):
    import sdrev.explore
    from sdrev.cli import main

    monkeypatch.setattr(sdrev.explore, "available", lambda: False)
    assert main(["explore", "crrc_standards"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install "sdrev[explore]"' in err[0]


def test_cli_unknown_model_is_one_line(capsys):
    from sdrev.cli import main

    assert main(["explore", "no_such_model"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such_model" in err[0]


def test_cli_refuses_an_address_it_cannot_serve_on(capsys):
    pytest.importorskip("panel")
    from sdrev.cli import main

    assert main(["explore", "crrc_standards", "--host", "256.0.0.1", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot serve on '256.0.0.1'" in err[0]


def test_cli_refuses_a_bad_port(capsys):
    from sdrev.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["explore", "crrc_standards", "--port", "70000"])
    assert exc.value.code == 2
    assert "invalid port '70000'" in capsys.readouterr().err


# -- a real browser -----------------------------------------------------------------------

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: Longest wait for the server to compile the model and listen (fresh cache, busy CI).
SERVER_START = 240
#: Longest wait for a page to load or redraw.
PAGE_WAIT_MS = 60_000


def _chromium() -> str | None:
    env = os.environ.get("SDREV_CHROMIUM")
    if env:
        return shutil.which(env)
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set SDREV_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright is not installed (the test extra)")
    pytest.importorskip("panel", reason="Panel is not installed (the explore extra)")
    manager = sync_api.sync_playwright().start()
    try:
        chromium = manager.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS,
                                           headless=True)
    except Exception as exc:  # a Chromium Playwright cannot drive
        manager.stop()
        pytest.skip(f"Chromium at {executable} cannot be driven by Playwright: {exc}")
    yield chromium
    chromium.close()
    manager.stop()


@pytest.fixture(scope="module")
def server(browser):
    """`sdrev explore crrc_standards` on a free local port; stopped at the end."""
    from sdrev.explore.server import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sdrev.cli", "explore", "crrc_standards", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    lines: list[str] = []
    ready = threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line)
            if "serving crrc_standards at" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not ready.wait(SERVER_START):
            pytest.fail(f"sdrev explore did not start within {SERVER_START} s: "
                        + "".join(lines)[-2000:])
        url = re.search(r"at (http://\S+)", "".join(lines)).group(1)
        assert url == f"http://127.0.0.1:{port}/"  # loopback by default
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        reader.join(timeout=10)
        proc.stdout.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                  accept_downloads=True)
    outside = []
    context.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]).*"),
                  lambda route: (outside.append(route.request.url), route.abort()))
    page = context.new_page()
    page.set_default_timeout(PAGE_WAIT_MS)
    yield page
    context.close()
    assert not outside, f"the page asked for resources off this machine: {outside[:3]}"


def _open(page, url: str):
    page.goto(url)
    page.wait_for_function(
        "() => window.Bokeh && Bokeh.documents.length > 0"
        " && Bokeh.documents[0].get_model_by_name('sdrev-trajectories')")
    page.wait_for_selector(".noUi-handle", state="attached")


def _plotted(page) -> dict[str, np.ndarray]:
    data = page.evaluate(
        "() => { const d = Bokeh.documents[0].get_model_by_name('sdrev-trajectories').data;"
        " const out = {}; for (const k of Object.keys(d)) out[k] = Array.from(d[k]);"
        " return out; }")
    return {k: np.asarray(v, dtype=float) for k, v in data.items()}


def _wait_for_change(page, column: str, before: np.ndarray) -> None:
    page.wait_for_function(
        "([col, first]) => { const d = Bokeh.documents[0]"
        ".get_model_by_name('sdrev-trajectories').data[col];"
        " return Array.from(d).some((v, i) => Math.abs(v - first[i]) > 1e-12); }",
        arg=[column, before.tolist()])


def _slider_value(page, name: str) -> float | None:
    """The value of the slider titled ``name`` (None: no such slider)."""
    return page.evaluate(
        "(name) => { const m = Bokeh.documents[0].all_models.values().find("
        "m => m.type === 'Slider' && m.title.startsWith(name + ' ('));"
        " return m === undefined ? null : m.value; }", name)


def _query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def _assert_matches_pysd(plotted, scenario, params):
    model = sdrev.load("crrc_standards")
    frame = sdrev.simulate(model, scenario=scenario, params=params)
    for s, name in enumerate(model.key_outputs):
        key = next(v.py_name for v in model.variables if v.name == name)
        np.testing.assert_allclose(plotted[f"current_{s}"], frame[key].to_numpy(),
                                   rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.slow
def test_moving_a_slider_redraws_the_run_pysd_gives(server, page):
    _open(page, server)
    before = _plotted(page)
    np.testing.assert_allclose(before["current_0"], before["baseline_0"])
    page.get_by_text("Capability engine", exact=True).click()
    handle = page.locator(".sdrev-control-r_and_d_spending .noUi-handle")
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y, steps=5)
    page.mouse.up()
    _wait_for_change(page, "current_0", before["current_0"])
    page.wait_for_function("() => window.location.search.includes('r_and_d_spending=')")
    query = _query(page)
    value = float(query["r_and_d_spending"])
    assert value > sdrev.load("crrc_standards").parameter("R and D Spending").value
    after = _plotted(page)
    np.testing.assert_allclose(after["baseline_0"], before["baseline_0"])
    _assert_matches_pysd(after, "baseline", {"R and D Spending": value})
    table = page.locator(".sdrev-table").inner_text()
    assert "Standards Influence" in table


@pytest.mark.slow
def test_a_shared_url_restores_the_settings(server, page, crrc):
    value = _within(crrc, "R and D Spending", 0.75)
    _open(page, server + f"?scenario=no_strategic_guiding&r_and_d_spending={value}")
    plotted = _plotted(page)
    _assert_matches_pysd(plotted, "no_strategic_guiding", {"R and D Spending": value})
    assert page.locator(".sdrev-error").count() == 0
    assert page.locator("select").first.input_value() == "no_strategic_guiding"
    assert _slider_value(page, "R and D Spending") == pytest.approx(value)
    switch = crrc.control("Strategic Guiding Switch")
    assert _slider_value(page, switch.name) is None  # a toggle, not a slider
    assert page.evaluate(
        "(name) => Bokeh.documents[0].all_models.values().find("
        "m => m.type === 'Checkbox' && m.label.startsWith(name)).active", switch.name) is False


@pytest.mark.slow
def test_out_of_range_values_are_refused(server, page, crrc):
    rd = crrc.control("R and D Spending")
    _open(page, server + f"?r_and_d_spending={rd.high + 5:g}")
    message = page.locator(".sdrev-message .sdrev-error")
    message.get_by_text("outside its documented range").wait_for()
    assert f"R and D Spending = {rd.high + 5:g}" in message.inner_text()
    plotted = _plotted(page)
    np.testing.assert_allclose(plotted["current_0"], plotted["baseline_0"])
    # typed into the page: refused by the server, nothing runs
    page.locator(".sdrev-exact-name select").select_option("R and D Spending")
    page.locator(".sdrev-exact-value input").fill(f"{rd.low - 3:g}")
    page.locator(".sdrev-exact-set button").click()
    message.get_by_text(f"R and D Spending = {rd.low - 3:g} is outside").wait_for()
    np.testing.assert_allclose(_plotted(page)["current_0"], plotted["baseline_0"])
    assert "r_and_d_spending" not in _query(page)


@pytest.mark.slow
def test_two_sessions_do_not_share_settings(server, page, browser, crrc):
    value = _within(crrc, "R and D Spending", 0.6)
    _open(page, server)
    other = browser.new_page()
    other.set_default_timeout(PAGE_WAIT_MS)
    try:
        _open(other, server)
        before = _plotted(other)
        page.locator(".sdrev-exact-name select").select_option("R and D Spending")
        page.locator(".sdrev-exact-value input").fill(str(value))
        page.locator(".sdrev-exact-set button").click()
        _wait_for_change(page, "current_0", before["current_0"])
        other.wait_for_timeout(1000)  # time for a (wrong) update to reach the other page
        np.testing.assert_array_equal(_plotted(other)["current_0"], before["current_0"])
        assert "r_and_d_spending" not in _query(other)
        assert float(_query(page)["r_and_d_spending"]) == value
    finally:
        other.close()


@pytest.mark.slow
def test_download_and_loop_strip(server, page, tmp_path, crrc):
    value = _within(crrc, "R and D Spending", 0.4)
    _open(page, server + f"?r_and_d_spending={value}")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download runs (CSV)").click()
    target = tmp_path / "runs.csv"
    info.value.save_as(target)
    table = pd.read_csv(target)
    plotted = _plotted(page)
    current = table[table["run"] == "current"]
    np.testing.assert_allclose(current["standards_influence"], plotted["current_0"],
                               rtol=1e-9)
    page.get_by_role("button", name="Loop dominance for these settings").click()
    page.wait_for_function(
        "() => Bokeh.documents[0].get_model_by_name('sdrev-loop-strip').data.label.length > 0")
    labels = page.evaluate(
        "() => Array.from(Bokeh.documents[0].get_model_by_name('sdrev-loop-strip').data.label)")
    expected = crrc.loop_periods({"R and D Spending": value}, "baseline")
    assert labels == [p[4] for p in expected]
    assert any("strategic guiding" in label for label in labels)


# -- policy timing: a switch on from a chosen time -----------------------------------------

ECOLOGY = "Ecology Rebuilding Switch"
#: the scenario with the ecology switch off: the switch turns it on at a time
ECOLOGY_OFF = "no_ecology_rebuilding"


def _timed(explorer, at: float) -> dict:
    values = explorer.scenario_values(ECOLOGY_OFF)
    values.update({ECOLOGY: 1.0, f"{ECOLOGY}@time": at})
    return values


def _simulated(explorer, params) -> np.ndarray:
    frame = sdrev.simulate(explorer.model, scenario=ECOLOGY_OFF, params=params)
    return np.stack([frame[s.key].to_numpy() for s in explorer.series])


def test_a_switch_on_from_a_time_runs_as_simulate_with_the_timed_setting(crrc):
    late = crrc.run(_timed(crrc, 2015.0), ECOLOGY_OFF)
    np.testing.assert_allclose(late.values, _simulated(crrc, {ECOLOGY: "1@2015"}),
                               rtol=0, atol=1e-9)
    start = crrc.run(_timed(crrc, crrc.model.time.initial), ECOLOGY_OFF)  # the default
    np.testing.assert_allclose(start.values, _simulated(crrc, {ECOLOGY: 1}), rtol=0, atol=1e-9)
    before = crrc.times < 2015
    np.testing.assert_array_equal(late.values[:, before],
                                  crrc.run(crrc.scenario_values(ECOLOGY_OFF),
                                           ECOLOGY_OFF).values[:, before])
    assert np.abs(late.values - start.values).max() > 1e-3
    assert crrc.timed_settings(_timed(crrc, 2015.0), ECOLOGY_OFF) == {ECOLOGY: "1.0@2015.0"}


def test_switch_times_in_the_link_and_their_refusals(crrc):
    pytest.importorskip("panel")
    from sdrev.explore.app import parse_query, query_string

    query = query_string(crrc, ECOLOGY_OFF, _timed(crrc, 2012.5), False)
    args = parse_qs(query[1:])
    assert args["ecology_rebuilding_switch@time"] == ["2012.5"]
    scenario, values, _, refused = parse_query(crrc, args)
    assert (scenario, refused) == (ECOLOGY_OFF, [])
    assert values[f"{ECOLOGY}@time"] == 2012.5 and values[ECOLOGY] == 1.0
    _, values, _, refused = parse_query(crrc, {"ecology_rebuilding_switch@time": "1999",
                                               "r_and_d_spending@time": "2010"})
    assert values[f"{ECOLOGY}@time"] == crrc.model.time.initial
    assert "[INITIAL TIME, FINAL TIME] = [2000, 2040]" in refused[0]
    assert "only switches" in refused[1]
    args = crrc.report_args(_timed(crrc, 2012.5), ECOLOGY_OFF, out="unused")
    assert [args[i + 1] for i, a in enumerate(args) if a == "--set"] == [f"{ECOLOGY}=1.0@2012.5"]


def test_the_loop_strip_of_a_switch_on_from_a_time_follows_the_run_with_the_step(crrc):
    """The loops of the timed run: the off scenario's until the switch, then others."""
    timed = crrc.loop_periods(_timed(crrc, 2012.5), ECOLOGY_OFF)
    off = crrc.loop_periods(crrc.scenario_values(ECOLOGY_OFF), ECOLOGY_OFF)

    def until(periods, t):
        return [(p, s, min(e, t), ids) for p, s, e, ids, _ in periods if s < t]

    assert until(timed, 2012) == until(off, 2012)
    assert [p[:4] for p in timed] != [p[:4] for p in off]


@pytest.mark.slow
def test_changing_a_switch_time_in_the_page_redraws_simulates_timing(server, page, crrc):
    _open(page, server + f"?scenario={ECOLOGY_OFF}&ecology_rebuilding_switch=1")
    on_from_start = _plotted(page)
    np.testing.assert_allclose(np.stack([on_from_start[f"current_{s}"]
                                         for s in range(len(crrc.series))]),
                               _simulated(crrc, {ECOLOGY: 1}), rtol=1e-6, atol=1e-9)
    label = f"{ECOLOGY} on from (Year)"
    page.locator(".sdrev-exact-name select").select_option(label=label)
    page.locator(".sdrev-exact-value input").fill("2018")
    page.locator(".sdrev-exact-set button").click()
    _wait_for_change(page, "current_0", on_from_start["current_0"])
    page.wait_for_function("() => window.location.search.includes('40time=2018')")
    assert _query(page)["ecology_rebuilding_switch@time"] == "2018"
    later = _plotted(page)
    np.testing.assert_allclose(np.stack([later[f"current_{s}"]
                                         for s in range(len(crrc.series))]),
                               _simulated(crrc, {ECOLOGY: "1@2018"}), rtol=1e-6, atol=1e-9)
    assert page.evaluate(
        "(title) => Bokeh.documents[0].all_models.values().find("
        "m => m.type === 'Slider' && m.title === title).value", label) == 2018
    assert page.locator(".sdrev-error").count() == 0
