"""One record per provider: everything the workers know about a provider, in one place.

Routing (`registry`), settings (`settings`), the provider pool, parameter mapping
(`params`), the health check and the README's provider tables all read these records,
so adding a provider is one adapter module under `adapters/` plus one record here.
The module imports nothing but the standard library: it is read by every job and every
health check before (or instead of) any SDK.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

# How a provider takes the system prompt (a scenario preamble sent as a system message).
SystemChannel = Literal["system_message", "system_param", "system_instruction"]


@dataclass(frozen=True)
class ModelRule:
    """Parameters a family of models ignores or refuses, and why (said in `paramNotes`)."""

    models: re.Pattern[str]
    params: frozenset[str]
    reason: str  # "{model}" is replaced by the model id


@dataclass(frozen=True)
class Range:
    """A parameter's documented range. A value outside it is never sent (a real llama.cpp
    server answers an out-of-range penalty with HTTP 500): it is clamped to the nearest
    bound, or dropped where no nearest value means the same thing (a seed)."""

    low: float | None = None
    high: float | None = None
    high_exclusive: bool = False  # Gemini's penalties: "up to, but not including, 2.0"
    clamp: bool = True


@dataclass(frozen=True)
class ParamRules:
    """How our generation parameters map onto the provider's own names, and their ranges."""

    names: Mapping[str, str | None]  # our name -> the provider's name; None: it has no such parameter
    max_tokens: str = "max_tokens"
    # Model families that take their token limit under another name (OpenAI's reasoning models).
    max_tokens_by_family: tuple[tuple[re.Pattern[str], str], ...] = ()
    # The names the provider documents for its token limit. A `modelConfig.maxTokensParam`
    # among them is sent as given (OpenAI takes both of its names); any other is renamed
    # to the model's own name, with a note: an unknown field is never sent.
    max_tokens_names: frozenset[str] = frozenset({"max_tokens"})
    model_rules: tuple[ModelRule, ...] = ()
    # Documented ranges, by our parameter name (temperature, top_p, ..., seed).
    ranges: Mapping[str, Range] = field(default_factory=dict)
    max_stop_sequences: int | None = None  # None: no documented limit
    # True: the request must carry a token limit, so "no explicit limit" (`maxTokens: null`)
    # sends the model's documented maximum from `max_output_tokens`.
    max_tokens_required: bool = False
    max_output_tokens: tuple[tuple[re.Pattern[str], int], ...] = ()  # first match wins


@dataclass(frozen=True)
class Package:
    """A Python package a provider (or every worker) needs: what is imported, what pip installs."""

    module: str
    distribution: str


@dataclass(frozen=True)
class ProviderRecord:
    name: str  # also the `name:` model-id prefix
    title: str  # how people name it (the README's tables)
    adapter: str  # "module:Class", imported only when a job needs this provider
    key_vars: tuple[str, ...]  # the first one set wins
    base_url_var: str | None
    params: ParamRules
    system_channel: SystemChannel
    packages: tuple[Package, ...] = ()
    default_base_url: str | None = None  # None: the SDK's own default
    key_required: bool = True
    base_url_required: bool = False
    families: re.Pattern[str] | None = None  # model ids routed here without a prefix
    default_model: str | None = None  # used when the id is only the prefix (`mock:`)
    # The name of this provider's key in health_check's `apiKeys`; None: not reported.
    health_key: str | None = None
    # False: an instance holds per-job state, so every job gets its own (the mock).
    shareable: bool = True
    # What the next layers need to know (documented in the README's provider table).
    reasoning_control: str | None = None  # the provider's own reasoning parameter, if any
    batch_api: str | None = None  # the provider's asynchronous batch endpoint, if any

    @property
    def takes_seed(self) -> bool:
        return self.params.names.get("seed") is not None

    def env_vars(self) -> tuple[str, ...]:
        return (*self.key_vars, *((self.base_url_var,) if self.base_url_var else ()))


# The Chat Completions names, which most providers (and the mock) share.
CHAT_COMPLETIONS_NAMES: Mapping[str, str | None] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "stop_sequences": "stop",
    "seed": "seed",
}

_OPENAI_SDK = (Package("openai", "openai"),)

