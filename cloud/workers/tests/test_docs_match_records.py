"""README's provider tables are the provider records, written out.

The records (`common/providers/records.py`) are the one place a provider is described;
the README shows them to people. These tests fail when the two disagree and print the
table as the records would write it, to paste into README.md.

The reasoning table's cells are what `common.providers.reasoning` sends for each family of
each record, asked every effort level and a budget: the table says what a request carries,
not what a record's fields were meant to say.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from common.contract.probe import TranscriptWarningCode
from common.providers.reasoning import Api, ReasoningMapping, ReasoningSetting, map_reasoning
from common.providers.records import EFFORT_LEVELS, PROVIDERS, ProviderRecord, ReasoningFamily

README = Path(__file__).resolve().parents[3] / "README.md"


def _code(text: str | None) -> str:
    return f"`{text}`" if text else "-"


def _section(marker: str) -> str:
    text = README.read_text()
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    assert begin in text and end in text, f"README.md lacks the {marker} markers"
    return text[text.index(begin) + len(begin) : text.index(end)].strip()


def _keys(record: ProviderRecord) -> str:
    if not record.key_vars:
        return "none"
    keys = " or ".join(_code(var) for var in record.key_vars)
    return keys if record.key_required else f"{keys} (optional)"


def _base_url(record: ProviderRecord) -> str:
    if record.base_url_var is None:
        return "-"
    text = _code(record.base_url_var)
    if record.base_url_required:
        return f"{text} (required)"
    if record.default_base_url:
        return f"{text} (default `{record.default_base_url}`)"
    return text


def environment_table() -> str:
    rows = ["| provider | key | base URL override |", "|---|---|---|"]
    rows += [f"| {r.title} | {_keys(r)} | {_base_url(r)} |" for r in PROVIDERS if r.key_vars or r.base_url_var]
    return "\n".join(rows)


def capability_table() -> str:
    rows = [
        "| provider | prefix | recognised without a prefix | system prompt sent as | seed | reasoning control"
        " | batch API |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in PROVIDERS:
        # A `|` would end the table cell, even inside code: GitHub's tables want it escaped.
        families = _code(r.families.pattern.replace("|", "\\|")) if r.families is not None else "-"
        rows.append(
            f"| {r.title} | `{r.name}:` | {families} | {r.system_channel} | {'yes' if r.takes_seed else 'no'}"
            f" | {_code(r.reasoning_control)} | {_code(r.batch_api)} |"
        )
    return "\n".join(rows)


def test_the_environment_table_lists_every_provider_variable() -> None:
    assert _section("provider-env") == environment_table(), "README's table should be:\n" + environment_table()


def test_the_capability_table_is_the_records() -> None:
    assert _section("provider-capabilities") == capability_table(), "README's table should be:\n" + capability_table()


# -- the reasoning table ---------------------------------------------------------------------

_EVERY_MODEL = re.compile("")


def _reasoning(record: ProviderRecord, family: ReasoningFamily, api: Api = "chat", **asked: Any) -> ReasoningMapping:
    """What `map_reasoning` sends a model of this family (the record with only this family, matching any id)."""
    alone = replace(record.reasoning, families=(replace(family, models=_EVERY_MODEL),))
    return map_reasoning(replace(record, reasoning=alone), "the model", ReasoningSetting(**asked), api=api)


def _leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))]
    return [(path, value)]


def _shapes(sents: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    """(what asked for it, the fields sent) for each distinct set of fields: a text value the same
    in every request of that set is written out (`type: "adaptive"`), one that varies is named."""
    groups: dict[tuple[tuple[str, ...], ...], tuple[str, list[dict[str, Any]]]] = {}
    for asked, sent in sents:
        if sent:
            paths = tuple(path for path, _ in _leaves(sent))
            groups.setdefault(paths, (asked, []))[1].append(sent)
    shapes = []
    for paths, (asked, members) in groups.items():
        values = [dict(_leaves(member)) for member in members]
        constant = {p for p in paths if isinstance(values[0][p], str) and all(v[p] == values[0][p] for v in values)}
        shapes.append((asked, _write(members[0], constant)))
    return shapes


def _write(value: dict[str, Any], constant: set[tuple[str, ...]], path: tuple[str, ...] = ()) -> str:
    fields = []
    for key, item in value.items():
        here = (*path, key)
        if isinstance(item, dict):
            fields.append(f"{key}: {{{_write(item, constant, here)}}}")
        else:
            fields.append(f'{key}: "{item}"' if here in constant else key)
    return ", ".join(fields)


def _sent_cell(record: ProviderRecord, family: ReasoningFamily) -> str:
    asks = [(level, _reasoning(record, family, effort=level).sent) for level in EFFORT_LEVELS[1:]]
    asks.append(("budgetTokens", _reasoning(record, family, budget_tokens=family.budget_low or 1024).sent))
    asks.append(("none", _reasoning(record, family, effort="none").sent))
    shapes = _shapes(asks)
    if not shapes:
        return "nothing: " + family.reason.format(model="the model", provider=record.name)
    cells = [f"`{shape}`" if asked in EFFORT_LEVELS[1:] else f"{asked}: `{shape}`" for asked, shape in shapes]
    if record.responses is not None:
        levels = [(level, _reasoning(record, family, "responses", effort=level).sent) for level in EFFORT_LEVELS[1:]]
        responses = [shape for _, shape in _shapes(levels)]
        if responses and responses != [shape for _, shape in shapes]:
            cells.append("Responses API: " + ", ".join(f"`{shape}`" for shape in responses))
    return "; ".join(cells)


def _effort_cell(record: ProviderRecord, family: ReasoningFamily) -> str:
    """Each effort level's value as sent, equal neighbours together; `none` that still reasons says so."""
    groups: list[tuple[list[str], str]] = []
    for level in EFFORT_LEVELS:
        mapping = _reasoning(record, family, effort=level)
        value = str(_leaves(mapping.sent)[-1][1]) if mapping.sent else "not sent"
        still_reasons = any(w.code == TranscriptWarningCode.REASONING_UNSUPPORTED for w in mapping.warnings) or any(
            n.param == "reasoning.effort" and n.action == "converted" for n in mapping.notes
        )
        if level == "none" and mapping.sent and still_reasons:
            value += " (still reasons)"
        if groups and groups[-1][1] == value:
            groups[-1][0].append(level)
        else:
            groups.append(([level], value))
    if len(groups) == 1:
        return groups[0][1]
    return "; ".join(f"{'/'.join(levels)}: {value}" for levels, value in groups)


