"""`redact_fresh` (the fast path of log lines and documents) redacts exactly what `redact` does."""

from __future__ import annotations

from typing import Any

import pytest

from common.io.redaction import REDACTED, redact, redact_fresh

CASES: list[Any] = [
    {"event": "turn complete", "turn": 1, "ms": 2.5, "ok": True, "none": None},
    {"event": "failed", "message": "Incorrect API key provided: sk-abcdefghijklmnop"},
    {"headers": {"Authorization": "Bearer abc.def.ghi"}, "n": [1, 2, {"x": "fine"}]},
    {"url": "https://user:pw@example.com/v1", "list": ("a", "b")},
    {"apİ_key": "value123456"},  # non-ASCII: the ordinary path decides
    {"answer": "x" * 600 + " api_key=abc123 "},  # a long string: the ordinary path decides
    {"sk-abcdefghijkl": "a key as a key"},
    ["plain", "words", {"nested": ["deeper", {"key=": "q"}]}],
]


@pytest.mark.parametrize("value", CASES)
def test_the_fast_path_gives_what_redact_gives(value: Any) -> None:
    assert redact_fresh(value) == redact(value)


def test_an_environment_secret_is_redacted_by_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "plain-looking-value-42")
    assert redact_fresh({"msg": "sent plain-looking-value-42"}) == {"msg": f"sent {REDACTED}"}
    monkeypatch.delenv("SOME_SERVICE_TOKEN")
    assert redact_fresh({"msg": "sent plain-looking-value-42"}) == {"msg": "sent plain-looking-value-42"}


def test_a_value_with_nothing_to_redact_is_returned_itself() -> None:
    value = {"event": "progress", "turn": 1, "of": 2}
    assert redact_fresh(value) is value
