"""Benchmark `sdrev explore`: time from releasing a slider to the redrawn plot.

For each model, starts ``sdrev explore MODEL`` on a free local port, opens it
in headless Chromium (the system's, through Playwright: nothing is
downloaded), drags one slider to ``--moves`` positions along its track and
measures, in the page, the time from the mouse button's release
(``pointerup``) to the first animation frame after the trajectories' data
changed (BokehJS has repainted the plots by then). This is the whole path: the
browser sends the value, the server checks it, runs the model on the compiled
engine, recomputes the outcome table and sends the new columns, the page
redraws. Page load (to the first drawn plot) is timed too.

The first release on a slider of a subscripted model (numpy engine) runs
every position of that slider in one engine call, and later releases along
it are looked up (``Explorer.run(along=...)``): ``first`` is that first
release's time, kept apart from the median and percentiles of all moves.

Usage::

    python benchmarks/explore_redraw.py                      # every library model
    python benchmarks/explore_redraw.py crrc_standards --moves 20
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOOK = """() => {
  const src = Bokeh.documents[0].get_model_by_name('sdrev-trajectories');
  window.__bench = {frames: [], up: null};
  src.properties.data.change.connect(
    () => requestAnimationFrame(() => window.__bench.frames.push(performance.now())));
  document.addEventListener('pointerup', () => { window.__bench.up = performance.now(); }, true);
}"""
VALUE = ("(name) => Bokeh.documents[0].all_models.values().find("
         "m => m.type === 'Slider' && m.title.startsWith(name + ' (')).value")
POSITIONS = (0.25, 0.75, 0.4, 0.9, 0.1, 0.6, 0.3, 0.8, 0.5, 0.15, 0.7, 0.35, 0.95, 0.05, 0.55,
             0.2, 0.85, 0.45, 0.65, 0.12)


def start_server(model: str):
    from sdrev.explore.server import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sdrev.cli", "explore", model,
                             "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    ready, lines = threading.Event(), []

    def read():
        for line in proc.stdout:
            lines.append(line)
            if "serving" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(300):
        proc.kill()
        raise RuntimeError(f"{model}: server did not start: {''.join(lines)[-1000:]}")
    return proc, re.search(r"at (http://\S+)", "".join(lines)).group(1)


def measure(browser, model: str, moves: int) -> dict:
    from sdrev.explore import Explorer

    control = next(c for c in Explorer(model, band_runs=2).controls if not c.switch)
    proc, url = start_server(model)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                               "Bokeh.documents[0].get_model_by_name('sdrev-trajectories')")
        page.wait_for_selector(".noUi-handle", state="attached")
        load = time.perf_counter() - start
        page.evaluate(HOOK)
        page.get_by_text(control.group, exact=True).first.click()
        widget = page.locator(f".sdrev-control-{control.py_name}")
        handle = widget.locator(".noUi-handle")
        track = widget.locator(".noUi-base")
        handle.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        times = []
        value = page.evaluate(VALUE, control.name)
        for k in range(moves):
            box, base = handle.bounding_box(), track.bounding_box()
            before = page.evaluate("() => window.__bench.frames.length")
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(base["x"] + POSITIONS[k % len(POSITIONS)] * base["width"],
                            box["y"] + box["height"] / 2, steps=4)
            page.mouse.up()
            page.wait_for_timeout(50)
            if page.evaluate(VALUE, control.name) == value:
                continue  # released where it was: nothing to redraw
            value = page.evaluate(VALUE, control.name)
            page.wait_for_function(f"() => window.__bench.frames.length > {before}")
            page.wait_for_timeout(300)  # let late messages (ranges, table) settle
            up, frame = page.evaluate(f"() => [window.__bench.up, window.__bench.frames[{before}]]")
            times.append(frame - up)
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    first = times[0]
    times.sort()
    return {"model": model, "slider": control.name, "load_s": load, "moves": len(times),
            "first_ms": first,
            "median_ms": statistics.median(times), "p90_ms": times[int(0.9 * (len(times) - 1))],
            "max_ms": times[-1], "min_ms": times[0]}


def main() -> None:
    from playwright.sync_api import sync_playwright

    from sdrev.library import list_models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="models (default: every library model)")
    parser.add_argument("--moves", type=int, default=20, help="slider moves per model")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    models = args.models or [entry.name for entry in list_models()]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=ARGS, headless=True)
        print(f"{'model':28} {'slider':34} {'load s':>6} {'first':>6} {'median':>7} {'p90':>6} "
              f"{'max':>6}  (release to redraw, ms)")
        for model in models:
            r = measure(browser, model, args.moves)
            print(f"{r['model']:28} {r['slider'][:34]:34} {r['load_s']:6.1f} "
                  f"{r['first_ms']:6.0f} {r['median_ms']:7.0f} {r['p90_ms']:6.0f} {r['max_ms']:6.0f}", flush=True)
        browser.close()


if __name__ == "__main__":
    main()
