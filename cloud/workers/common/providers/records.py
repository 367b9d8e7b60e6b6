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
from dataclasses import dataclass, field, replace
from typing import Literal

# How a provider takes the system prompt (a scenario preamble sent as a system message).
SystemChannel = Literal["system_message", "system_param", "system_instruction"]
# Which of a provider's APIs a record describes: its own ("chat": Chat Completions for the
# OpenAI family, each other provider's one API) or the OpenAI Responses API.
ApiName = Literal["chat", "responses"]


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
    # The provider's second name table, for the OpenAI Responses API (`/v1/responses`);
    # None: it offers no Responses API. See `ResponsesApi` and `for_responses`.
    responses_names: Mapping[str, str | None] | None = None

    def for_responses(self) -> ParamRules:
        """These rules as the Responses API names its parameters (`max_output_tokens`, no `stop`)."""
        if self.responses_names is None:
            raise ValueError("this provider has no Responses API name table")
        return replace(
            self,
            names=self.responses_names,
            max_tokens=RESPONSES_MAX_TOKENS,
            max_tokens_by_family=(),
            max_tokens_names=frozenset({RESPONSES_MAX_TOKENS}),
            max_stop_sequences=None,
        )


@dataclass(frozen=True)
class ResponsesApi:
    """A provider's OpenAI Responses API, and which of its models need it.

    `only`: models that answer only on `/v1/responses` (routed there unless
    `modelConfig.api` is "chat"); `background`: models whose answers take minutes, run in
    background mode (`background: true`, polled) unless `modelConfig.background` says
    otherwise. Any model of the provider can be sent there with `modelConfig.api: "responses"`.
    """

    only: re.Pattern[str] | None = None
    background: re.Pattern[str] | None = None
    reasoning_control: str = "reasoning"  # `reasoning: {effort, summary}`


# How a family of models takes a reasoning setting (applied by common.providers.reasoning):
# - "effort": a level under `ReasoningRules.effort_param` (OpenAI, xAI, Mistral's adjustable models);
# - "anthropic_thinking": `thinking: {type: "enabled", budget_tokens}` (or `{type: "disabled"}`);
# - "anthropic_adaptive": `thinking: {type: "adaptive"}` with `output_config: {effort}` (Claude
#   Opus/Sonnet 4.6 and later); where the family also documents a budget range, a budget is
#   sent the "anthropic_thinking" way (`{type: "enabled", budget_tokens}`);
# - "gemini_budget" / "gemini_level": `thinking_config` with `thinking_budget` / `thinking_level`;
# - "prompt_mode": Mistral's magistral models, whose documented switch is `prompt_mode: "reasoning"`;
# - "model": the model always reasons and takes no reasoning parameter (deepseek-reasoner);
# - "unsupported": a family the provider documents as refusing reasoning parameters.
ReasoningControl = Literal[
    "effort",
    "anthropic_thinking",
    "anthropic_adaptive",
    "gemini_budget",
    "gemini_level",
    "prompt_mode",
    "model",
    "unsupported",
]
# Our effort levels, least reasoning first.
EFFORT_LEVELS: tuple[str, ...] = ("none", "minimal", "low", "medium", "high", "max")
# Google's published effort -> budget table (Gemini API, OpenAI compatibility: "low", "medium",
# "high" map to 1024, 8192 and 24576 thinking tokens). Budget families use it, so one effort
# asks both budget providers (Gemini 2.5, Anthropic) for the same budget; `minimal` is each
# family's smallest documented budget and `max` its largest (our choices, in the README).
EFFORT_BUDGETS: Mapping[str, int] = {"low": 1024, "medium": 8192, "high": 24576}


