"""Policy briefs (sdrev.report.brief): content, HTML in a real browser, PDF text.

The browser test drives Debian's Chromium headless through its DevTools
protocol over a pipe (``--remote-debugging-pipe``; standard library only). It
is skipped when no Chromium can be found (set ``SDREV_CHROMIUM`` to a browser
binary to choose one).
"""

from __future__ import annotations

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
    """A machine_tool_io brief with every part, from a small sensitivity run."""
    return brief_mod.build_brief(mtio, sensitivity_n=64)


@pytest.fixture(scope="module")
def written(built, tmp_path_factory):
    folder = tmp_path_factory.mktemp("brief") / "machine_tool_io"
    brief_mod.write_brief(built, folder, command="test")
    return folder


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


def test_the_html_is_self_contained(written):
    html = (written / "brief.html").read_text(encoding="utf-8")
    page = _outline(html)
    assert len(page.images) == 4  # trajectories, levers, loops, regime map
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert all(ref.startswith("data:") or ref.startswith("#") for ref in page.refs)
    assert not re.search(r"https?://", html)
    assert "<script" not in html


def test_the_answer_is_drawn_from_the_results(built):
    text = brief_mod.answer_text(built)
    m = built.comparison.metrics
    cap = m[m["output"] == "Technological Capability"].set_index("label")
    assert f"{cap.at['network', 'final_value']:.3g}" in text
    assert f"{cap.at['lie', 'final_value']:.3g}" in text
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
    for item in built.model.assumptions + built.model.omissions:
        assert item in html
    assert built.model.sha256 in html
    assert f"seed {built.levers.seed}" in html
    man = json.loads((written / "manifest.json").read_text())
    assert man["model_sha256"] == built.model.sha256
    assert man["sections"] == SECTIONS


def test_a_model_without_a_regime_map_has_no_regime_section(tmp_path):
    b = brief_mod.build_brief("crrc_standards", scenarios=["baseline", "no_strategic_guiding"],
                              sensitivity=False, loops=False)
    assert b.regime_map is None and b.levers is None and b.loops is None
    page = _outline(brief_mod.render_html(b))
    assert [h.strip() for h in page.h2] == NO_REGIME


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
    b = brief_mod.build_brief(mtio, compare=tmp_path / "cmp", sensitivity=False, loops=False)
    assert b.regime_map.values.shape[1:3] == (8, 8)
    assert b.sources["compare"] == str(tmp_path / "cmp")
    with pytest.raises(sdrev.SdrevError, match="crrc_standards"):
        brief_mod.levers_from_folder(mtio, tmp_path / "sens")


# -- PDF ------------------------------------------------------------------------------

def test_the_pdf_has_the_same_sections_and_figures(written):
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(str(written / "brief.pdf"))
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = " ".join(text.split())
    positions = [flat.find(title) for title in SECTIONS]
    assert all(p >= 0 for p in positions), dict(zip(SECTIONS, positions))
    assert positions == sorted(positions)
    assert sum(len(page.images) for page in reader.pages) == 4
    assert reader.metadata.title.startswith("Policy brief")


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
    assert len(page["images"]) == 4
    assert all(i["complete"] and i["width"] > 0 for i in page["images"])
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
    paths = brief_mod.write_brief(b, tmp_path / "brief")
    assert paths[0].read_text().count("<h2") >= 4
    assert not list(tmp_path.glob("*.py"))  # nothing written beside the user's model
