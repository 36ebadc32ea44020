"""Policy briefs: a self-contained HTML page and a PDF printed from it.

:func:`build_brief` gathers the results a brief needs, running what is not
given as a run folder: the scenario comparison (:mod:`sdrev.compare`; each run
on the compiled engine, PySD where the engine cannot run the model, the brief
naming which), the scenarios over many plausible parameter sets (bands, outcome
ranges, how often one scenario ends above another:
:func:`sdrev.compare.scenario_uncertainty`, over a Latin hypercube of the
documented ranges or a calibration's posterior draws), the feedback-loop
analysis (:func:`sdrev.loops.analyze`), a sensitivity analysis
(:mod:`sdrev.sensitivity`; read from a run folder, or a small default Sobol'
run) and, for models whose metadata has a ``[compare]`` table with a regime
map, the regime map. :func:`write_brief` writes the HTML, prints the PDF from
it with headless Chromium (or WeasyPrint) and writes a manifest.

Modules: ``record`` (the Brief), ``content`` (building it, its sections and their values), ``findings``
(the answer and "What this means for policy"), ``uncertainty``, ``levers``
(sensitivity results), ``figures`` (SVG figures), ``words`` (numbers, units,
labels, sources for readers), ``render`` (HTML, PDF, the run folder).

Examples
--------
>>> import sdrev
>>> from sdrev.report import brief
>>> b = brief.build_brief(sdrev.load("machine_tool_io"))          # doctest: +SKIP
>>> brief.write_brief(b, "results/briefs/machine_tool_io")        # doctest: +SKIP
"""

from sdrev.report.brief.content import (
    SECTION_CONTEXT,
    SECTION_TITLES,
    brief_context,
    brief_sections,
    build_brief,
)
from sdrev.report.brief.figures import figure_uri
from sdrev.report.brief.record import Brief
from sdrev.report.brief.findings import (
    Finding,
    answer_text,
    caveats,
    mechanism_sequence,
    policy_findings,
)
from sdrev.report.brief.levers import (
    Levers,
    default_sensitivity,
    default_spec,
    levers_from_folder,
    levers_from_result,
)
from sdrev.report.brief.render import (
    NoPdfEngineError,
    find_pdf_engine,
    html_to_pdf,
    render_html,
    render_pdf,
    write_brief,
)
from sdrev.report.brief.uncertainty import (
    BriefUncertainty,
    brief_uncertainty,
    default_samples,
    uncertain_factors,
)
from sdrev.report.brief.words import clean_source

__all__ = ["SECTION_CONTEXT", "SECTION_TITLES", "Brief", "BriefUncertainty", "Finding",
           "Levers", "NoPdfEngineError", "answer_text", "brief_context", "brief_sections",
           "brief_uncertainty", "build_brief", "caveats", "clean_source", "default_samples",
           "default_sensitivity", "default_spec", "figure_uri", "find_pdf_engine",
           "html_to_pdf", "levers_from_folder", "levers_from_result", "mechanism_sequence",
           "policy_findings", "render_html", "render_pdf", "uncertain_factors",
           "write_brief"]