@dataclass(frozen=True)
class ReasoningFamily:
    """How one family of models reasons and which reasoning values it documents."""

    models: re.Pattern[str]
    control: ReasoningControl
    reason: str  # why, for notes: the documented behaviour ("{model}" is replaced by the model id)
    # "effort" / "gemini_level": the values the family documents, least reasoning first (native spelling).
    efforts: tuple[str, ...] = ()
    # Budget families: the documented budget range (high None: up to the model's output limit).
    budget_low: int | None = None
    budget_high: int | None = None
    can_disable: bool = False  # `none` / budget 0 switches reasoning off
    dynamic: bool = False  # a budget of -1 lets the model decide (Gemini 2.5)
    # Budget families: our effort -> budget, over EFFORT_BUDGETS (each family's minimal and max).
    budgets: Mapping[str, int] = field(default_factory=dict)
    summaries: bool = False  # the family can return reasoning summaries when asked (Gemini include_thoughts)
    # What `none` really does where it does not switch reasoning off (Mistral: thinks minimally, hides it).
    none_caveat: str | None = None


@dataclass(frozen=True)
class ReasoningRules:
    """A provider's reasoning families (first match wins) and its names for the controls."""

    families: tuple[ReasoningFamily, ...] = ()
    effort_param: str = "reasoning_effort"
    # Sampling parameters thinking constrains, by our name: the range allowed while thinking
    # (a value outside it is clamped, or dropped where the range is one value: Anthropic's
    # temperature must stay at its default 1).
    sampling_while_thinking: Mapping[str, Range] = field(default_factory=dict)
    # A model that matches no family: why no reasoning setting is sent.
    unknown_reason: str = "{provider} documents no reasoning control for {model}"

    def family(self, model: str) -> ReasoningFamily | None:
        return next((family for family in self.families if family.models.match(model)), None)


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
    reasoning: ReasoningRules = field(default_factory=ReasoningRules)  # which models reason, and how
    batch_api: str | None = None  # the provider's asynchronous batch endpoint, if any
    # The transport of `batch.py --via provider-batch` that speaks it ("module:Class" in
    # common.runs.provider_batch, imported only by that mode; the class says which APIs it
    # batches); None: such a run sends the provider's jobs online.
    batch_transport: str | None = None
    # The share of the online price a batch request costs (the provider's documented batch
    # discount: 0.5 is half price); None: no batch API.
    batch_price_factor: float | None = None
    responses: ResponsesApi | None = None  # its OpenAI Responses API, if it offers one
    api: ApiName = "chat"  # the API this record describes ("responses": a `for_api` view)

    def for_api(self, api: str) -> ProviderRecord:
        """The record as a job on `api` reads it: "responses" swaps in the Responses name table."""
        if api != "responses" or self.responses is None:
            return self
        view = _RESPONSES_VIEWS.get(self.name)
        if view is None:
            view = _RESPONSES_VIEWS[self.name] = replace(
                self,
                params=self.params.for_responses(),
                reasoning_control=self.responses.reasoning_control,
                api="responses",
            )
        return view

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

# The Responses API's names (OpenAI API reference, "Create a model response",
# platform.openai.com/docs/api-reference/responses/create, and the openai SDK's
# `responses.create` parameters): `max_output_tokens` for the token limit (it counts
# reasoning tokens too), `temperature` and `top_p` as in Chat Completions (same ranges),
# and no `stop`, `seed`, `frequency_penalty` or `presence_penalty`.
RESPONSES_MAX_TOKENS = "max_output_tokens"
RESPONSES_NAMES: Mapping[str, str | None] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "frequency_penalty": None,
    "presence_penalty": None,
    "stop_sequences": None,
    "seed": None,
}
# OpenAI models that answer only on /v1/responses. Sources: the openai SDK's
# `ResponsesModel` (types/shared/responses_model.py lists them apart from the Chat models:
# o1-pro, o3-pro, o3-deep-research, o4-mini-deep-research, computer-use-preview,
# gpt-5-pro, gpt-5.5-pro, gpt-5-codex, gpt-5.1-codex-max) and OpenAI's model pages, which
# say "available in the Responses API only" for those and for codex-mini-latest, the
# gpt-5.x-pro and gpt-5.x-codex models. A dated snapshot (o3-pro-2025-06-10) matches too.
OPENAI_RESPONSES_ONLY = re.compile(
    r"^(o1-pro|o3-pro|o3-deep-research|o4-mini-deep-research|computer-use-preview|codex-mini"
    r"|gpt-5(\.\d+)?-pro|gpt-5(\.\d+)?-codex)(-|$)"
)
# Models whose answers take minutes: OpenAI's o3-pro page ("some requests may take
# several minutes ... use background mode to avoid timeouts"), the background-mode guide
# (platform.openai.com/docs/guides/background: "long-running tasks on models like ...
# GPT-5.2 pro") and the deep-research guide (background mode recommended).
OPENAI_BACKGROUND = re.compile(r"^(o3-pro|o3-deep-research|o4-mini-deep-research|gpt-5(\.\d+)?-pro)(-|$)")

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

