"""The probe contract grew by addition only: a host written against the schema before reasoning,
the Responses API and long-running calls came still sends valid jobs and reads every field.

`tests/fixtures/schema_before_reasoning/` holds the committed probe input and output schemas
as they were before those features (commit 0ed2afd). Each schema is flattened into the paths
it allows (properties, item and map values, enum values, types; `anyOf` members merged, so
making a field nullable is a widening, not a change); every old path must still be there.
Input: no field an old job leaves out may have become required. Output: every field an old
host relies on is still required.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schema"  # the committed schemas (`make schema`)
BEFORE = Path(__file__).parent / "fixtures" / "schema_before_reasoning"


def flatten(schema: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(paths, required paths) of a JSON Schema, `$ref`s resolved."""
    paths: set[str] = set()
    required: set[str] = set()
    defs: dict[str, Any] = schema.get("$defs", {})

    def walk(node: dict[str, Any], at: str, chain: tuple[str, ...]) -> None:
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name in chain:  # a recursive model: its paths are already being walked
                return
            walk(defs[name], at, (*chain, name))
            return
        for value in node.get("enum", []):
            paths.add(f"{at}=enum:{value!r}")
        kinds = node.get("type")
        for kind in kinds if isinstance(kinds, list) else [kinds] if kinds else []:
            paths.add(f"{at}:{kind}")
        for name, sub in node.get("properties", {}).items():
            paths.add(f"{at}.{name}")
            walk(sub, f"{at}.{name}", chain)
        for name in node.get("required", []):
            required.add(f"{at}.{name}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{at}[]", chain)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{at}{{}}", chain)
        for key in ("anyOf", "oneOf", "allOf"):
            for member in node.get(key, []):
                walk(member, at, chain)

    walk(schema, "$", ())
    return paths, required


def schemas(worker_file: str) -> tuple[dict[str, Any], dict[str, Any]]:
    before = json.loads((BEFORE / worker_file).read_text())
    now = json.loads((SCHEMA_DIR / worker_file).read_text())
    return before, now


@pytest.mark.parametrize("worker_file", ["probe.input.schema.json", "probe.output.schema.json"])
def test_nothing_the_schema_allowed_before_is_gone(worker_file: str) -> None:
    before, now = schemas(worker_file)
    old_paths, _ = flatten(before)
    new_paths, _ = flatten(now)
    assert sorted(old_paths - new_paths) == []


def test_no_job_field_became_required() -> None:
    before, now = schemas("probe.input.schema.json")
    old_paths, old_required = flatten(before)
    _, new_required = flatten(now)
    # A required field inside an object an old job never sends (new) is not a change for it.
    newly = {path for path in new_required - old_required if path.rsplit(".", 1)[0] in old_paths | {"$"}}
    assert sorted(newly) == []


def test_every_field_a_host_relied_on_is_still_printed() -> None:
    before, now = schemas("probe.output.schema.json")
    _, old_required = flatten(before)
    _, new_required = flatten(now)
    assert sorted(old_required - new_required) == []


def test_the_flattening_sees_a_removed_field_and_a_new_required_one() -> None:
    before, _ = schemas("probe.input.schema.json")
    changed = json.loads(json.dumps(before))
    changed["properties"].pop("scenarioId")
    changed["required"] = [*changed.get("required", []), "newField"]
    changed["properties"]["newField"] = {"type": "string"}
    old_paths, old_required = flatten(before)
    new_paths, new_required = flatten(changed)
    assert "$.scenarioId" in old_paths - new_paths
    assert "$.newField" in new_required - old_required
