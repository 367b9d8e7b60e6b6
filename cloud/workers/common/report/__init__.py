"""report.py: one self-contained HTML page (and optional SVG/PNG figures) of a run's results and analysis.

Layered above `runs` (it reads batch result lines) and `analysis` (it runs analyze_basic's
statistics when the results carry decisions); nothing in the workers imports it.
"""
