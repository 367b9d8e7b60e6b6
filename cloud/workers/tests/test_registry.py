"""Which provider serves a modelId, and what a host receives when none does or a key is missing."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from common.errors.codes import ErrorCode, WorkerError
from common.io.log import configure_logging
from common.providers.pool import ProviderPool
from common.providers.records import BY_NAME, PROVIDERS
from common.providers.registry import resolve_model
from common.runs.oneshot import run_worker
from common.runs.probe_worker import PROBE
from tests.helpers import probe_job


@pytest.fixture(autouse=True)
def _logs_back_on_the_session_stderr() -> Iterator[None]:
    """`run_worker` sets the log level from this test's environment; later tests need the default back."""
    yield
    configure_logging()


PREFIXES = ["openai", "anthropic", "google", "xai", "deepseek", "mistral", "openai-compatible", "mock"]


@pytest.mark.parametrize(
    ("model_id", "provider"),
    [
        ("gpt-4o", "openai"),
        ("gpt-4.1-mini", "openai"),
        ("gpt-5", "openai"),
        ("gpt-5-mini-2025-08-07", "openai"),
        ("chatgpt-4o-latest", "openai"),
        ("o1", "openai"),
        ("o1-preview", "openai"),
        ("o3", "openai"),
        ("o3-mini", "openai"),
        ("o4-mini-2025-04-16", "openai"),
        ("ft:gpt-4o-mini-2024-07-18:my-org:probe:abc123", "openai"),
        ("claude-sonnet-4-5-20250929", "anthropic"),
        ("claude-3-haiku-20240307", "anthropic"),
        ("claude-opus-4-1", "anthropic"),
        ("gemini-2.5-flash", "google"),
        ("gemini-2.5-pro", "google"),
        ("gemini-2.0-flash-lite", "google"),
        ("grok-4", "xai"),
        ("grok-3-mini", "xai"),
        ("grok-code-fast-1", "xai"),
        ("deepseek-chat", "deepseek"),
        ("deepseek-reasoner", "deepseek"),
        ("mistral-large-latest", "mistral"),
        ("mistral-small-2503", "mistral"),
        ("ministral-8b-latest", "mistral"),
        ("magistral-medium-latest", "mistral"),
        ("codestral-latest", "mistral"),
        ("pixtral-large-latest", "mistral"),
        ("open-mistral-nemo", "mistral"),
    ],
)
def test_model_families_are_recognised_without_a_prefix(model_id: str, provider: str) -> None:
    route = resolve_model(model_id)
    assert route.provider == provider
    assert route.model == model_id  # the id is sent to the provider unchanged


def test_case_and_surrounding_spaces_do_not_matter() -> None:
    assert resolve_model("  GPT-4o ").provider == "openai"
    assert resolve_model("Claude-Sonnet-4-5").model == "Claude-Sonnet-4-5"


def test_gemini_resource_names_lose_their_models_prefix() -> None:
    route = resolve_model("models/gemini-2.5-flash")
    assert (route.provider, route.model) == ("google", "gemini-2.5-flash")


