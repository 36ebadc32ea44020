"""The explorer's page: Panel widgets and Bokeh figures over an :class:`Explorer`.

One :class:`ExploreSession` is made per browser session (so sessions never
share settings): sliders and toggles grouped by the model's ``.Group``
sections, a scenario picker and a reset, the key outputs (current settings
against the baseline, with an optional uncertainty band), the outcome table,
the documented-loop dominance strip (on demand: one loop analysis takes
0.2 to 1.5 s, too slow to redo on every slider move), the settings in the
URL and the runs as CSV. Every value is checked against its documented range
on the server before anything runs; a failed run shows a message and the
page keeps its last good plot.

Every text taken from the model (names, units, group names) reaches the
page as Bokeh text properties or through :func:`html.escape`.
"""

from __future__ import annotations

import html
import io
import logging
import math
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlencode

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from sdrev.errors import SdrevError
from sdrev.explore.explorer import Explorer, Trajectories, is_time_key, time_key

__all__ = ["ExploreSession", "ReleaseSlider", "parse_query"]

log = logging.getLogger("sdrev.explore")

#: Query keys that are not constants.
SCENARIO_KEY, BAND_KEY = "scenario", "band"
#: The scenario picker's entry for the model's own constants.
MODEL_CONSTANTS = "(model constants)"
#: Largest number of refused query entries listed in the message.
MAX_LISTED = 5


class ReleaseSlider(pn.widgets.FloatSlider):
    """A :class:`panel.widgets.FloatSlider` whose changes reach the server's callbacks
    at once.

    Panel holds each change that comes from the browser for its debounce
    (50 ms) to gather the changes that follow it. A slider's release
    (``value_throttled``) is the last change of a drag, so the wait would only
    delay the redraw; the values passed while dragging are taken at once too,
    so that a release never waits out the debounce of the drag's last value.
    Panel runs these changes' callbacks outside the page's lock: a callback
    that changes the page goes through :meth:`ExploreSession._soon`.
    """

    _priority_changes: ClassVar[list[str]] = ["value", "value_throttled"]


class BriefJob:
    """``sdrev report`` running in its own process (the server stays responsive).

    Parameters
    ----------
    args : list of str
        Arguments after ``sdrev`` (:meth:`Explorer.report_args`).
    folder : Path
        The run folder the brief is written to.
    """

    def __init__(self, args: list[str], folder: Path):
        self.args, self.folder = list(args), Path(folder)
        self.command = shlex.join(["sdrev", *self.args])
        self._log = tempfile.TemporaryFile()
        self._last = ""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "sdrev", *self.args, "--quiet"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log)

    @property
    def running(self) -> bool:
        if self._process.poll() is None:
            return True
        self._collect()
        return False

    def wait(self, timeout: float | None = None) -> int:
        code = self._process.wait(timeout)
        self._collect()
        return code

    def _collect(self) -> None:
        if self._log is not None:  # keep the last stderr line, free the file
            self._log.seek(0)
            lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
            self._log.close()
            self._log = None
            self._last = lines[-1] if lines else ""

    @property
    def html(self) -> Path | None:
        """The written brief, once the process has succeeded."""
        path = self.folder / "brief.html"
        return path if self._process.poll() == 0 and path.is_file() else None

    @property
    def error(self) -> str:
        """The last line the process wrote on stderr (its one-line error)."""
        self._collect()
        return self._last or f"exit code {self._process.poll()}"


def parse_query(explorer: Explorer, args: Mapping[str, object]):
    """Settings from a URL's query, each value checked like a slider's.

    Parameters
    ----------
    explorer : Explorer
    args : mapping of str to str, bytes or a list of them
        The query arguments (Tornado gives lists of bytes).

    Returns
    -------
    scenario : str or None
    values : dict of str to float
        Every control (the scenario's values, then the query's), and each
        switch's "on from" time (``NAME@time``).
    band : bool
    refused : list of str
        One message per entry that was refused (unknown name, not a
        number, outside its documented range); those entries are ignored.
    """
    def text(raw) -> str:
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else ""
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        return str(raw)[:200]

    refused = []
    scenario = explorer.baseline_scenario
    if SCENARIO_KEY in args:
        wanted = text(args[SCENARIO_KEY])
        if wanted in explorer.scenarios:
            scenario = wanted
        elif wanted == "":
            scenario = None
        else:
            refused.append(f"unknown scenario {wanted!r}")
    values = explorer.scenario_values(scenario)
    band = text(args.get(BAND_KEY, "0")) in ("1", "true", "on")
    for key, raw in args.items():
        if key in (SCENARIO_KEY, BAND_KEY):
            continue
        try:
            if is_time_key(key):  # a switch's "on from" time
                control, number = explorer.check_time(key, text(raw))
                values[time_key(control.name)] = number
                continue
            control, number = explorer.check(key, text(raw))
        except SdrevError as exc:
            refused.append(str(exc))
            continue
        values[control.name] = number
    return scenario, values, band, refused


