"""Policy briefs (sdrev.report.brief): content, words for readers, uncertainty,
HTML in a real browser, the PDF printed from it.

The browser test drives Debian's Chromium headless through its DevTools
protocol over a pipe (``--remote-debugging-pipe``; standard library only); the
PDF is printed by the same Chromium. Both are skipped when no Chromium can be
found (set ``SDREV_CHROMIUM`` to a browser binary to choose one); the PDF page
check needs poppler's ``pdftoppm``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sdrev
from sdrev import compare
from sdrev.report import brief as brief_mod

SECTIONS = list(brief_mod.SECTION_TITLES.values())
NO_REGIME = [t for k, t in brief_mod.SECTION_TITLES.items() if k != "regime"]


@pytest.fixture(scope="module")
def mtio():
    return sdrev.load("machine_tool_io")


@pytest.fixture(scope="module")
def built(mtio):
    """A machine_tool_io brief with every part, from small sensitivity and
    uncertainty runs."""
    return brief_mod.build_brief(mtio, sensitivity_n=64, uncertainty_n=100)


def _has_pdf_engine() -> bool:
    return brief_mod.find_pdf_engine() is not None


@pytest.fixture(scope="module")
def written(built, tmp_path_factory):
    folder = tmp_path_factory.mktemp("brief") / "machine_tool_io"
    brief_mod.write_brief(built, folder, command="test", pdf=_has_pdf_engine())
    return folder


class _Text(HTMLParser):
    """The text a reader sees (no style sheet, no attribute values)."""

    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


SEED_FILE = re.compile(r"seed\s+\S+\.txt|\b\w+_[0-9a-f]{8,}\.(txt|pdf|md)\b", re.I)


def check_reader_text(html: str, model) -> None:
    """What no brief may show a reader: seed file names, raw scenario ids,
    "Dmnl" as a unit."""
    text = visible_text(html)
    assert not SEED_FILE.search(text), SEED_FILE.search(text).group(0)
    for name in model.scenarios:
        if "_" in name:
            assert not re.search(rf"\b{re.escape(name)}\b", text), name
    assert "Dmnl" not in text and "dmnl" not in text


def figure_svgs(html: str) -> dict[str, str]:
    """alt text -> decoded SVG of every embedded figure."""
    out = {}
    for alt_src in re.finditer(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]*)"',
                               html):
        out[alt_src.group(2)] = base64.b64decode(alt_src.group(1)).decode("utf-8")
    return out


class _Outline(HTMLParser):
    """Headings, image sources and external references of an HTML page."""

    def __init__(self):
        super().__init__()
        self.h2, self.images, self.refs, self._in_h2 = [], [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "h2":
            self._in_h2 = True
            self.h2.append("")
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("src", "href"):
            if key in attrs:
                self.refs.append(attrs[key])

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.h2[-1] += data


def _outline(html: str) -> _Outline:
    parser = _Outline()
    parser.feed(html)
    return parser


# -- content ------------------------------------------------------------------------

def test_the_brief_has_every_section_in_order(written):
    page = _outline((written / "brief.html").read_text(encoding="utf-8"))
    assert [h.strip() for h in page.h2] == SECTIONS


def test_how_often_each_mechanism_leads_over_the_parameter_sets(written):
    html = (written / "brief.html").read_text(encoding="utf-8")
    assert "How sure is that order?" in html
    section = html[html.index("How sure is that order?"):]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td class=\"num\">(\d+)%</td></tr>",
                      section[:section.index("</table>")])
    assert rows, "no leading periods"
    assert all(0 < int(share) <= 100 for *_, share in rows)
    assert "plausible parameter sets, the mechanism leading most often" in html


def test_the_html_is_self_contained(written):
    html = (written / "brief.html").read_text(encoding="utf-8")
    page = _outline(html)
    # trajectories, levers, loops, dominance over parameter sets, regime map
    assert len(page.images) == 5
    assert all(src.startswith("data:image/svg+xml;base64,") for src in page.images)
    assert all(ref.startswith("data:") or ref.startswith("#") for ref in page.refs)
    assert not re.search(r"https?://", html)
    assert "<script" not in html


def test_the_answer_is_drawn_from_the_results(built):
    text = brief_mod.answer_text(built)
    m = built.comparison.metrics
    cap = m[m["output"] == "Technological Capability"].set_index("label")
    network = built.model.scenarios["network"].label
    lie = built.model.scenarios["lie"].label
    assert network and lie and built.comparison.labels == (lie, network)
    assert f"“{network}” ({cap.at[network, 'final_value']:.3g})" in text
    assert f"“{lie}” ({cap.at[lie, 'final_value']:.3g})" in text
    p = built.uncertainty.probability("Technological Capability", network, lie)
    assert f"ends above “{lie}” in {p:.0%}" in text
    year = built.comparison.leader_changes.iloc[0]["year"]
    assert f"around {year:.0f}" in text
    top = built.levers.parameters.iloc[0]
    assert f"{top['label']} ({top['value']:.0%})" in text
    share = built.regime_map.summary()["share_first_ahead"]
    assert f"{share:.0%} of the conditions" in text


def test_the_levers_are_ranked_with_intervals(built):
    lev = built.levers
    assert lev.method == "sobol" and lev.main_index == "ST" and lev.n == 64
    values = lev.parameters["value"].to_numpy(dtype=float)
    assert (np.diff(values[np.isfinite(values)]) <= 0).all()
    assert (lev.parameters["ci_low"] <= lev.parameters["value"] + 1e-12).all()
    assert (lev.parameters["ci_high"] >= lev.parameters["value"] - 1e-12).all()
    # the loop group holds the model's documented loop gains
    assert len(lev.loops) == len([lp for lp in built.model.loops if lp.gain])


def test_assumptions_and_methods_come_from_the_model_and_runs(written, built):
    from html import unescape
    html = unescape((written / "brief.html").read_text(encoding="utf-8"))
    from sdrev.report.brief.words import name_scenarios
    for item in built.model.assumptions + built.model.omissions:
        assert name_scenarios(item, built.model) in html
    assert built.model.sha256 in html
    assert f"seed {built.levers.seed}" in html
    man = json.loads((written / "manifest.json").read_text())
    assert man["model_sha256"] == built.model.sha256
    assert man["sections"] == SECTIONS


def test_a_model_without_a_regime_map_has_no_regime_section(tmp_path):
    b = brief_mod.build_brief("crrc_standards", scenarios=["baseline", "no_strategic_guiding"],
                              sensitivity=False, loops=False, uncertainty=False)
    assert b.regime_map is None and b.levers is None and b.loops is None
    html = brief_mod.render_html(b)
    page = _outline(html)
    assert [h.strip() for h in page.h2] == NO_REGIME
    assert "Without strategic guiding" in visible_text(html)
    check_reader_text(html, b.model)


def test_the_brief_reads_run_folders(tmp_path, mtio):
    from sdrev import sensitivity as sa
    comp = compare.compare_scenarios(mtio, ["lie", "network"])
    rmap = compare.regime_map(mtio, grid=(8, 8), progress=False)
    compare.write(tmp_path / "cmp", mtio, comparison=comp, regime_map=rmap, figures=False)
    model = sdrev.load("crrc_standards")
    spec = brief_mod.default_spec(model)
    result = sa.run(model, spec, method="sobol", n=16, progress=False, time_resolved=False,
                    knockout=False, convergence=False)
    sa.write(result, tmp_path / "sens", figures=False)
    lev = brief_mod.levers_from_folder(model, tmp_path / "sens")
    ref = brief_mod.levers_from_result(result)
    assert list(lev.parameters["factor"]) == list(ref.parameters["factor"])
    assert np.allclose(lev.parameters["value"], ref.parameters["value"], equal_nan=True)
    b = brief_mod.build_brief(mtio, compare=tmp_path / "cmp", sensitivity=False, loops=False,
                              uncertainty=False)
    assert b.regime_map.values.shape[1:3] == (8, 8)
    assert b.sources["compare"] == str(tmp_path / "cmp")
    with pytest.raises(sdrev.SdrevError, match="crrc_standards"):
        brief_mod.levers_from_folder(mtio, tmp_path / "sens")


# -- words for readers, uncertainty --------------------------------------------------

def test_sources_units_and_labels_are_written_for_readers(mtio):
    from sdrev.report.brief import words
    assert words.clean_source("Zhou et al. (n.d.), seed 003_bee18cf8f94ad135.txt (first "
                              "paper)") == "Zhou et al. (n.d.)"
    assert (words.clean_source("He & Wang (n.d.); notes_a7120fdf7b5f15d7.txt, machine tools")
            == "He & Wang (n.d.), machine tools")
    assert words.clean_source("Xu & Xu (2015), reverse innovation") == \
        "Xu & Xu (2015), reverse innovation"
    assert words.unit_text("Dmnl") == "" and words.unit_text("dimensionless") == ""
    assert words.unit_text("") == "units missing" and words.unit_text("Year") == "Year"
    assert words.value_with_unit(0.3, "Dmnl") == "0.3"
    assert words.at_time(2040.0, "Year") == "2040" and words.at_time(27, "Week") == "week 27"
    assert words.metric_words("first_crossing_0.2") == "(time it first reaches 0.2)"
    comp = compare.compare_scenarios(mtio, ["lie", "network"])
    named = words.relabel(comp, mtio)
    assert named.labels == (mtio.scenarios["lie"].label, mtio.scenarios["network"].label)
    assert list(named.trajectory("Technological Capability").columns) == list(named.labels)


def test_the_brief_reads_as_a_brief(written, built):
    html = (written / "brief.html").read_text(encoding="utf-8")
    check_reader_text(html, built.model)
    text = visible_text(html)
    assert "What this means for policy" in text and "Uncertainty" in text
    for finding in brief_mod.policy_findings(built, {}):
        assert finding.text.split(":")[0] in text
    # findings cite their figures, and the caveats name the omissions
    assert re.search(r"\(Figure 1[,)]", text)
    assert built.model.omissions[0].rstrip(". ")[1:40] in text


def test_uncertainty_bands_ranges_and_probabilities(built, written):
    unc = built.uncertainty
    assert unc is not None and unc.sets == 100 and not unc.posterior
    # switches, loop gains and the regime parameter are not varied
    gains = {lp.gain for lp in built.model.loops if lp.gain}
    assert not gains & set(unc.factors) and "IO Regime" not in unc.factors
    out = unc.result.outcomes
    assert (out["lower"] <= out["median"]).all() and (out["median"] <= out["upper"]).all()
    assert set(out["scenario"]) == set(built.comparison.labels)
    p = unc.probability("Technological Capability", *built.comparison.labels[::-1])
    q = unc.probability("Technological Capability", *built.comparison.labels)
    assert 0.0 <= p <= 1.0 and p + q <= 1.0 + 1e-12
    html = (written / "brief.html").read_text(encoding="utf-8")
    svgs = figure_svgs(html)
    trajectories = next(v for k, v in svgs.items() if k.startswith("Key outputs"))
    # one band per scenario and panel, drawn in the key-trajectory figure
    assert len(re.findall(r'id="band-\d+-\d+"', trajectories)) == 2 * min(
        4, len(built.comparison.outputs))
    text = visible_text(html)
    row = out.iloc[0]
    assert f"{row['median']:.3g}" in text and f"{row['upper']:.3g}" in text


def test_posterior_draws_and_unidentified_parameters(tmp_path, mtio):
    """--posterior: the sets are the calibration's draws, and the parameters the
    data do not identify are named as a caveat."""
    folder = tmp_path / "calibration"
    folder.mkdir()
    rng = np.random.default_rng(3)
    pd = pytest.importorskip("pandas")
    pd.DataFrame({"IP Protection": rng.uniform(0.2, 0.4, 30),
                  "Inter Firm Trust": rng.uniform(0.2, 0.4, 30),
                  "log_posterior": rng.normal(size=30)}).to_csv(folder / "posterior.csv",
                                                                index=False)
    pd.DataFrame({"parameter": ["IP Protection", "Inter Firm Trust"],
                  "identified": [True, False]}).to_csv(folder / "summary.csv", index=False)
    b = brief_mod.build_brief(mtio, scenarios=["lie", "network"], sensitivity=False,
                              loops=False, regime_map=False, posterior=folder,
                              uncertainty_n=30)
    assert b.uncertainty.posterior and b.uncertainty.unidentified == ("Inter Firm Trust",)
    assert set(b.uncertainty.factors) == {"IP Protection", "Inter Firm Trust"}
    assert any("do not identify Inter Firm Trust" in c for c in brief_mod.caveats(b))
    with pytest.raises(sdrev.SdrevError, match="not a calibration run folder"):
        brief_mod.build_brief(mtio, posterior=tmp_path, sensitivity=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", [e.name for e in sdrev.list_models()])
def test_every_library_brief_reads_as_a_brief(name):
    """Every library model: labels, sources, units and bands (the fast variant
    is test_the_brief_reads_as_a_brief on machine_tool_io)."""
    b = brief_mod.build_brief(name, sensitivity=False, loops=False, regime_map=False,
                              uncertainty_n=24)
    html = brief_mod.render_html(b)
    check_reader_text(html, b.model)
    assert b.uncertainty is not None, b.notes
    svgs = figure_svgs(html)
    assert any('id="band-' in v for v in svgs.values())
    assert "What this means for policy" in visible_text(html)


def test_without_a_pdf_engine_the_html_is_kept(built, tmp_path, monkeypatch):
    from sdrev.report.brief import render
    monkeypatch.setattr(render, "find_pdf_engine", lambda: None)
    with pytest.raises(brief_mod.NoPdfEngineError, match="no PDF engine found") as info:
        brief_mod.write_brief(built, tmp_path / "b")
    assert "\n" not in str(info.value)
    assert (tmp_path / "b" / "brief.html").is_file()
    assert not (tmp_path / "b" / "brief.pdf").exists()
    man = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert man["files"] == ["brief.html"]


# -- PDF ------------------------------------------------------------------------------

def test_the_pdf_has_the_sections_findings_and_numbers(written, built):
    """The PDF printed from the HTML: headings in order, the findings, the
    numbers of the outcome tables, page numbers, words whole."""
    pypdf = pytest.importorskip("pypdf")
    if not (written / "brief.pdf").is_file():
        pytest.skip("no PDF engine (Chromium or WeasyPrint) on this machine")
    reader = pypdf.PdfReader(str(written / "brief.pdf"))
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = " ".join(text.split())
    at = 0
    for title in SECTIONS:  # each heading, in order
        at = flat.find(title, at)
        assert at >= 0, title
    assert reader.metadata.title.startswith("Policy brief")
    # the numbers of both outcome tables
    for r in built.uncertainty.result.outcomes.itertuples(index=False):
        assert f"{r.median:.3g}" in flat
    m = built.comparison.metrics
    for value in m[m["output"] == built.comparison.outputs[0]]["final_value"]:
        assert f"{value:.3g}" in flat
    # page numbers, and no word broken across lines by hyphenation: a line may
    # end in a hyphen only where the text has one ("total-order")
    assert f"Page 1 of {len(reader.pages)}" in flat
    html_text = visible_text((written / "brief.html").read_text(encoding="utf-8"))
    for a, b in re.findall(r"(\w+)-\n(\w+)", text):
        assert f"{a}-{b}" in html_text, (a, b)


def test_the_pdf_pages_are_not_blank(written, tmp_path):
    if not (written / "brief.pdf").is_file():
        pytest.skip("no PDF engine (Chromium or WeasyPrint) on this machine")
    exe = shutil.which("pdftoppm")
    if exe is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    from PIL import Image
    subprocess.run([exe, "-r", "40", "-png", str(written / "brief.pdf"), str(tmp_path / "p")],
                   check=True, capture_output=True, timeout=120)
    pages = sorted(tmp_path.glob("p-*.png"))
    assert len(pages) >= 3
    ink = []
    for page in pages:
        grey = np.asarray(Image.open(page).convert("L"), dtype=float)
        ink.append(float((grey < 200).mean()))
    assert min(ink) > 0.002, ink        # every page carries text
    assert sum(i > 0.05 for i in ink) >= 2, ink   # and figures print as figures


# -- a real browser ---------------------------------------------------------------------

def _chromium() -> str | None:
    env = os.environ.get("SDREV_CHROMIUM")
    if env:
        return env if shutil.which(env) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _DevTools:
    """Chromium, headless, driven over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out)."""

    def __init__(self, executable: str):
        self.profile = tempfile.mkdtemp(prefix="sdrev-chromium-")
        to_child, self._w = os.pipe()
        self._r, from_child = os.pipe()

        def fds():  # in the child: the pipe ends as fds 3 and 4, inheritable
            a, b = os.dup(to_child), os.dup(from_child)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
             f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=fds, close_fds=False)
        os.close(to_child)
        os.close(from_child)
        self._buf, self._id, self.events = b"", 0, []

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 30.0) -> dict:
        for e in self.events:
            if e.get("method") == event:
                return e
        deadline = time.monotonic() + timeout
        while True:
            e = self._read(deadline)
            self.events.append(e)
            if e.get("method") == event:
                return e

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:  # already gone
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium browser found (install Debian's chromium, or set "
                    "SDREV_CHROMIUM)")
    try:
        tools = _DevTools(exe)
        tools.send("Browser.getVersion", timeout=20)
    except (OSError, RuntimeError, TimeoutError) as exc:
        pytest.skip(f"Chromium at {exe} cannot be started headless: {exc}")
    yield tools
    tools.close()


def test_the_brief_renders_in_headless_chromium(browser, written):
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget",
                           {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Runtime.enable", "Log.enable", "Page.enable", "Network.enable"):
        browser.send(domain, session=session)
    browser.send("Page.navigate", {"url": (written / "brief.html").resolve().as_uri()},
                 session=session)
    browser.wait_for("Page.loadEventFired")
    result = browser.send("Runtime.evaluate", {"returnByValue": True, "expression": """
        JSON.stringify({
          images: [...document.images].map(i => ({complete: i.complete, width: i.naturalWidth})),
          h2: [...document.querySelectorAll('h2')].map(h => h.textContent.trim()),
          title: document.title,
          height: document.documentElement.scrollHeight})"""}, session=session)
    page = json.loads(result["result"]["value"])
    mine = [e for e in browser.events if e.get("sessionId") == session]
    errors = [e for e in mine
              if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled"
                  and e["params"]["type"] in ("error", "assert"))
              or (e.get("method") == "Log.entryAdded"
                  and e["params"]["entry"]["level"] == "error")]
    assert errors == []
    requests = [e["params"]["request"]["url"] for e in mine
                if e.get("method") == "Network.requestWillBeSent"]
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    assert len(page["images"]) == 5
    assert all(i["complete"] and i["width"] > 0 for i in page["images"])
    from PIL import Image
    boxes = browser.send("Runtime.evaluate", {"returnByValue": True, "expression": """
        JSON.stringify([...document.images].map(i => { const r = i.getBoundingClientRect();
          return {x: r.left + window.scrollX, y: r.top + window.scrollY,
                  width: r.width, height: r.height}; }))"""}, session=session)
    for box in json.loads(boxes["result"]["value"]):
        shot = browser.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {**box, "scale": 0.5}}, session=session)
        grey = np.asarray(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("L"),
                          dtype=float)
        assert grey.std() > 10 and (grey < 128).mean() > 0.005, box  # drawn, not blank
    assert page["h2"] == SECTIONS
    assert page["title"].startswith("Policy brief")
    assert page["height"] > 2000


def test_the_answer_gives_the_documented_mechanisms_in_order():
    """crrc_standards: strategic guiding, then standard innovation, then ecology
    (Zhou et al.), from the documented-loop dominance of the baseline run."""
    b = brief_mod.build_brief("crrc_standards", scenarios=["baseline"], sensitivity=False)
    answer = brief_mod.answer_text(b)
    order = [answer.find(name) for name in ("strategic guiding", "standard innovation",
                                           "ecology")]
    assert -1 not in order and order == sorted(order)
    sequence = brief_mod.mechanism_sequence(b.loops)
    assert sequence[0]["loops"] == (b.loops.loop_id("strategic guiding"),)
    assert all(a["end"] < z["start"] for a, z in zip(sequence, sequence[1:]))
    html = brief_mod.render_html(b)
    assert "Which documented mechanism leads when" in html


def test_a_user_model_without_stocks_or_metadata_gets_a_brief(tmp_path):
    """No stocks, no .toml, no ranges: the key outputs are its first auxiliaries and
    the brief says which parts it had to leave out."""
    path = tmp_path / "growth.mdl"
    path.write_text("{UTF-8}\nDemand= Base Demand * (1 + Growth) ^ Time\n\t~\tunits\t~\t|\n"
                    "Base Demand= 100\n\t~\tunits\t~\t|\nGrowth= 0.05\n\t~\t1/Year\t~\t|\n"
                    "FINAL TIME = 10\n\t~\tYear\t~\t|\nINITIAL TIME = 0\n\t~\tYear\t~\t|\n"
                    "SAVEPER = TIME STEP\n\t~\tYear\t~\t|\nTIME STEP = 1\n\t~\tYear\t~\t|\n")
    model = sdrev.load(path)
    assert model.key_outputs == ("Demand",)
    b = brief_mod.build_brief(model, sensitivity_n=8)
    assert b.comparison.outputs == ("Demand",)
    assert any("Sensitivity analysis left out" in note for note in b.notes)
    assert any("Uncertainty analysis left out" in note for note in b.notes)
    paths = brief_mod.write_brief(b, tmp_path / "brief", pdf=_has_pdf_engine())
    html = paths[0].read_text()
    assert html.count("<h2") >= 4
    check_reader_text(html, model)
    assert not list(tmp_path.glob("*.py"))  # nothing written beside the user's model


def test_a_user_epidemic_model_gets_its_peak_and_bands(tmp_path):
    """A user's .mdl without metadata or scenarios: its own constants under
    uncertainty (ranges from the .mdl), the epidemic peak in the answer."""
    path = tmp_path / "epidemic.mdl"
    path.write_text((Path(__file__).parent / "fixtures" / "sir.mdl").read_text())
    model = sdrev.load(path)
    assert not model.scenarios
    b = brief_mod.build_brief(model, sensitivity_n=16, uncertainty_n=32)
    answer = brief_mod.answer_text(b)
    row = b.comparison.metrics.iloc[0]
    assert f"peaks at {row['peak_value']:.3g}" in answer
    assert b.uncertainty is not None and b.uncertainty.sets == 32
    html = brief_mod.render_html(b)
    check_reader_text(html, model)
    assert "How do the scenarios" not in html
    svgs = figure_svgs(html)
    assert any('id="band-0-0"' in v for v in svgs.values())


def test_a_brief_for_chosen_settings_runs_them_and_holds_them_fixed(tmp_path):
    """``--set``: every run of the brief carries the values (its answer is the
    one `simulate --set` gives), and neither the uncertainty nor the
    sensitivity part samples them."""
    path = tmp_path / "epidemic.mdl"
    path.write_text((Path(__file__).parent / "fixtures" / "sir.mdl").read_text())
    model = sdrev.load(path)
    b = brief_mod.build_brief(model, sensitivity_n=16, uncertainty_n=32, loops=False,
                              params={"Duration of Illness": "3", "infectivity": 0.4})
    assert dict(b.settings) == {"Duration of Illness": 3.0, "Infectivity": 0.4}
    own = sdrev.simulate(model, params={"Duration of Illness": 3, "Infectivity": 0.4})
    peak = own["infectious"].max()
    assert b.comparison.metrics.iloc[0]["peak_value"] == pytest.approx(peak, rel=1e-6)
    plain = sdrev.simulate(model)["infectious"].max()
    assert abs(peak - plain) > 0.05 * plain  # the settings change the epidemic
    assert b.uncertainty is not None
    assert "Duration of Illness" not in b.uncertainty.factors
    assert "Infectivity" not in b.uncertainty.factors
    assert len(b.uncertainty.factors) >= 2
    assert b.levers is not None
    ranked = set(b.levers.parameters["factor"])
    assert ranked and not ranked & {"Duration of Illness", "Infectivity"}
    html = brief_mod.render_html(b)
    assert "Settings of this brief" in html and "Duration of Illness = 3" in html


def test_a_brief_with_a_timed_setting_runs_the_switch_as_simulate_does(tmp_path, capsys):
    """``report --set NAME=VALUE@TIME``: the brief's run is `simulate --set
    NAME=VALUE@TIME`'s, its uncertainty sets switch too, its loop analysis
    follows the run with the step, and the settings and methods state the timing."""
    from html import unescape

    from sdrev.cli import main

    path = tmp_path / "epidemic.mdl"
    path.write_text((Path(__file__).parent / "fixtures" / "sir.mdl").read_text())
    setting = "Infectivity=0.4@20"
    code = main(["report", str(path), "--set", setting, "-N", "16", "--sets", "16",
                 "--no-pdf", "--quiet", "--out", str(tmp_path / "b")])
    assert code == 0, capsys.readouterr().err
    assert main(["simulate", str(path), "--set", setting, "--out", str(tmp_path / "s")]) == 0
    frame = pd.read_csv(tmp_path / "s" / "trajectories.csv", index_col=0)
    plain = sdrev.simulate(sdrev.load(path))
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["settings"] == {"Infectivity": {"value": 0.4, "at": 20.0}}
    assert manifest["switches"] == {"Infectivity": {"value": 0.4, "at": 20.0}}
    assert set(manifest["engines"].values()) == {"sdrev"}
    outcomes = {r["output"]: r for r in manifest["outcomes"]}
    infectious = outcomes["Infectious"]
    assert infectious["peak_value"] == pytest.approx(frame["infectious"].max(), rel=1e-9)
    assert infectious["final_value"] == pytest.approx(frame["infectious"].iloc[-1], rel=1e-9)
    assert abs(infectious["peak_value"] - plain["infectious"].max()) > 0.05 * \
        plain["infectious"].max()  # the switch changes the epidemic
    assert "Infectivity" not in manifest["uncertainty"]["factors"]
    assert "timed settings" in manifest["uncertainty"]["source"]
    page = (tmp_path / "b" / "brief.html").read_text()
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "Infectivity = 0.4 from 20" in text
    assert "steps it to the new value at the first time step at or past T" in text
    assert "runs on sdrev's compiled engine" in unescape(text)
    assert "with PySD" not in text


@pytest.mark.parametrize("setting, message", [
    ("No Such Constant=1", "no such constant"),
    ("FINAL TIME=100", "time axis"),
    ("Infectivity=abc", "abc"),
    ("Infectivity=0.4@100", "outside [initial time, final time]"),
])
def test_report_set_rejects_what_a_brief_cannot_hold(tmp_path, capsys, setting, message):
    from sdrev.cli import main

    path = tmp_path / "epidemic.mdl"
    path.write_text((Path(__file__).parent / "fixtures" / "sir.mdl").read_text())
    code = main(["report", str(path), "--set", setting, "--no-pdf", "--quiet",
                 "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err.lower() and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_the_methods_name_the_engine_the_scenario_runs_used():
    """From the runs: a model the compiled engine cannot run falls back to PySD,
    and the brief's methods say so (the SIR brief above says the compiled engine)."""
    path = Path(__file__).parent / "fixtures" / "macro_unsupported.mdl"
    b = brief_mod.build_brief(str(path), sensitivity=False, loops=False, uncertainty=False,
                              regime_map=False, discover=False)
    assert {r.engine for r in b.comparison.runs} == {"pysd-fallback"}
    methods = {r["name"]: r["value"] for r in brief_mod.brief_context(b, figures=False)["methods"]}
    assert "with PySD (the compiled engine could not run the model)" in \
        methods["Scenarios compared"]