@pytest.mark.parametrize(
    ("model_id", "provider", "model"),
    [
        ("openai:gpt-4o", "openai", "gpt-4o"),
        ("anthropic:claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
        ("google:gemini-2.5-flash", "google", "gemini-2.5-flash"),
        ("xai:grok-4", "xai", "grok-4"),
        ("deepseek:deepseek-chat", "deepseek", "deepseek-chat"),
        ("mistral:mistral-large-latest", "mistral", "mistral-large-latest"),
        # an explicit prefix wins over what the family would say
        ("openai-compatible:gpt-4o", "openai-compatible", "gpt-4o"),
        ("openai:deepseek-chat", "openai", "deepseek-chat"),
        ("mistral:open-mixtral-8x22b", "mistral", "open-mixtral-8x22b"),
        ("xai:my-grok-finetune", "xai", "my-grok-finetune"),
        ("OpenAI:gpt-4o", "openai", "gpt-4o"),
        # model ids with colons of their own (Ollama tags, OpenAI fine-tunes) stay whole
        ("openai-compatible:llama3.1:8b", "openai-compatible", "llama3.1:8b"),
        ("openai:ft:gpt-4o-mini:org:probe:abc", "openai", "ft:gpt-4o-mini:org:probe:abc"),
        ("mock:echo", "mock", "echo"),
        ("mock:fail:RATE_LIMIT@2", "mock", "fail:RATE_LIMIT@2"),
        ("mock:", "mock", "echo"),
    ],
)
def test_an_explicit_prefix_always_wins(model_id: str, provider: str, model: str) -> None:
    route = resolve_model(model_id)
    assert (route.provider, route.model) == (provider, model)


@pytest.mark.parametrize("model_id", ["llama-3.3-70b", "qwen2.5:7b", "my-model", "azure:gpt-4o", "mock", "gpt4o"])
def test_an_unknown_model_is_unsupported_and_lists_the_prefixes(model_id: str) -> None:
    with pytest.raises(WorkerError) as raised:
        resolve_model(model_id)
    error = raised.value
    assert error.code is ErrorCode.UNSUPPORTED_PROVIDER and error.retryable is False
    assert error.details["prefixes"] == PREFIXES
    for prefix in PREFIXES:
        assert f"{prefix}:" in error.message
    assert repr(model_id) in error.message


@pytest.mark.parametrize("model_id", ["openai:", "anthropic:  ", "xai:"])
def test_a_prefix_without_a_model_is_a_validation_error(model_id: str) -> None:
    with pytest.raises(WorkerError) as raised:
        resolve_model(model_id)
    assert raised.value.code is ErrorCode.VALIDATION_ERROR
    assert raised.value.details["field"] == "modelId"


def test_every_prefix_is_one_provider_record_with_an_importable_adapter() -> None:
    assert [record.name for record in PROVIDERS] == PREFIXES
    for record in PROVIDERS:
        module, _, name = record.adapter.partition(":")
        assert module.startswith("common.providers.adapters.") and name
        assert record.key_vars or not record.key_required


# ------------------------------------------------------------ through the worker, as a host sees it


def run_job(job: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    stdout = io.StringIO()
    assert run_worker(PROBE, stdin=io.BytesIO(json.dumps(job).encode()), stdout=stdout) == 0
    lines = stdout.getvalue().splitlines()
    assert len(lines) == 1
    capsys.readouterr()
    document: dict[str, Any] = json.loads(lines[0])
    return document


def test_an_unknown_model_reaches_the_host_as_unsupported_provider(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_job(probe_job("llama-3.3-70b"), capsys)
    assert out["success"] is False
    assert out["error"]["code"] == "UNSUPPORTED_PROVIDER" and out["error"]["retryable"] is False
    assert out["error"]["details"]["prefixes"] == PREFIXES
    assert "openai:" in out["error"]["message"] and "mock:" in out["error"]["message"]


@pytest.mark.parametrize(
    ("model_id", "env_vars"),
    [
        ("gpt-4o", ["OPENAI_API_KEY"]),
        ("claude-sonnet-4-5", ["ANTHROPIC_API_KEY"]),
        ("gemini-2.5-flash", ["GEMINI_API_KEY", "GOOGLE_API_KEY"]),
        ("grok-4", ["XAI_API_KEY"]),
        ("deepseek-chat", ["DEEPSEEK_API_KEY"]),
        ("mistral-large-latest", ["MISTRAL_API_KEY"]),
        ("openai:o3-mini", ["OPENAI_API_KEY"]),
    ],
)
def test_a_missing_key_names_the_variable_to_set(
    model_id: str, env_vars: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for record in PROVIDERS:
        for var in record.key_vars:
            monkeypatch.delenv(var, raising=False)
    out = run_job(probe_job(model_id), capsys)
    error = out["error"]
    assert error["code"] == "MISSING_API_KEY" and error["retryable"] is False
    assert error["details"]["envVars"] == env_vars
    for var in env_vars:
        assert var in error["message"]
    assert "partialTranscript" not in out


def test_a_blank_key_counts_as_missing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "   ")
    assert run_job(probe_job("claude-sonnet-4-5"), capsys)["error"]["code"] == "MISSING_API_KEY"


def test_google_accepts_either_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.setenv("GOOGLE_API_KEY", "test-key-not-real")
    from common.providers.settings import settings_for

    assert settings_for(BY_NAME["google"]).api_key == "test-key-not-real"


def test_openai_compatible_needs_no_key_but_a_base_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_COMPATIBLE_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_COMPATIBLE_BASE_URL", raising=False)
    error = run_job(probe_job("openai-compatible:llama3.1:8b"), capsys)["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "OPENAI_COMPATIBLE_BASE_URL" in error["message"]


def test_the_mock_needs_no_key(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for record in PROVIDERS:
        for var in record.key_vars:
            monkeypatch.delenv(var, raising=False)
    assert run_job(probe_job("mock:echo"), capsys)["success"] is True


async def test_the_pool_shares_a_provider_only_with_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = ProviderPool()
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-real-1")
    async with pool.lease("openai") as first, pool.lease("openai") as again:
        assert again is first
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-real-2")
    async with pool.lease("openai") as other:
        assert other is not first
    assert pool.shared_count == 2
    await pool.aclose()
    assert pool.shared_count == 0
    assert first.client.is_closed()  # type: ignore[attr-defined]


async def test_the_pool_never_shares_a_provider_that_keeps_per_job_state() -> None:
    pool = ProviderPool()
    async with pool.lease("mock") as first, pool.lease("mock") as second:
        assert first is not second
    assert pool.shared_count == 0
    await pool.aclose()


def test_the_records_name_each_provider_batch_transport_and_the_class_its_apis() -> None:
    """`batch.py --via provider-batch` knows a provider's batch API from its record alone."""
    from common.runs.provider_batch.runner import TRANSPORTS, transport_class
    from common.runs.provider_batch.transport import BatchTransport

    assert set(TRANSPORTS) == {"openai", "anthropic", "google", "mistral"}
    for name in TRANSPORTS:
        assert BY_NAME[name].batch_api is not None, name  # a transport speaks a documented batch API
        assert issubclass(transport_class(name), BatchTransport)
    assert {record.name for record in PROVIDERS if record.batch_api and not record.batch_transport} == set()
    assert transport_class("openai").apis == {"chat", "responses"}  # Responses lines too
    assert transport_class("mistral").apis == {"chat"}
