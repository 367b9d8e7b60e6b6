"""Every provider against a hostile server, as a host runs the worker: as a subprocess.

Each provider gets one `probe.py --serve` process whose base-URL variable points at
`testkit.hostile.HostileProvider`; each of its jobs names one behaviour in its prompt and
has a 5 s deadline. The worker must answer every job with one result whose code and
`retryable` flag tell the truth about what happened (a retry helps after a reset mid-body
or a 500 page, never after a redirect loop or a page the server sent whole), and it must
end each job by itself within the deadline: even a body trickled a byte at a time ends
as TIMEOUT, not as a job that never answers. A few cases also run one-shot (`probe.py` with
the behaviour in the base URL), the way most hosts start a job. Serve processes run side
by side and so do their jobs: 7 imports, not 63, keep the matrix well under a minute on a
small machine, and the deadline measures the server, not the SDK import.

The serve matrix runs on both transports a warm worker can send on: ours on aiohttp (the
default) and httpx2's own (`PROBE_HTTP_TRANSPORT=httpx2`); one-shot jobs send on httpx2's.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from testkit.hostile import BEHAVIOURS, HostileProvider
from testkit.workers import PROBE_PY, run_script, serve_process
from tests.helpers import probe_job

DEADLINE_MS = 5000
# A one-shot job's deadline counts from process start, so it also pays the SDK import
# (1-3 s, more on a loaded 2-CPU machine): its deadline leaves room for that.
ONE_SHOT_DEADLINE_MS = 10_000
WARM_UP_DEADLINE_MS = 60_000
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
# One-shot runs (a process per job): the slowest behaviours and the new classifications.
ONE_SHOT = [
    ("openai", "trickle"),
    ("anthropic", "redirect_loop"),
    ("google", "cut_mid_json"),
    ("mistral", "text_plain"),
]


def _job(provider: str, behaviour: str | None, deadline_ms: int = DEADLINE_MS) -> dict[str, Any]:
    prompt = f"hostile:{behaviour} What would you do?" if behaviour else "What would you do?"
    config = {"maxTokens": 64, "deadlineMs": deadline_ms}
    return probe_job(TARGETS[provider].model, followups=0, scenario={"prompt": prompt}, config=config)


def _env(hostile: HostileProvider, provider: str, behaviour: str | None) -> dict[str, str]:
    target = TARGETS[provider]
    return {
        target.key_var: f"test-{provider}-key-not-real-0123456789",
        target.url_var: hostile.base_url(behaviour, target.suffix),
        "PROBE_LOG_LEVEL": "warning",
    }


SERVE_TRANSPORTS = ("aiohttp", "httpx2")


def _serve_provider(hostile: HostileProvider, provider: str, transport: str) -> dict[str, dict[str, Any]]:
    """Every behaviour as one job line of one serve process; the results by behaviour."""
    env = {**_env(hostile, provider, None), "PROBE_HTTP_TRANSPORT": transport}
    with serve_process("--concurrency", str(len(BEHAVIOURS)), **env) as worker:
        # A first job loads the provider's SDK, so the deadlines below measure the server alone.
        worker.send({"id": "warm-up", **_job(provider, "text_plain", WARM_UP_DEADLINE_MS)})
        assert worker.results(1)["warm-up"]["success"] is True
        worker.send(*({"id": behaviour, **_job(provider, behaviour)} for behaviour in BEHAVIOURS))
        results = worker.results(len(BEHAVIOURS))
        worker.close_stdin()
        assert worker.wait() == 0
    return {str(behaviour): result for behaviour, result in results.items()}


def _one_shot(hostile: HostileProvider, provider: str, behaviour: str) -> dict[str, Any]:
    job = _job(provider, None, ONE_SHOT_DEADLINE_MS)
    done = run_script(PROBE_PY, job, env=_env(hostile, provider, behaviour), timeout_s=RUN_TIMEOUT_S)
    assert done.code == 0, done.err[-2000:]
    assert f"test-{provider}-key-not-real" not in done.out + done.err
    return done.document  # exactly one JSON document on stdout


@pytest.fixture(scope="module")
def outcomes() -> Iterator[dict[tuple[str, str, str], dict[str, Any]]]:
    """(mode, provider, behaviour) -> the result document the worker wrote (mode: `serve-<transport>`
    or `one-shot`)."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    with HostileProvider().running() as hostile:
        for transport in SERVE_TRANSPORTS:  # one transport's 7 processes at a time: the deadlines stay the server's
            with ThreadPoolExecutor(max_workers=len(TARGETS)) as pool:
                served = {provider: pool.submit(_serve_provider, hostile, provider, transport) for provider in TARGETS}
                for provider, future in served.items():
                    for behaviour, result in future.result().items():
                        found[f"serve-{transport}", provider, behaviour] = result
        with ThreadPoolExecutor(max_workers=2) as pool:  # after the serve imports: the CPU is free again
            shots = {case: pool.submit(_one_shot, hostile, *case) for case in ONE_SHOT}
            for (provider, behaviour), future in shots.items():
                found["one-shot", provider, behaviour] = future.result()
    yield found


def _check(document: dict[str, Any], behaviour: str) -> None:
    expected = EXPECTED[behaviour]
    if expected is None:
        assert document["success"] is True, document
        assert document["transcript"]["turns"][0]["targetResponse"] == "A hostile server's honest answer."
        return
    assert document["success"] is False
    error = document["error"]
    assert (error["code"], error["retryable"]) == expected, error
    assert error["details"]["attempts"] >= 1  # the provider was asked: the deadline was not spent elsewhere
    if not expected[1]:
        assert error["details"]["attempts"] == 1  # never retried
    assert len(error["message"]) < 16 * 1024  # an 8 MiB page is not echoed back to the host


@pytest.mark.e2e
@pytest.mark.parametrize("transport", SERVE_TRANSPORTS)
@pytest.mark.parametrize(("provider", "behaviour"), CASES)
def test_every_provider_tells_the_truth_about_a_hostile_server(
    outcomes: dict[tuple[str, str, str], dict[str, Any]], provider: str, behaviour: str, transport: str
) -> None:
    _check(outcomes[f"serve-{transport}", provider, behaviour], behaviour)


@pytest.mark.e2e
@pytest.mark.parametrize(("provider", "behaviour"), ONE_SHOT)
def test_one_shot_workers_tell_the_same_truth(
    outcomes: dict[tuple[str, str, str], dict[str, Any]], provider: str, behaviour: str
) -> None:
    _check(outcomes["one-shot", provider, behaviour], behaviour)
