"""Token usage as we record it, whatever convention the provider counts in.

Our accounting rule, the same for every provider:

- `input_tokens` is the whole prompt, cached parts (cache reads and cache writes) included;
- `output_tokens` always includes reasoning (thinking) tokens: every provider bills them
  as output, though some report them beside the answer's tokens (Gemini, xAI);
- `reasoning_tokens` and `cached_input_tokens` say how much of those totals they are;
- `None` input and output tokens mean the provider reported no usage: the runner then
  estimates both (`ProviderMetadata.tokensEstimated`).

Providers differ only in where they put reasoning and cache counts, so each named
constructor says which convention its provider uses and converts to ours. Imports
nothing heavy: every provider module loads it at start-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def as_count(value: object) -> int:
    """A token count as a provider gave it, or 0 when it gave none.

    A bool is not a count (JSON `true` is not 1 token), nor is a negative or non-finite
    number; a float count is truncated.
    """
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value if value >= 0 else 0
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        return int(value)
    return 0


@dataclass(frozen=True)
class Usage:
    """One response's tokens in our accounting (see the module docstring), and the provider's own usage as given."""

    input_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int = 0
    cached_input_tokens: int = 0
    raw: dict[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if (self.input_tokens is None) != (self.output_tokens is None):
            raise ValueError("input and output tokens are reported together or not at all")

    @property
    def reported(self) -> bool:
        """False when the provider gave no counts and the runner must estimate them."""
        return self.input_tokens is not None and self.output_tokens is not None

    # -- named constructors: one per provider convention ---------------------------------

    @classmethod
    def unreported(cls, raw: dict[str, Any] | None = None) -> Usage:
        """The provider gave no usable counts (`raw` keeps whatever it did give)."""
        return cls(input_tokens=None, output_tokens=None, raw=raw)

    @classmethod
    def reasoning_inside_output(
        cls,
        *,
        input_tokens: object,
        output_tokens: object,
        reasoning_tokens: object = 0,
        cached_input_tokens: object = 0,
        raw: dict[str, Any] | None,
    ) -> Usage:
        """Our own convention: the output count already includes reasoning, the input count cache hits.

        OpenAI, DeepSeek, Mistral and the mock count this way.
        """
        return cls(
            input_tokens=as_count(input_tokens),
            output_tokens=as_count(output_tokens),
            reasoning_tokens=as_count(reasoning_tokens),
            cached_input_tokens=as_count(cached_input_tokens),
            raw=raw,
        )

    @classmethod
    def reasoning_beside_output(
        cls,
        *,
        input_tokens: object,
        output_tokens: object,
        reasoning_tokens: object,
        cached_input_tokens: object = 0,
        raw: dict[str, Any] | None,
    ) -> Usage:
        """The output count excludes reasoning, which is reported apart (Gemini, xAI): ours adds it."""
        reasoning = as_count(reasoning_tokens)
        return cls(
            input_tokens=as_count(input_tokens),
            output_tokens=as_count(output_tokens) + reasoning,
            reasoning_tokens=reasoning,
            cached_input_tokens=as_count(cached_input_tokens),
            raw=raw,
        )

    @classmethod
    def reasoning_placed_by_total(
        cls,
        *,
        input_tokens: object,
        output_tokens: object,
        reasoning_tokens: object,
        total_tokens: object,
        cached_input_tokens: object = 0,
        raw: dict[str, Any] | None,
    ) -> Usage:
        """Reasoning is beside the output count when the total says so (total = input + output + reasoning).

        For providers whose convention is not fixed (xAI, Mistral's reasoning models):
        otherwise the output count is taken to include reasoning already.
        """
        reasoning = as_count(reasoning_tokens)
        counted = as_count(input_tokens) + as_count(output_tokens) + reasoning
        beside = reasoning > 0 and as_count(total_tokens) == counted
        place = cls.reasoning_beside_output if beside else cls.reasoning_inside_output
        return place(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            reasoning_tokens=reasoning,
            cached_input_tokens=cached_input_tokens,
            raw=raw,
        )

    @classmethod
    def cache_beside_input(
        cls,
        *,
        uncached_input_tokens: object,
        cache_read_tokens: object,
        cache_write_tokens: object,
        output_tokens: object,
        reasoning_tokens: object = 0,
        raw: dict[str, Any] | None,
    ) -> Usage:
        """The input count excludes cache reads and cache writes, reported apart (Anthropic): ours adds both.

        Reasoning is inside the output count, as in ours. `cached_input_tokens` is the
        cache reads only: a cache write is billed as (more than) a fresh prompt token.
        """
        cached = as_count(cache_read_tokens)
        return cls(
            input_tokens=as_count(uncached_input_tokens) + as_count(cache_write_tokens) + cached,
            output_tokens=as_count(output_tokens),
            reasoning_tokens=as_count(reasoning_tokens),
            cached_input_tokens=cached,
            raw=raw,
        )
