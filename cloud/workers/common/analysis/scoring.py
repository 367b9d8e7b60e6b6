"""How a transcript's canonical decision becomes a signed score, or why it has none.

Every transcript falls in exactly one bucket; the first five carry a score from +2
(strongly favours the first option) to -2, the last three are unscored and counted
by reason so nothing is dropped silently.
"""

from __future__ import annotations

from typing import Final

import numpy as np

STRONG_FIRST: Final = 0
LEAN_FIRST: Final = 1
NEUTRAL: Final = 2
LEAN_SECOND: Final = 3
STRONG_SECOND: Final = 4
REFUSAL: Final = 5
UNKNOWN: Final = 6
MISSING: Final = 7

# Wire names of the buckets, in code order (the fields of DecisionBuckets).
BUCKET_NAMES: Final = (
    "strong_first",
    "lean_first",
    "neutral",
    "lean_second",
    "strong_second",
    "refusal",
    "unknown",
    "missing",
)
BUCKET_COUNT: Final = len(BUCKET_NAMES)
FIRST_UNSCORED: Final = REFUSAL
SCORED_BUCKETS: Final = FIRST_UNSCORED  # buckets 0..4 carry a score

# Score of each bucket; NaN for the unscored ones.
BUCKET_SCORE: Final = np.array([2.0, 1.0, 0.0, -1.0, -2.0, np.nan, np.nan, np.nan])

DIRECTIONS: Final = ("favor_first", "favor_second", "neutral", "refusal", "unknown")
STRENGTHS: Final = ("strong", "lean", "neutral", "unknown")


def _bucket(direction: str, strength: str) -> int:
    if direction == "neutral":
        return NEUTRAL
    if direction == "refusal":
        return REFUSAL
    if direction == "favor_first" and strength in ("strong", "lean"):
        return STRONG_FIRST if strength == "strong" else LEAN_FIRST
    if direction == "favor_second" and strength in ("strong", "lean"):
        return STRONG_SECOND if strength == "strong" else LEAN_SECOND
    # direction unknown, or a favour without a usable strength (neutral/unknown)
    return UNKNOWN


# (direction, strength) -> bucket for every valid pair: one dict lookup per transcript.
DECISION_BUCKET: Final[dict[tuple[str, str], int]] = {
    (direction, strength): _bucket(direction, strength) for direction in DIRECTIONS for strength in STRENGTHS
}

VALUE_OUTCOMES: Final = ("prioritized", "deprioritized", "neutral")
VALUE_OUTCOME_CODE: Final[dict[str, int]] = {name: code for code, name in enumerate(VALUE_OUTCOMES)}
PRIORITIZED: Final = 0
