"""analyze_basic's document as JSON text: the same document `io.render.render` writes, faster.

A 100,000-transcript analysis is ~17 MB of JSON and about a million values. `render`
dumps the models to dicts, copies them through redaction string by string, then encodes
them: ~0.6 s, and two extra copies of the document in memory. pydantic can encode the
models to JSON directly (~0.08 s); this module does that and then proves, on the text,
that redaction has nothing to change, or else renders the standard way.

Why the proof holds: when the text is ASCII and has no backslash, every string of the
document (keys included) appears in it verbatim between quotes. `redact_text` over the
whole text then sees every secret and every rule's literal that any one string holds;
a rule's match can only run past a string's closing quote from a key into what follows
it (`"...api_key":0.5`), and in this document a key made of data is always followed by
an object or a number, which the rule redacts (not a word), so the text would change.
Unchanged text therefore means every string is unchanged: the document is exactly what
`render` prints. Numbers are the same values; pydantic writes an exponent as `1e-5`
where `json.dumps` writes `1e-05`.
"""

from __future__ import annotations

from pydantic import BaseModel

from common.contract.analysis import AnalyzeBasicSuccess
from common.io.redaction import redact_text
from common.io.render import render


def render_document(document: BaseModel) -> str:
    """One line of JSON for the worker's stdout: failures, and anything unproven, through `render`."""
    if isinstance(document, AnalyzeBasicSuccess):
        text = document.model_dump_json(by_alias=True)
        if text.isascii() and "\\" not in text and redact_text(text) == text:
            return text
    return render(document)
