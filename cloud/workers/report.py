#!/usr/bin/env python3
"""Run report: a batch run's results (and analysis) -> one self-contained HTML file.

    python3 cloud/workers/report.py results.jsonl [--jobs jobs.jsonl] [--analysis analysis.json]
        -o report.html [--figures DIR]

The page needs no network: its style, Vega and its script are inlined and the run's data
is embedded once as JSON. Without --analysis, analyze_basic's statistics are computed from
the decisions the result lines carry, when they carry any (see common/report/).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` from any working directory

from common.report.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
