"""Figures: matplotlib lives here (and, until it moves, in ``report``).

Functions from results (frozen dataclasses, data frames) to matplotlib
``Figure`` objects, made without pyplot's global state. The stages below
the report may draw with them; nothing here imports a stage.
"""
