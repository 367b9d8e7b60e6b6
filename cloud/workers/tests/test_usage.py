"""The token-accounting rule, one convention at a time (the adapters' tests show it on the wire)."""

from __future__ import annotations

import math

import pytest

from common.providers.usage import Usage, as_count


@pytest.mark.parametrize(
    ("value", "count"),
    [(7, 7), (7.9, 7), (0, 0), (None, 0), ("12", 0), (True, 0), (False, 0), (-3, 0), (math.nan, 0), (math.inf, 0)],
)
def test_a_count_is_a_non_negative_number_and_a_bool_is_not_one(value: object, count: int) -> None:
    assert as_count(value) == count


def test_reasoning_inside_output_is_our_own_convention() -> None:
    usage = Usage.reasoning_inside_output(
        input_tokens=45, output_tokens=1350, reasoning_tokens=1280, cached_input_tokens=32, raw={"as": "given"}
    )
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens, usage.cached_input_tokens) == (
        45,
        1350,
        1280,
        32,
    )
    assert usage.raw == {"as": "given"} and usage.reported


def test_reasoning_beside_output_is_added_to_it() -> None:
    usage = Usage.reasoning_beside_output(input_tokens=15, output_tokens=None, reasoning_tokens=512, raw=None)
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens) == (15, 512, 512)


@pytest.mark.parametrize(("completion", "total", "output"), [(9, 135, 9 + 94), (103, 135, 103), (103, 999, 103)])
def test_the_total_says_whether_reasoning_is_beside_or_inside(completion: int, total: int, output: int) -> None:
    usage = Usage.reasoning_placed_by_total(
        input_tokens=32, output_tokens=completion, reasoning_tokens=94, total_tokens=total, raw=None
    )
    assert (usage.output_tokens, usage.reasoning_tokens) == (output, 94)


def test_cache_reads_and_writes_beside_input_are_added_and_only_reads_count_as_cached() -> None:
    usage = Usage.cache_beside_input(
        uncached_input_tokens=21, cache_read_tokens=2051, cache_write_tokens=188, output_tokens=503, raw=None
    )
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens) == (21 + 188 + 2051, 2051, 503)


def test_unreported_usage_is_estimated_by_the_runner_and_keeps_what_was_given() -> None:
    usage = Usage.unreported({"totalTokenCount": 9})
    assert not usage.reported
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens, usage.cached_input_tokens) == (
        None,
        None,
        0,
        0,
    )
    assert usage.raw == {"totalTokenCount": 9}
    with pytest.raises(ValueError, match="together"):
        Usage(input_tokens=3, output_tokens=None)
