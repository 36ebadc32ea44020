"""Rendering a brief: one HTML page, and its PDF from the same page.

The HTML (Jinja2 templates under ``sdrev/report/templates``: ``brief.html``
and one ``sections/KEY.html`` per section) embeds its figures as SVG and
carries its print style sheet (A4, page numbers, figures kept with their
captions, numbers right-aligned, no hyphenation of words). The PDF is that
same page printed by a real layout engine: headless Chromium's print-to-PDF
(``$SDREV_CHROMIUM``, else ``chromium``, ``chromium-browser``,
``google-chrome`` on the PATH) or, when no browser is found, WeasyPrint if it
is installed. With neither, :func:`write_brief` still writes the HTML and then
raises :class:`NoPdfEngineError`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sdrev.errors import OutputError
from sdrev.report.brief.content import SECTION_TITLES, brief_context, brief_sections

if TYPE_CHECKING:
    from sdrev.report.brief.record import Brief

__all__ = ["CHROMIUM_NAMES", "PDF_TIMEOUT", "NoPdfEngineError", "find_pdf_engine",
           "html_to_pdf", "render_html", "render_pdf", "write_brief"]

_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
#: Browser executables tried, in order, after ``$SDREV_CHROMIUM``.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Seconds a browser may take to print one brief.
PDF_TIMEOUT = 180


class NoPdfEngineError(OutputError):
    """No layout engine to print the PDF (the HTML is written regardless)."""


def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
    return Environment(loader=FileSystemLoader(str(_TEMPLATES)),
                       autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def render_html(brief: Brief, *, context: dict | None = None) -> str:
    """The brief as one self-contained HTML page (screen and print styles)."""
    ctx = context if context is not None else brief_context(brief)
    return _environment().get_template("brief.html").render(**ctx)


def find_pdf_engine() -> tuple[str, str] | None:
    """``("chromium", path)``, ``("weasyprint", version)`` or None."""
    env = os.environ.get("SDREV_CHROMIUM")
    if env:
        path = shutil.which(env)
        if path:
            return "chromium", path
    else:
        for name in CHROMIUM_NAMES:
            path = shutil.which(name)
            if path:
                return "chromium", path
    try:
        import weasyprint
    except Exception:  # not installed, or its system libraries are missing
        return None
    return "weasyprint", str(getattr(weasyprint, "__version__", ""))


def html_to_pdf(html_file: str | Path, pdf_file: str | Path, *,
                engine: tuple[str, str] | None = None) -> str:
    """Print an HTML file to PDF; returns the engine used (``"chromium 1.2"``).

    Raises
    ------
    NoPdfEngineError
        If no engine is found, or the engine fails.
    """
    html_file, pdf_file = Path(html_file).resolve(), Path(pdf_file)
    engine = engine or find_pdf_engine()
    if engine is None:
        raise NoPdfEngineError(
            "no PDF engine found: install Chromium (apt-get install chromium, or set "
            "SDREV_CHROMIUM to a browser binary) or WeasyPrint; the HTML brief was written")
    kind, where = engine
    if kind == "weasyprint":
        import weasyprint
        weasyprint.HTML(filename=str(html_file)).write_pdf(str(pdf_file))
        return f"WeasyPrint {where}".strip()
    with tempfile.TemporaryDirectory(prefix="sdrev-chromium-") as profile:
        cmd = [where, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-dev-shm-usage", "--no-pdf-header-footer",
               f"--user-data-dir={profile}", f"--print-to-pdf={pdf_file.resolve()}",
               html_file.as_uri()]
        try:
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=PDF_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NoPdfEngineError(f"Chromium at {where} could not print the brief "
                                   f"({type(exc).__name__}); the HTML brief was written"
                                   ) from None
    if not pdf_file.is_file() or pdf_file.stat().st_size == 0:
        tail = " ".join(done.stderr.decode(errors="replace").split())[-300:]
        raise NoPdfEngineError(f"Chromium at {where} printed no PDF (exit {done.returncode}"
                               f"{': ' + tail if tail else ''}); the HTML brief was written")
    return f"Chromium ({Path(where).name})"


def render_pdf(brief: Brief, path: str | Path, *, context: dict | None = None) -> Path:
    """Write the brief's PDF: the HTML page printed by :func:`html_to_pdf`."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="sdrev-brief-") as tmp:
        page = Path(tmp) / "brief.html"
        page.write_text(render_html(brief, context=context), encoding="utf-8")
        html_to_pdf(page, path)
    return path


def write_brief(brief: Brief, folder: str | Path, *, command: str = "",
                pdf: bool = True) -> list[Path]:
    """Write ``brief.html``, ``brief.pdf`` and ``manifest.json`` into a new run folder.

    Parameters
    ----------
    brief : Brief
    folder : str or Path
        The run folder (must not exist yet).
    command : str
        The command line, for the manifest.
    pdf : bool
        Print the PDF (default yes).

    Returns
    -------
    list of Path
        The files written, under their final names.

    Raises
    ------
    NoPdfEngineError
        After the folder is in place with the HTML and manifest, when no
        engine could print the PDF.
    """
    from sdrev import runs
    from sdrev.report.brief.settings import switches_of
    from sdrev.scenario import Switch, run_settings

    folder = Path(folder)
    ctx = brief_context(brief)
    failure: NoPdfEngineError | None = None
    files = ["brief.html"]
    engine = ""
    with runs.staged_folder(folder) as stage:
        (stage / "brief.html").write_text(render_html(brief, context=ctx), encoding="utf-8")
        if pdf:
            try:
                engine = html_to_pdf(stage / "brief.html", stage / "brief.pdf")
                files.append("brief.pdf")
            except NoPdfEngineError as exc:
                failure = exc
        scenario = "baseline" if "baseline" in brief.model.scenarios else None
        extra = {"analysis": "brief", "files": files, "pdf_engine": engine,
                 "answer": ctx["answer"],
                 "findings": [f["text"] for f in ctx["findings"]],
                 "sections": [SECTION_TITLES[k] for k in brief_sections(brief)],
                 "compared_runs": [r.label for r in brief.comparison.runs],
                 "sources": dict(brief.sources), "timings_seconds": dict(brief.timings),
                 "engines": {r.label: r.engine for r in brief.comparison.runs},
                 "outcomes": brief.comparison.metrics[
                     ["output", "label", "final_value", "peak_value", "peak_time"]
                 ].to_dict("records"),
                 "notes": list(brief.notes),
                 "settings": {k: ({"value": v.value, "at": v.at} if isinstance(v, Switch)
                                  else v) for k, v in brief.settings.items()}}
        if brief.levers is not None:
            extra["sensitivity"] = {"method": brief.levers.method, "n": brief.levers.n,
                                    "seed": brief.levers.seed, "runs": brief.levers.runs,
                                    "settled": brief.levers.settled}
        if brief.uncertainty is not None:
            u = brief.uncertainty
            extra["uncertainty"] = {"sets": u.sets, "source": u.source,
                                    "posterior": u.posterior, "factors": list(u.factors),
                                    "outcomes": u.result.outcomes.to_dict("records")}
        if brief.regime_map is not None:
            extra["regime_map"] = brief.regime_map.summary()
        runs.write_json(stage / "manifest.json", runs.manifest(
            brief.model, run_settings(brief.model, scenario=scenario, timed=True,
                                      params=switches_of(brief.settings)), command=command,
            extra=extra))
    if failure is not None:
        raise failure
    return [folder / f for f in files] + [folder / "manifest.json"]