def query_string(explorer: Explorer, scenario: str | None, values: Mapping[str, float],
                 band: bool) -> str:
    """The URL query that restores these settings (controls moved off the scenario)."""
    items = [(SCENARIO_KEY, scenario or "")]
    items += [(time_key(explorer.control(n[:-len(time_key(""))]).py_name) if is_time_key(n)
               else explorer.control(n).py_name, f"{v:.10g}")
              for n, v in explorer.changed(values, scenario).items()]
    if band:
        items.append((BAND_KEY, "1"))
    return "?" + urlencode(items)


def _fmt(value: float, digits: int = 4) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _signed(value: float) -> str:
    return "–" if not math.isfinite(value) else (f"{value:+.3g}" if value else "0")


class ExploreSession:
    """The page of one browser session.

    Parameters
    ----------
    explorer : Explorer
        Shared by all sessions (compiled once).
    args : mapping, optional
        The page's URL query (see :func:`parse_query`).

    Attributes
    ----------
    layout : panel.viewable.Viewable
        The page.
    scenario : str or None
    values : dict of str to float
        The current settings (every control).
    """

    def __init__(self, explorer: Explorer, args: Mapping[str, object] | None = None):
        self.explorer = explorer
        model = explorer.model
        self.scenario, self.values, band, refused = parse_query(explorer, args or {})
        self._quiet = False
        self.current: Trajectories | None = None
        self.band: np.ndarray | None = None
        self.message = pn.pane.HTML("", css_classes=["sdrev-message"], sizing_mode="stretch_width")
        names = [MODEL_CONSTANTS, *explorer.scenarios]
        self.scenario_select = pn.widgets.Select(
            label="Scenario", options=names,
            value=self.scenario if self.scenario is not None else MODEL_CONSTANTS)
        self.reset_button = pn.widgets.Button(label="Reset to scenario")
        self.band_toggle = pn.widgets.Checkbox(
            label=(f"Uncertainty band (5-95%, {explorer.band_runs} runs over "
                  + ("the posterior draws)" if explorer.posterior is not None
                     else "the ranges of the constants not moved)")), value=band)
        self.loops_button = pn.widgets.Button(
            label="Loop dominance for these settings",
            disabled=not model.loops)
        self.download = pn.widgets.FileDownload(
            callback=self._csv_file, filename=f"{model.name}-explore.csv",
            label="Download runs (CSV)", embed=False)
        self.brief_button = pn.widgets.Button(label="Open as a brief",
                                              css_classes=["sdrev-brief"])
        self.brief_download = pn.widgets.FileDownload(
            label="Download the brief (HTML)", embed=False, visible=False,
            css_classes=["sdrev-brief-download"])
        self.brief_job: BriefJob | None = None
        self.widgets = {}
        cards = []
        groups: dict[str, list] = {}
        for c in explorer.controls:
            groups.setdefault(c.group, []).append(c)
        for group, controls in groups.items():
            column = []
            for c in controls:
                title = (f"{c.name} ({c.units}, {c.low:g} to {c.high:g})" if c.units
                         else f"{c.name} ({c.low:g} to {c.high:g})")
                if c.switch:
                    w = pn.widgets.Checkbox(label=f"{c.name} (switch: on = 1)",
                                            value=self.values[c.name] == 1.0)
                    w.param.watch(lambda e, c=c: self._on_control(c.name, float(e.new)),
                                  "value")
                    column.append(self._timing_slider(c))
                else:
                    w = ReleaseSlider(
                        label=title, start=c.low, end=c.high, step=c.step,
                        value=self.values[c.name], format="0[.]00000",
                        sizing_mode="stretch_width")
                    w.param.watch(lambda e, c=c: self._soon(lambda: self._on_control(
                        c.name, c.snap(e.new), along=True)), "value_throttled")
                w.css_classes = ["sdrev-control", f"sdrev-control-{c.py_name}"]
                self.widgets[c.name] = w
                column.append(w)
            cards.append(pn.Card(*column, title=html.escape(group), collapsed=len(groups) > 1,
                                 sizing_mode="stretch_width"))
        if explorer.held:
            cards.append(pn.pane.HTML(
                "<small>Held at the model's or the scenario's values (no documented range, "
                "or subscripted): " + html.escape(", ".join(explorer.held)) + "</small>"))
        sliders = [c for c in explorer.controls if not c.switch]
        exact = {c.name: c.name for c in sliders}
        exact.update({f"{c.name} on from ({model.time.units or 'time'})": time_key(c.name)
                      for c in explorer.controls if c.switch})
        self.exact_name = pn.widgets.Select(
            label="Set a value exactly", options=exact, css_classes=["sdrev-exact-name"])
        self.exact_value = pn.widgets.TextInput(
            label="Value", placeholder="a number within the range",
            css_classes=["sdrev-exact-value"])
        self.exact_button = pn.widgets.Button(label="Set", css_classes=["sdrev-exact-set"])
        self.exact_button.on_click(lambda e: self._soon(self._on_exact))
        self.exact_value.param.watch(lambda e: self._soon(self._on_exact), "enter_pressed")
        self.scenario_select.param.watch(self._on_scenario, "value")
        self.reset_button.on_click(lambda e: self._soon(lambda: self._on_scenario(None)))
        self.band_toggle.param.watch(lambda e: self.redraw(), "value")
        self.loops_button.on_click(lambda e: self._soon(self.draw_loops))
        self.brief_button.on_click(lambda e: self._soon(self.start_brief))
        self.source, figures = self._figures()
        self.table = pn.pane.HTML("", css_classes=["sdrev-outcomes"], sizing_mode="stretch_width")
        self.strip_source, self.strip = self._strip()
        self.strip_note = pn.pane.HTML(
            "<small>Press the button to find which documented feedback loops dominate "
            "when (one loop analysis takes about a second, so it is not redone on every "
            "slider move).</small>" if model.loops else
            "<small>The model documents no feedback loops.</small>")
        header = pn.pane.HTML(
            f"<h2>{html.escape(model.title)}</h2><p>{html.escape(model.question)}</p>",
            sizing_mode="stretch_width")
        sidebar = pn.Column(self.scenario_select, self.reset_button, self.band_toggle,
                            self.download, self.brief_button, self.brief_download,
                            self.exact_name,
                            pn.Row(self.exact_value, self.exact_button), *cards, width=380, scroll=True,
                            css_classes=["sdrev-sidebar"])
        plots = pn.GridBox(*[pn.pane.Bokeh(f, sizing_mode="stretch_width") for f in figures],
                           ncols=2, sizing_mode="stretch_width")
        main = pn.Column(header, self.message, plots, pn.pane.HTML("<h3>Outcomes</h3>"),
                         self.table, pn.pane.HTML("<h3>Loop dominance</h3>"),
                         self.loops_button, self.strip_note,
                         pn.pane.Bokeh(self.strip, sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")
        self.layout = pn.Row(sidebar, main, sizing_mode="stretch_width")
        self.redraw()
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.onload(self._url)  # the address bar exists once the page is served
        if refused:
            more = f" (and {len(refused) - MAX_LISTED} more)" if len(refused) > MAX_LISTED else ""
            self._say("Refused from the link: " + "; ".join(refused[:MAX_LISTED]) + more,
                      error=True)

    # -- figures -----------------------------------------------------------------------

    def _figures(self):
        explorer = self.explorer
        base = explorer.baseline()
        units = explorer.model.time.units or "time"
        nan = np.full(len(explorer.times), np.nan)
        data = {"time": explorer.times}
        for s in range(len(explorer.series)):
            data.update({f"current_{s}": base.values[s], f"baseline_{s}": base.values[s],
                         f"lo_{s}": nan, f"mid_{s}": nan, f"hi_{s}": nan})
        # one source for every figure: a slider move is one message to the page
        source = ColumnDataSource(data=data, name="sdrev-trajectories")
        figures = []
        for s, series in enumerate(explorer.series):
            title = f"{series.label} ({series.units})" if series.units else series.label
            fig = figure(title=title, height=230, sizing_mode="stretch_width",
                         x_axis_label=units, tools="pan,box_zoom,reset,save",
                         name=f"sdrev-figure-{s}")
            fig.varea("time", f"lo_{s}", f"hi_{s}", source=source, fill_alpha=0.25,
                      fill_color="#1f77b4", legend_label="5-95% band")
            fig.line("time", f"baseline_{s}", source=source, color="#7f7f7f",
                     line_dash="dashed", line_width=2, legend_label="baseline")
            fig.line("time", f"current_{s}", source=source, color="#d62728", line_width=2.5,
                     legend_label="current")
            fig.legend.location = "bottom_right"
            fig.legend.label_text_font_size = "8pt"
            fig.legend.background_fill_alpha = 0.6
            fig.legend.visible = s == 0
            fig.add_tools(HoverTool(tooltips=[(units, "@time{0.[00]}"),
                                              ("current", f"@current_{s}{{0.[0000]}}"),
                                              ("baseline", f"@baseline_{s}{{0.[0000]}}")],
                                    mode="vline"))
            figures.append(fig)
        return source, figures

    def _strip(self):
        explorer = self.explorer
        source = ColumnDataSource(data={"row": [], "left": [], "right": [], "label": [],
                                        "color": []}, name="sdrev-loop-strip")
        times = explorer.times
        fig = figure(height=200, sizing_mode="stretch_width", y_range=["documented loops"],
                     x_range=(float(times[0]), float(times[-1])),
                     x_axis_label=explorer.model.time.units or "time",
                     tools="xpan,reset", name="sdrev-loop-figure",
                     title="Dominant documented loops (combined share over 50%)")
        fig.hbar(y="row", left="left", right="right", height=0.7, color="color",
                 legend_field="label", source=source)
        fig.add_tools(HoverTool(tooltips=[("loops", "@label"), ("from", "@left{0.[0]}"),
                                          ("to", "@right{0.[0]}")]))
        fig.legend.label_text_font_size = "8pt"
        fig.add_layout(fig.legend[0], "right")  # beside the bars, not over them
        return source, fig

    def _timing_slider(self, control):
        """The "on from" time of a switch (policy timing), in the model's time unit."""
        t = self.explorer.model.time
        key = time_key(control.name)
        w = ReleaseSlider(
            label=f"{control.name} on from ({t.units or 'time'})", start=t.initial,
            end=t.final, step=t.step, value=self.values[key], format="0[.]0000",
            sizing_mode="stretch_width")
        w.param.watch(lambda e: self._soon(lambda: self._on_control(key, e.new)),
                      "value_throttled")
        w.css_classes = ["sdrev-control", f"sdrev-timing-{control.py_name}"]
        self.widgets[key] = w
        return w

    # -- events ------------------------------------------------------------------------

    def _on_control(self, name: str, value, *, along: bool = False) -> None:
        """Take a control's new value (checked) and redraw; ``along``: from its slider,
        which may be moved again (see :meth:`Explorer.run`)."""
        if self._quiet:
            return
        try:
            if is_time_key(name):  # a switch's "on from" time
                control, number = self.explorer.check_time(name, value)
                key, shown = time_key(control.name), number
            else:
                control, number = self.explorer.check(name, value)
                key, shown = control.name, (number == 1.0 if control.switch else number)
        except SdrevError as exc:
            self._say(f"Refused: {exc}", error=True)
            self._set_widgets()  # back to the last accepted value
            return
        self.values[key] = number
        widget = self.widgets[key]
        if widget.value != shown:
            self._quiet = True
            try:  # a value set exactly moves its slider too
                widget.value = shown
            finally:
                self._quiet = False
        self.redraw(along=control.name if along and key == control.name else None)

    @staticmethod
    def _soon(callback) -> None:
        """Run ``callback`` holding the page's lock: Panel may deliver a button's click
        outside it, where changing a Bokeh model directly would fail."""
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:
            doc.add_next_tick_callback(callback)
        else:
            callback()

    def _on_exact(self) -> None:
        typed = self.exact_value.value_input or self.exact_value.value  # as typed so far
        self._on_control(self.exact_name.value, (typed or "").strip())

    def _on_scenario(self, event) -> None:
        if self._quiet:
            return
        wanted = self.scenario_select.value if event is not None else (
            self.scenario_select.value)
        self.scenario = None if wanted == MODEL_CONSTANTS else wanted
        self.values = self.explorer.scenario_values(self.scenario)
        self._set_widgets()
        self.redraw()

    def _set_widgets(self) -> None:
        self._quiet = True
        try:
            for name, widget in self.widgets.items():
                value = self.values[name]
                widget.value = (value == 1.0) if isinstance(widget, pn.widgets.Checkbox) \
                    else value
        finally:
            self._quiet = False

    def _say(self, text: str, *, error: bool = False) -> None:
        cls = "sdrev-error" if error else "sdrev-info"
        style = ("background:#fdecea;color:#611a15;border:1px solid #f5c6cb" if error
                 else "background:#eef6fc;color:#0c3c60;border:1px solid #b8daff")
        self.message.object = (f'<div class="{cls}" style="{style};padding:6px 10px;'
                               f'border-radius:4px">{html.escape(text)}</div>') if text else ""

    # -- open as a brief ---------------------------------------------------------------

    def start_brief(self) -> None:
        """Write ``sdrev report`` for the current settings in a background process;
        the page stays live and offers the brief when it is written."""
        if self.brief_job is not None and self.brief_job.running:
            self._say("A brief for these settings is still being written.")
            return
        from sdrev import runs

        folder = runs.default_run_dir(self.explorer.model.name, "brief")
        try:
            args = self.explorer.report_args(self.values, self.scenario, out=folder)
        except SdrevError as exc:
            self._say(f"No brief: {exc}", error=True)
            return
        self.brief_job = BriefJob(args, folder)
        self.brief_download.visible = False
        self._say("Writing the brief for these settings (about a minute): "
                  + self.brief_job.command)
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:
            self._brief_poll = pn.state.add_periodic_callback(self.poll_brief, period=1000)
        else:  # outside a served page (tests): wait for it
            self.brief_job.wait()
            self.poll_brief()

    def poll_brief(self) -> None:
        """Say how the brief's process ended, and offer the brief once written."""
        job = self.brief_job
        if job is None or job.running:
            return
        poll = getattr(self, "_brief_poll", None)
        if poll is not None:
            poll.stop()
            self._brief_poll = None
        if job.html is not None:
            self.brief_download.file = str(job.html)
            self.brief_download.filename = job.html.name
            self.brief_download.visible = True
            self._say(f"Brief written to {job.folder}")
        else:
            self._say(f"The brief failed: {job.error}", error=True)

    # -- drawing -----------------------------------------------------------------------

    def redraw(self, *, along: str | None = None) -> None:
        """Run the current settings and redraw plots, table and URL (``along``: the
        control whose slider moved, see :meth:`Explorer.run`)."""
        explorer = self.explorer
        try:
            current = explorer.run(self.values, self.scenario, along=along)
        except SdrevError as exc:
            self._say(f"The run failed and the plots still show the last good run: {exc}",
                      error=True)
            return
        except Exception as exc:  # never take the server down
            log.exception("explore: run failed")
            self._say(f"The run failed ({type(exc).__name__}); the plots still show the "
                      "last good run.", error=True)
            return
        self.current = current
        self._say("")
        patch = {f"current_{s}": current.values[s] for s in range(len(explorer.series))}
        if not self.band_toggle.value and self.band is not None:
            self.band = None
            nan = np.full(len(current.times), np.nan)
            for s in range(len(explorer.series)):
                patch.update({f"lo_{s}": nan, f"mid_{s}": nan, f"hi_{s}": nan})
        self.source.data.update(patch)  # only the changed columns go to the page
        # the plots first; the table, the address bar and the band follow in the next
        # turn of the server's loop, so they never delay the redraw
        self._soon(lambda: self._after_redraw(along=along))

    def _after_redraw(self, *, along: str | None = None) -> None:
        self._table()
        self._url()
        if self.strip_source.data["row"]:
            self.strip_note.object = ("<small>Settings changed: press the button to redo "
                                      "the loop analysis.</small>")
        if self.band_toggle.value:
            self._soon(self.draw_band)
        if along is not None and self.explorer.tracks:  # the next release along it
            self._soon(lambda: self._prepare_track(along))

    def _prepare_track(self, along: str) -> None:
        try:
            self.explorer.prepare_track(self.values, self.scenario, along=along)
        except Exception:  # the page keeps working: the next release runs alone
            log.exception("explore: the slider track of %s failed", along)

    def draw_band(self) -> None:
        """Run the uncertainty band for the current settings and draw it."""
        if not self.band_toggle.value:
            return
        try:
            band = self.explorer.band(self.values, self.scenario)
        except SdrevError as exc:
            self._say(f"The uncertainty band could not be drawn: {exc}", error=True)
            return
        self.band = band
        patch = {}
        for s in range(len(self.explorer.series)):
            patch.update({f"lo_{s}": band[0, s], f"mid_{s}": band[1, s], f"hi_{s}": band[2, s]})
        self.source.data.update(patch)

    def draw_loops(self) -> None:
        """Run the loop analysis for the current settings and draw the strip."""
        explorer = self.explorer
        try:
            periods = explorer.loop_periods(self.values, self.scenario)
        except SdrevError as exc:
            self._say(f"The loop analysis failed: {exc}", error=True)
            return
        except Exception as exc:
            log.exception("explore: loop analysis failed")
            self._say(f"The loop analysis failed ({type(exc).__name__}).", error=True)
            return
        half = explorer.model.time.saveper / 2
        rows = sorted({p[0] for p in periods})
        names = {r: ("documented loops" if len(rows) == 1 else f"partition {r}") for r in rows}
        labels = list(dict.fromkeys(p[4] for p in periods))
        colors = {lab: Category10_10[i % 10] for i, lab in enumerate(labels)}
        self.strip.y_range.factors = [names[r] for r in rows] or ["documented loops"]
        self.strip_source.data = {
            "row": [names[p[0]] for p in periods],
            "left": [p[1] - half for p in periods], "right": [p[2] + half for p in periods],
            "label": [p[4] for p in periods], "color": [colors[p[4]] for p in periods]}
        self.strip_note.object = ("<small>Loop dominance of the current settings.</small>"
                                  if periods else
                                  "<small>No documented loop dominates in this run.</small>")

    def _table(self) -> None:
        explorer = self.explorer
        units = explorer.model.time.units or "time"
        rows = explorer.outcomes(self.current, self.values, self.scenario)
        end = f"{explorer.times[-1]:g}"
        head = ("<tr><th>output</th><th>threshold</th>"
                f"<th>at {html.escape(end)}</th><th>baseline</th><th>difference</th>"
                f"<th>{html.escape(units)} threshold reached</th><th>baseline</th>"
                "<th>difference</th></tr>")
        body = []
        for r in rows:
            body.append(
                f'<tr data-series="{html.escape(r.series.key)}">'
                f"<td>{html.escape(r.series.label)}</td><td>{_fmt(r.threshold)}</td>"
                f"<td>{_fmt(r.final)}</td><td>{_fmt(r.final_baseline)}</td>"
                f"<td>{_signed(r.final_difference)}</td>"
                f"<td>{_fmt(r.reached, 6)}</td><td>{_fmt(r.reached_baseline, 6)}</td>"
                f"<td>{_signed(r.reached_difference)}</td></tr>")
        self.table.object = (
            "<style>.sdrev-table td, .sdrev-table th {padding: 2px 8px; text-align: right}"
            " .sdrev-table td:first-child, .sdrev-table th:first-child {text-align: left}"
            "</style>"
            '<table class="sdrev-table" style="border-collapse:collapse;font-size:90%">'
            f"{head}{''.join(body)}</table><small>Threshold: the model's declared one, else "
            "halfway from the baseline's first to its last value; – never reached.</small>")

    def _url(self) -> None:
        location = pn.state.location
        if location is not None:
            location.search = query_string(self.explorer, self.scenario, self.values,
                                           self.band_toggle.value)

    def _csv_file(self):
        if self.current is None:
            return io.BytesIO(b"")
        return io.BytesIO(self.explorer.csv(self.current, self.band).encode("utf-8"))
