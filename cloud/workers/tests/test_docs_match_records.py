"""README's provider tables are the provider records, written out.

The records (`common/providers/records.py`) are the one place a provider is described;
the README shows them to people. These tests fail when the two disagree and print the
table as the records would write it, to paste into README.md.
"""

from __future__ import annotations

from pathlib import Path

from common.providers.records import PROVIDERS, ProviderRecord

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
