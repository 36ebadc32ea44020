"""Report stage: figures, text summaries and briefs.

The only package of sdrev that imports matplotlib.
"""

from sdrev.report.figures import save_figure, trajectory_figure
from sdrev.report.loop_figures import loop_score_figure, loops_table_text
from sdrev.report.text import describe_text, library_text, summary_table

__all__ = ["describe_text", "library_text", "loop_score_figure", "loops_table_text",
           "save_figure", "summary_table", "trajectory_figure"]
