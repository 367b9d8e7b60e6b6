"""Tier 1 statistics of a completed run (the analyze_basic worker), one concern per module.

extract -> columns (numpy arrays), cells -> one row per (model, scenario), then one module
per output section; report.py puts the sections together.
"""