# Documented parameter ranges. One entry per provider family, cited; applied by the pure
# mapping in `common.providers.params` (clamped or dropped with a paramNote, never sent).
_INT64 = Range(-(2**63), 2**63 - 1, clamp=False)
# OpenAI API reference, Chat Completions (platform.openai.com/docs/api-reference/chat/create):
# temperature 0-2, top_p 0-1, frequency/presence_penalty -2.0-2.0, seed an int64 in the
# OpenAPI spec, `stop` "up to 4 sequences". OpenAI-compatible servers (vLLM, llama.cpp,
# Ollama) implement this reference and take the same ranges.
CHAT_COMPLETIONS_RANGES: Mapping[str, Range] = {
    "temperature": Range(0, 2),
    "top_p": Range(0, 1),
    "frequency_penalty": Range(-2, 2),
    "presence_penalty": Range(-2, 2),
    "seed": _INT64,
}
OPENAI_MAX_STOP_SEQUENCES = 4
# Anthropic Messages API (docs.anthropic.com/en/api/messages): temperature 0.0-1.0, top_p 0-1.
ANTHROPIC_RANGES: Mapping[str, Range] = {"temperature": Range(0, 1), "top_p": Range(0, 1)}
# Anthropic's models overview (docs.anthropic.com/en/docs/about-claude/models/overview),
# "Max output": max_tokens is required, so "no explicit limit" sends the model's maximum.
# Only the models listed there are here; any other gets the worker's default (8192), as
# the original worker sent, and a model that refuses a limit gets it lowered as stated.
ANTHROPIC_MAX_OUTPUT_TOKENS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"^claude-(opus-4-5|sonnet-4-5|haiku-4-5|sonnet-4-0|sonnet-4-2025|3-7-sonnet)"), 64_000),
    (re.compile(r"^claude-opus-4-(0|1|2025)"), 32_000),
    (re.compile(r"^claude-3-5-(sonnet|haiku)"), 8_192),
    (re.compile(r"^claude-3-(haiku|opus|sonnet)"), 4_096),
)
# Gemini GenerationConfig (ai.google.dev/api/generate-content#generationconfig; Vertex AI's
# reference gives the penalty bounds): temperature 0.0-2.0, topP 0-1, presence/frequency
# penalty from -2.0 "up to, but not including, 2.0", stopSequences "up to 5", seed an int32.
GEMINI_RANGES: Mapping[str, Range] = {
    "temperature": Range(0, 2),
    "top_p": Range(0, 1),
    "frequency_penalty": Range(-2, 2, high_exclusive=True),
    "presence_penalty": Range(-2, 2, high_exclusive=True),
    "seed": Range(-(2**31), 2**31 - 1, clamp=False),
}
# DeepSeek API, create chat completion (api-docs.deepseek.com/api/create-chat-completion):
# temperature 0-2, top_p <= 1, frequency/presence_penalty -2-2, `stop` up to 16 sequences.
DEEPSEEK_RANGES: Mapping[str, Range] = {
    "temperature": Range(0, 2),
    "top_p": Range(0, 1),
    "frequency_penalty": Range(-2, 2),
    "presence_penalty": Range(-2, 2),
}
# Mistral API, chat completion (docs.mistral.ai/api/#tag/chat): temperature 0.0-1.5,
# top_p 0-1, presence/frequency_penalty -2-2.
MISTRAL_RANGES: Mapping[str, Range] = {
    "temperature": Range(0, 1.5),
    "top_p": Range(0, 1),
    "frequency_penalty": Range(-2, 2),
    "presence_penalty": Range(-2, 2),
}
# xAI API reference, chat completions (docs.x.ai/docs/api-reference#chat-completions):
# the Chat Completions ranges (temperature 0-2, top_p 0-1, penalties -2-2).
XAI_RANGES = CHAT_COMPLETIONS_RANGES