def _budget_cell(record: ProviderRecord, family: ReasoningFamily) -> str:
    low = family.budget_low or 1
    if not _reasoning(record, family, budget_tokens=low).sent:
        return "not sent"
    cell = f"{low}-{family.budget_high}" if family.budget_high is not None else f"{low} and up"
    if _reasoning(record, family, budget_tokens=0).sent:
        cell = f"0 (off) or {cell}"
    if dynamic := _reasoning(record, family, budget_tokens="dynamic").sent:
        cell += f', `"dynamic"` ({_leaves(dynamic)[-1][1]})'
    return cell


def _summary_cell(record: ProviderRecord, family: ReasoningFamily) -> str:
    def added(api: Api) -> list[str]:
        plain = {path for path, _ in _leaves(_reasoning(record, family, api, effort="high").sent)}
        asked = [path for path, _ in _leaves(_reasoning(record, family, api, effort="high", summary="auto").sent)]
        return [".".join(path) for path in asked if path not in plain]

    cells = [f"`{path}`" for path in added("chat")]
    if record.responses is not None and (responses := added("responses")):
        cells.append("Responses API: " + ", ".join(f"`{path}`" for path in responses))
    return "; ".join(cells) or "-"


def _models(family: ReasoningFamily) -> str:
    # The id's start, without the optional prefix every family allows (`ft:`, `models/`).
    start = re.sub(r"^\^(\((ft:|models/)\)\?)?", "", family.models.pattern)
    return _code(start.replace("|", "\\|"))


def reasoning_table() -> str:
    rows = [
        "| provider | model id begins with (first match wins) | sent | effort | budgetTokens | summary |",
        "|---|---|---|---|---|---|",
    ]
    for r in PROVIDERS:
        for f in r.reasoning.families:
            rows.append(
                f"| {r.title} | {_models(f)} | {_sent_cell(r, f)} | {_effort_cell(r, f)} | {_budget_cell(r, f)}"
                f" | {_summary_cell(r, f)} |"
            )
    silent = ", ".join(r.title for r in PROVIDERS if not r.reasoning.families)
    rows.append(f"| {silent} | any | nothing | not sent | not sent | - |")
    return "\n".join(rows)


def test_the_reasoning_table_is_what_the_records_send() -> None:
    # The table sits in a list item, indented by two spaces.
    written = "\n".join(line.strip() for line in _section("provider-reasoning").splitlines())
    assert written == reasoning_table(), "README's table should be:\n" + reasoning_table()