# Reasoning, per provider family. Sources: OpenAI reasoning guide and API reference
# (`reasoning_effort`: o-series low/medium/high; gpt-5 adds minimal; gpt-5.1 none/low/medium/
# high, none its default; gpt-5.2 and later add xhigh; gpt-5-pro only high; gpt-5-chat and
# o1-mini/o1-preview take none of it). Anthropic extended thinking (budget_tokens >= 1024 and
# below max_tokens; "for budgets above 32K" batch is advised; temperature and top_k cannot be
# changed while thinking, top_p only within 0.95-1). Anthropic adaptive thinking and effort
# (platform.claude.com/docs/en/build-with-claude/adaptive-thinking and .../effort; the SDK's
# ThinkingConfigAdaptiveParam and OutputConfigParam.effort low/medium/high/xhigh/max): Opus 4.6
# and Sonnet 4.6 take `thinking: {type: "adaptive"}` with `output_config.effort` low/medium/high/
# max, and still take `{type: "enabled", budget_tokens}` (deprecated) and `{type: "disabled"}`;
# Opus 4.7 (and 4.8, "the same platform features as Opus 4.7") take only adaptive thinking,
# efforts up to xhigh and max, and answer "enabled" and "disabled" with a 400; Opus 4.5 and
# older take no adaptive thinking (their effort does not turn thinking on: budget form).
# Gemini thinking guide (2.5 Pro 128-32768,
# cannot turn thinking off; 2.5 Flash 0-24576; 2.5 Flash-Lite 512-24576 or 0; -1 dynamic;
# Gemini 3 takes thinking_level: 3 Pro low/high, 3.1 Pro low/medium/high, 3 Flash minimal/low/
# medium/high; never both thinking_level and thinking_budget). xAI reasoning guide (only
# grok-3-mini takes reasoning_effort, low/high; grok-4 reasons on its own and rejects it).
# DeepSeek reasoning model guide (deepseek-reasoner always reasons, takes no parameter).
# Mistral reasoning docs (magistral: native reasoning, `prompt_mode: "reasoning"` its default
# system prompt; mistral-small-latest/2603 and mistral-medium-3-5: reasoning_effort high/none,
# where none "thinks minimally and omits the thinking chunk").
_GPT = r"^(ft:)?"
OPENAI_REASONING = ReasoningRules(
    families=(
        ReasoningFamily(re.compile(_GPT + r"gpt-5(\.\d+)?-chat"), "unsupported", "{model} is not a reasoning model"),
        ReasoningFamily(re.compile(_GPT + r"gpt-5(\.\d+)?-pro"), "effort", "{model} reasons", efforts=("high",)),
        ReasoningFamily(
            re.compile(_GPT + r"gpt-5\.([2-9]|\d\d)"),
            "effort",
            "{model} reasons",
            efforts=("none", "low", "medium", "high", "xhigh"),
            can_disable=True,
        ),
        ReasoningFamily(
            re.compile(_GPT + r"gpt-5\.1"),
            "effort",
            "{model} reasons",
            efforts=("none", "low", "medium", "high"),
            can_disable=True,
        ),
        ReasoningFamily(
            re.compile(_GPT + r"gpt-5"), "effort", "{model} reasons", efforts=("minimal", "low", "medium", "high")
        ),
        ReasoningFamily(re.compile(_GPT + r"o1-(mini|preview)"), "unsupported", "{model} takes no reasoning_effort"),
        ReasoningFamily(re.compile(_GPT + r"o\d"), "effort", "{model} reasons", efforts=("low", "medium", "high")),
    ),
)
ANTHROPIC_REASONING = ReasoningRules(
    families=(
        ReasoningFamily(
            re.compile(r"^claude-opus-4-[78]"),
            "anthropic_adaptive",
            "{model} takes only adaptive thinking (thinking.type enabled and disabled are rejected)",
            efforts=("low", "medium", "high", "xhigh", "max"),
        ),
        ReasoningFamily(
            re.compile(r"^claude-(opus|sonnet)-4-6"),
            "anthropic_adaptive",
            "{model} takes adaptive thinking with an effort level",
            efforts=("low", "medium", "high", "max"),
            budget_low=1024,
            can_disable=True,
            budgets={"minimal": 1024, "max": 32_000},
        ),
        ReasoningFamily(
            re.compile(r"^claude-(3-7-sonnet|sonnet-4|opus-4|haiku-4)"),
            "anthropic_thinking",
            "{model} supports extended thinking",
            budget_low=1024,
            can_disable=True,
            budgets={"minimal": 1024, "max": 32_000},
        ),
    ),
    sampling_while_thinking={"temperature": Range(1, 1, clamp=False), "top_p": Range(0.95, 1)},
    unknown_reason="{model} has no extended thinking (Anthropic's models overview)",
)
GOOGLE_REASONING = ReasoningRules(
    families=(
        ReasoningFamily(
            re.compile(r"^(models/)?gemini-3(\.\d+)?-flash"),
            "gemini_level",
            "{model} takes thinking_level",
            efforts=("MINIMAL", "LOW", "MEDIUM", "HIGH"),
            summaries=True,
        ),
        ReasoningFamily(
            re.compile(r"^(models/)?gemini-3\.[1-9]-pro"),
            "gemini_level",
            "{model} takes thinking_level",
            efforts=("LOW", "MEDIUM", "HIGH"),
            summaries=True,
        ),
        ReasoningFamily(
            re.compile(r"^(models/)?gemini-3"),
            "gemini_level",
            "{model} takes thinking_level",
            efforts=("LOW", "HIGH"),
            summaries=True,
        ),
        ReasoningFamily(
            re.compile(r"^(models/)?gemini-2\.5-pro"),
            "gemini_budget",
            "{model} cannot turn thinking off",
            budget_low=128,
            budget_high=32_768,
            dynamic=True,
            budgets={"minimal": 128, "max": 32_768},
            summaries=True,
        ),
        ReasoningFamily(
            re.compile(r"^(models/)?gemini-2\.5-flash-lite"),
            "gemini_budget",
            "{model} thinks only when given a budget",
            budget_low=512,
            budget_high=24_576,
            can_disable=True,
            dynamic=True,
            budgets={"minimal": 512, "max": 24_576},
            summaries=True,
        ),
        ReasoningFamily(
            re.compile(r"^(models/)?gemini-2\.5-flash"),
            "gemini_budget",
            "{model} thinks by default",
            budget_low=1,
            budget_high=24_576,
            can_disable=True,
            dynamic=True,
            budgets={"minimal": 512, "max": 24_576},
            summaries=True,
        ),
    ),
    unknown_reason="{model} is not a Gemini thinking model (2.5 and later think)",
)
XAI_REASONING = ReasoningRules(
    families=(
        ReasoningFamily(re.compile(r"^grok-3-mini"), "effort", "{model} reasons", efforts=("low", "high")),
        ReasoningFamily(
            re.compile(r"^grok-(4|code)"), "model", "{model} reasons on its own and rejects reasoning_effort (xAI docs)"
        ),
    ),
    unknown_reason="{model} is not an xAI reasoning model",
)
DEEPSEEK_REASONING = ReasoningRules(
    families=(
        ReasoningFamily(
            re.compile(r"^deepseek-reasoner"), "model", "{model} always reasons and takes no reasoning parameter"
        ),
    ),
    unknown_reason="{model} does not reason (deepseek-reasoner does)",
)
MISTRAL_REASONING = ReasoningRules(
    families=(
        ReasoningFamily(
            re.compile(r"^magistral-"),
            "prompt_mode",
            "{model} always reasons; its documented switch is prompt_mode (the reasoning system prompt)",
        ),
        ReasoningFamily(
            re.compile(r"^mistral-(small-(latest|2603)|medium-3-5)"),
            "effort",
            "{model} takes reasoning_effort",
            efforts=("none", "high"),
            none_caveat="Mistral's none still thinks minimally and only omits the thinking chunk",
        ),
    ),
    unknown_reason="{model} is not a Mistral reasoning model",
)
NO_REASONING = ReasoningRules(unknown_reason="{provider} documents no reasoning control: nothing sent for {model}")

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
            responses_names=RESPONSES_NAMES,
        ),
        system_channel="system_message",
        packages=_OPENAI_SDK,
        families=re.compile(r"^(ft:)?(gpt-|chatgpt-|o\d(-|$)|codex-|computer-use-)"),
        health_key="openai",
        reasoning_control="reasoning_effort",
        reasoning=OPENAI_REASONING,
        batch_api="/v1/batches",
        batch_transport="common.runs.provider_batch.openai_batches:OpenAIBatches",
        batch_price_factor=0.5,  # OpenAI Batch API: 50% off
        responses=ResponsesApi(only=OPENAI_RESPONSES_ONLY, background=OPENAI_BACKGROUND),
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
        reasoning=ANTHROPIC_REASONING,
        batch_api="/v1/messages/batches",
        batch_transport="common.runs.provider_batch.anthropic_batches:AnthropicBatches",
        batch_price_factor=0.5,  # Anthropic Message Batches: 50% of standard prices
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
        reasoning=GOOGLE_REASONING,
        batch_api="batchGenerateContent",
        batch_transport="common.runs.provider_batch.gemini_batches:GeminiBatches",
        batch_price_factor=0.5,  # Gemini batch mode: 50% of the interactive price
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
            responses_names=RESPONSES_NAMES,
        ),
        system_channel="system_message",
        packages=_OPENAI_SDK,
        families=re.compile(r"^grok-"),
        health_key="xai",
        reasoning_control="reasoning_effort",
        reasoning=XAI_REASONING,
        # xAI serves the Responses API at /v1/responses (docs.x.ai, "Responses API"); no
        # grok model needs it, so it is used only when modelConfig.api says "responses".
        responses=ResponsesApi(),
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
        reasoning=DEEPSEEK_REASONING,
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
        reasoning=MISTRAL_REASONING,
        batch_api="/v1/batch/jobs",
        batch_transport="common.runs.provider_batch.mistral_batches:MistralBatches",
        batch_price_factor=0.5,  # Mistral batch API: 50% off
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
            responses_names=RESPONSES_NAMES,
        ),
        system_channel="system_message",
        packages=_OPENAI_SDK,
        # Servers that also offer /v1/responses (vLLM, Ollama, LM Studio, gateways) are
        # used there when modelConfig.api says "responses".
        responses=ResponsesApi(),
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
# `ProviderRecord.for_api("responses")`, made once per provider on first use.
_RESPONSES_VIEWS: dict[str, ProviderRecord] = {}


def record_named(name: str) -> ProviderRecord | None:
    return BY_NAME.get(name)
