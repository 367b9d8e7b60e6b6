"""Every document a worker writes, rendered one way: compact JSON, secrets redacted, always valid.

Two things can make `json.dumps` output something a host cannot take, and both are repaired
here rather than lost, because the document usually carries a paid answer:

- a lone UTF-16 surrogate (`"\\ud83d"` is legal JSON: half an emoji, which models produce at a
  token limit; job input echoed back can carry one too) cannot be encoded as UTF-8, so the
  write would raise and the process would die with nothing on stdout. It becomes U+FFFD
  (two halves of a pair that arrived as separate escapes are joined into their character);
- NaN and Infinity are not JSON (`JSON.parse` rejects the whole document). A non-finite
  number becomes `null`, and a warning log line names every field that was changed.

The common case pays for neither: an ASCII document is recognised in O(1) (`str.isascii`),
other documents are encoded once at C speed, and the repairs run only when that fails.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel

from common.io.redaction import redact_fresh

REPLACEMENT_CHARACTER = "\ufffd"


def render(document: BaseModel) -> str:
    """The document as one line of JSON (no newline), secrets scrubbed, always encodable as UTF-8."""
    data = document.model_dump(mode="json", by_alias=True)
    return render_value(redact_fresh(data))


def render_value(value: Any) -> str:
    """Any JSON-like value (already redacted) as compact JSON text a host can parse.

    For the few bits of output that are not documents, such as a result line's `id`, so they
    get the same guarantees: no NaN/Infinity, no text that cannot be written as UTF-8.
    """
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a non-finite float; json raises before writing anything
        text = json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if text.isascii():  # O(1) in CPython: no surrogate possible
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return without_lone_surrogates(text)
    return text


def without_lone_surrogates(text: str) -> str:
    """`text` with each lone UTF-16 surrogate replaced by U+FFFD, and split pairs joined.

    A round trip through UTF-16 with `surrogatepass` lets the codec do it: adjacent high and
    low halves decode to the character they encode, anything left alone decodes to U+FFFD.
    """
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _finite(value: Any) -> Any:
    """A copy with every NaN/Infinity replaced by null, logging where each one was."""
    changed: list[str] = []
    cleaned = _replace_non_finite(value, "", changed)
    from common.io.log import get_logger  # only on this rare path; log imports redaction, not render

    get_logger().warning(
        "non-finite numbers written as null",
        fields=changed[:20],
        count=len(changed),
        why="NaN and Infinity are not JSON: a host's JSON.parse would reject the whole document",
    )
    return cleaned


def _replace_non_finite(value: Any, path: str, changed: list[str]) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        changed.append(path or "(document)")
        return None
    if isinstance(value, dict):
        return {
            key: _replace_non_finite(item, f"{path}.{key}" if path else str(key), changed)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_replace_non_finite(item, f"{path}[{index}]", changed) for index, item in enumerate(value)]
    return value
