"""Every provider against a hostile server, as a host runs the worker: one process per job.

Each case points one provider's base-URL variable at one behaviour of
`testkit.hostile.HostileProvider` and runs `probe.py` with a 5 s deadline; the worker must
answer with one document whose code and `retryable` flag tell the truth about what
happened (a retry helps after a reset mid-body or a 500 page, never after a redirect loop
or a page the server sent whole), and it must end by itself within the deadline: even a
body trickled a byte at a time ends as TIMEOUT, not as a hung process. The cases run
concurrently, so the whole matrix (7 providers x 9 behaviours) takes the time of a few.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from testkit.hostile import BEHAVIOURS, HostileProvider
from testkit.workers import PROBE_PY, WorkerRun, run_script
from tests.helpers import probe_job

DEADLINE_MS = 5000
RUN_TIMEOUT_S = 60.0  # only a hung worker gets near this: the deadline ends every case well before


@dataclass(frozen=True)
class Target:
    model: str
    key_var: str
    url_var: str
    suffix: str = ""  # what the base URL carries after the host (the OpenAI family's `/v1`)


TARGETS: dict[str, Target] = {
    "openai": Target("openai:gpt-4o-mini", "OPENAI_API_KEY", "OPENAI_BASE_URL", "/v1"),
    "xai": Target("xai:grok-4", "XAI_API_KEY", "XAI_BASE_URL", "/v1"),
    "deepseek": Target("deepseek:deepseek-chat", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL"),
    "openai-compatible": Target(
        "openai-compatible:llama3.1:8b", "OPENAI_COMPATIBLE_API_KEY", "OPENAI_COMPATIBLE_BASE_URL", "/v1"
    ),
    "anthropic": Target("anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
    "google": Target("google:gemini-2.5-flash", "GEMINI_API_KEY", "GEMINI_BASE_URL"),
    "mistral": Target("mistral:mistral-small-latest", "MISTRAL_API_KEY", "MISTRAL_BASE_URL"),
}

# behaviour -> (code, retryable); None: the answer is a success.
EXPECTED: dict[str, tuple[str, bool] | None] = {
    "html_500": ("SERVER_ERROR", True),
    "html_200": ("INVALID_RESPONSE", False),  # the page came whole: asking again buys the same page
    "cut_mid_json": ("INVALID_RESPONSE", False),  # its Content-Length said that was all
    "blank_lines": ("INVALID_RESPONSE", False),
    "reset_mid_body": ("NETWORK_ERROR", True),  # the transport lost it: the next attempt may get it whole
    "trickle": ("TIMEOUT", True),
    "redirect_loop": ("BAD_REQUEST", False),  # the base URL is wrong: no retry changes that
    "huge_502": ("SERVER_ERROR", True),
    "text_plain": None,  # a valid completion is one, whatever its content type says
}
assert set(EXPECTED) == set(BEHAVIOURS)

CASES = [(provider, behaviour) for provider in TARGETS for behaviour in BEHAVIOURS]


def _run_case(hostile: HostileProvider, provider: str, behaviour: str) -> WorkerRun:
    target = TARGETS[provider]
    job = probe_job(target.model, followups=0, config={"maxTokens": 64, "deadlineMs": DEADLINE_MS})
    env = {
        target.key_var: f"test-{provider}-key-not-real-0123456789",
        target.url_var: hostile.base_url(behaviour, target.suffix),
        "PROBE_LOG_LEVEL": "warning",
    }
    return run_script(PROBE_PY, job, env=env, timeout_s=RUN_TIMEOUT_S)


@pytest.fixture(scope="module")
def outcomes() -> Iterator[dict[tuple[str, str], WorkerRun]]:
    with HostileProvider().running() as hostile, ThreadPoolExecutor(max_workers=16) as pool:
        futures = {case: pool.submit(_run_case, hostile, *case) for case in CASES}
        yield {case: future.result() for case, future in futures.items()}


@pytest.mark.e2e
@pytest.mark.parametrize(("provider", "behaviour"), CASES)
def test_every_provider_tells_the_truth_about_a_hostile_server(
    outcomes: dict[tuple[str, str], WorkerRun], provider: str, behaviour: str
) -> None:
    done = outcomes[provider, behaviour]
    assert done.code == 0, done.err[-2000:]
    document: dict[str, Any] = done.document  # exactly one JSON document on stdout
    expected = EXPECTED[behaviour]
    if expected is None:
        assert document["success"] is True, document
        turn = document["transcript"]["turns"][0]
        assert turn["targetResponse"] == "A hostile server's honest answer."
        return
    assert document["success"] is False
    error = document["error"]
    assert (error["code"], error["retryable"]) == expected, error
    assert error["details"]["attempts"] >= 1
    if not expected[1]:
        assert error["details"]["attempts"] == 1  # never retried
    assert len(done.stdout) < 64 * 1024  # an 8 MiB page is not echoed back to the host
    assert f"test-{provider}-key-not-real" not in done.out + done.err