PROVIDERS: tuple[ProviderRecord, ...] = (
    ProviderRecord(
        name="openai",
        title="OpenAI",
        adapter="common.providers.adapters.openai:OpenAIProvider",
        key_vars=("OPENAI_API_KEY",),
        base_url_var="OPENAI_BASE_URL",
        params=ParamRules(
            names=CHAT_COMPLETIONS_NAMES,
            # o-series and gpt-5 reject max_tokens and want max_completion_tokens.
            max_tokens_by_family=((re.compile(r"^(ft:)?(o\d|gpt-5)"), "max_completion_tokens"),),
            max_tokens_names=frozenset({"max_tokens", "max_completion_tokens"}),
            ranges=CHAT_COMPLETIONS_RANGES,
            max_stop_sequences=OPENAI_MAX_STOP_SEQUENCES,
        ),
        system_channel="system_message",
        packages=_OPENAI_SDK,
        families=re.compile(r"^(ft:)?(gpt-|chatgpt-|o\d(-|$)|codex-|computer-use-)"),
        health_key="openai",
        reasoning_control="reasoning_effort",
        batch_api="/v1/batches",
    ),
    ProviderRecord(
        name="anthropic",
        title="Anthropic",
        adapter="common.providers.adapters.anthropic:AnthropicProvider",
        key_vars=("ANTHROPIC_API_KEY",),
        base_url_var="ANTHROPIC_BASE_URL",
        params=ParamRules(
            names={
                "temperature": "temperature",
                "top_p": "top_p",
                "frequency_penalty": None,
                "presence_penalty": None,
                "stop_sequences": "stop_sequences",
                "seed": None,
            },
            ranges=ANTHROPIC_RANGES,
            max_tokens_required=True,
            max_output_tokens=ANTHROPIC_MAX_OUTPUT_TOKENS,
        ),
        system_channel="system_param",
        packages=(Package("anthropic", "anthropic"),),
        families=re.compile(r"^claude-"),
        health_key="anthropic",
        reasoning_control="thinking",
        batch_api="/v1/messages/batches",
    ),
    ProviderRecord(
        name="google",
        title="Google Gemini",
        adapter="common.providers.adapters.google:GoogleProvider",
        key_vars=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        base_url_var="GEMINI_BASE_URL",
        # GenerateContentConfig field names, so `paramsSent` records what the SDK was given.
        params=ParamRules(
            names={
                "temperature": "temperature",
                "top_p": "top_p",
                "frequency_penalty": "frequency_penalty",
                "presence_penalty": "presence_penalty",
                "stop_sequences": "stop_sequences",
                "seed": "seed",
            },
            max_tokens="max_output_tokens",
            max_tokens_names=frozenset({"max_output_tokens"}),
            ranges=GEMINI_RANGES,
            max_stop_sequences=5,
        ),
        system_channel="system_instruction",
        packages=(Package("google.genai", "google-genai"),),
        families=re.compile(r"^(models/)?(gemini-|gemma-)"),
        health_key="google",
        reasoning_control="thinking_config",
        batch_api="batchGenerateContent",
    ),
    ProviderRecord(
        name="xai",
        title="xAI",
        adapter="common.providers.adapters.xai:XAIProvider",
        key_vars=("XAI_API_KEY",),
        base_url_var="XAI_BASE_URL",
        default_base_url="https://api.x.ai/v1",
        params=ParamRules(
            names=CHAT_COMPLETIONS_NAMES,
            max_tokens_names=frozenset({"max_tokens", "max_completion_tokens"}),
            ranges=XAI_RANGES,
        ),
        system_channel="system_message",
        packages=_OPENAI_SDK,
        families=re.compile(r"^grok-"),
        health_key="xai",
        reasoning_control="reasoning_effort",
    ),
    ProviderRecord(
        name="deepseek",
        title="DeepSeek",
        adapter="common.providers.adapters.deepseek:DeepSeekProvider",
        key_vars=("DEEPSEEK_API_KEY",),
        base_url_var="DEEPSEEK_BASE_URL",
        default_base_url="https://api.deepseek.com",
        params=ParamRules(
            names={**CHAT_COMPLETIONS_NAMES, "seed": None},
            ranges=DEEPSEEK_RANGES,
            max_stop_sequences=16,
            # deepseek-reasoner accepts these without error but ignores them (DeepSeek's API
            # docs), so sending them would record a setting that had no effect.
            model_rules=(
                ModelRule(
                    re.compile(r"^deepseek-reasoner"),
                    frozenset({"temperature", "top_p", "frequency_penalty", "presence_penalty"}),
                    "{model} ignores {param} (DeepSeek API docs)",
                ),
            ),
        ),
        system_channel="system_message",
        packages=_OPENAI_SDK,
        families=re.compile(r"^deepseek-"),
        health_key="deepseek",
    ),
    ProviderRecord(
        name="mistral",
        title="Mistral",
        adapter="common.providers.adapters.mistral:MistralProvider",
        key_vars=("MISTRAL_API_KEY",),
        base_url_var="MISTRAL_BASE_URL",
        params=ParamRules(names={**CHAT_COMPLETIONS_NAMES, "seed": "random_seed"}, ranges=MISTRAL_RANGES),
        system_channel="system_message",
        packages=(Package("mistralai", "mistralai"),),
        families=re.compile(
            r"^(mistral-|ministral-|magistral-|codestral-|pixtral-|open-mistral-|open-mixtral-"
            r"|open-codestral-|devstral-|voxtral-)"
        ),
        health_key="mistral",
        reasoning_control="prompt_mode",
        batch_api="/v1/batch/jobs",
    ),
    ProviderRecord(
        name="openai-compatible",
        title="OpenAI-compatible",
        adapter="common.providers.adapters.openai_compatible:OpenAICompatibleProvider",
        key_vars=("OPENAI_COMPATIBLE_API_KEY",),
        base_url_var="OPENAI_COMPATIBLE_BASE_URL",
        key_required=False,
        base_url_required=True,
        # The server's own limit on stop sequences varies (OpenAI's 4 is not theirs).
        params=ParamRules(
            names=CHAT_COMPLETIONS_NAMES,
            max_tokens_names=frozenset({"max_tokens", "max_completion_tokens"}),
            ranges=CHAT_COMPLETIONS_RANGES,
        ),
        system_channel="system_message",
        packages=_OPENAI_SDK,
    ),
    ProviderRecord(
        name="mock",
        title="mock (offline)",
        adapter="common.providers.adapters.mock:MockProvider",
        key_vars=(),
        base_url_var=None,
        key_required=False,
        # It imitates Chat Completions, ranges included, so hosts can try them offline.
        params=ParamRules(
            names=CHAT_COMPLETIONS_NAMES,
            ranges=CHAT_COMPLETIONS_RANGES,
            max_stop_sequences=OPENAI_MAX_STOP_SEQUENCES,
        ),
        system_channel="system_message",
        default_model="echo",
        shareable=False,  # counts requests per turn for `flaky:` behaviours
    ),
)

BY_NAME: Mapping[str, ProviderRecord] = {record.name: record for record in PROVIDERS}


def record_named(name: str) -> ProviderRecord | None:
    return BY_NAME.get(name)
