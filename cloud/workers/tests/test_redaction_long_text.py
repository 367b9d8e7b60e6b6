"""Redaction of long ASCII text (a worker's whole document): the same result as for any text.

ASCII text is searched at rare characters of each rule's literal, non-ASCII text a literal
at a time (`common.io.redaction`): whichever way, a document must come out the same, with
every credential gone, in any letter case and however often the searched-for characters
occur.
"""

from __future__ import annotations

import random

import pytest

from common.io.redaction import REDACTED, redact_text

_CREDENTIALS = (
    ("Authorization: Bearer abcdef.ghijkl-123456", "Authorization: Bearer [REDACTED]"),
    ("AUTHORIZATION: token Zz9yXx8wVv7u", "AUTHORIZATION: token [REDACTED]"),
    ("bEaReR qwertyuiop1234567890", "bEaReR [REDACTED]"),
    ("Bearer zxcvbnm0987654321", "Bearer [REDACTED]"),
    ('"x-API-Key": "whatever-secret-123"', '"x-API-Key": "[REDACTED]"'),
    ("Api_Key=zzkk99xxbb88", "Api_Key=[REDACTED]"),
    ("apikey: kkkkzzzz1234", "apikey: [REDACTED]"),
    ("/v1/models?KEY=abc123secret&alt=json", "/v1/models?KEY=[REDACTED]&alt=json"),
    ("https://user:hunter2hunter2@gateway.test/v1", "https://[REDACTED]@gateway.test/v1"),
    ("sk-proj-abcdefghijklmnop1234 rejected", "[REDACTED] rejected"),
    ("xai-AbCdEfGhIjKlMnOp1234 is not valid", "[REDACTED] is not valid"),
    ("AIzaSyA1234567890abcdefghijklmnopqrs!", "[REDACTED]!"),
)
# Words with the characters the search starts from (z, b, k, x, /) and near-misses of the literals.
_FILLER = (
    "zebra ",
    "bzzz ",
    "BOOK ",
    "kayak ",
    "xxx ",
    "XBox ",
    "a/b/c ",
    "key ",
    "sk ",
    "ask-me ",
    "xai ",
    "AIz ",
    "authorizatio ",
    "bear ",
    '{"k":1},',
    "provider/model-001 ",
)

_PLAIN = ('"mean":0.25,', "scenario-0042 ", "the model ", "preferred ", '"count":17}', "neutral ")


def _document(seed: int, size: int) -> tuple[str, str]:
    """Filler with credentials scattered through it, and what redaction should leave of it."""
    rng = random.Random(seed)
    text: list[str] = []
    expected: list[str] = []
    length = 0
    while length < size:
        if rng.random() < 0.01:
            raw, clean = rng.choice(_CREDENTIALS)
            raw, clean = " " + raw + " ", " " + clean + " "
        elif rng.random() < 0.03:
            raw = clean = rng.choice(_FILLER)
        else:  # mostly words without any of those characters, as in a worker's document
            raw = clean = rng.choice(_PLAIN)
        text.append(raw)
        expected.append(clean)
        length += len(raw)
    return "".join(text), "".join(expected)


@pytest.mark.parametrize(("seed", "size"), [(1, 2_000), (2, 40_000), (3, 700_000)])
def test_every_credential_in_a_long_document_is_redacted_and_nothing_else(seed: int, size: int) -> None:
    text, expected = _document(seed, size)
    assert text.isascii()
    assert redact_text(text, secrets=[]) == expected


@pytest.mark.parametrize("seed", [4, 5])
def test_ascii_and_non_ascii_documents_are_redacted_alike(seed: int) -> None:
    text, expected = _document(seed, 300_000)
    marker = "\u00e9"  # one non-ASCII character: the other way of searching
    assert redact_text(text + marker, secrets=[]) == expected + marker
    assert redact_text(text, secrets=[]) == expected


def test_a_credential_among_very_many_search_characters_is_still_redacted() -> None:
    # So many z, b, k, x and / that the rules found through them are searched another way.
    crowd = "zbkx/ZBKX " * 50_000
    text = crowd + "xai-AbCdEfGhIjKlMnOp1234 Bearer qwertyuiop1234 api_key=kz9x8b7 " + crowd
    cleaned = redact_text(text, secrets=[])
    assert cleaned == crowd + f"{REDACTED} Bearer {REDACTED} api_key={REDACTED} " + crowd
