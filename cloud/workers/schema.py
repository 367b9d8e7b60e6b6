#!/usr/bin/env python3
"""Writes the JSON Schema of every worker's input and output, generated from the pydantic models.

    python3 cloud/workers/schema.py           # (re)write cloud/workers/schema/*.schema.json
    python3 cloud/workers/schema.py --check   # exit 1 if the committed files differ from the models

The models are the single source of truth of the host contract; the committed schema
files are what a host (and cloud/host's generated TypeScript types) is built against.
Inputs are described as the worker accepts them (optional fields may be left out),
outputs as the worker prints them (every field present except those it omits when null).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` from any working directory

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode
from pydantic_core import core_schema

from common.contract.analysis import AnalyzeBasicJob, AnalyzeBasicSuccess
from common.contract.health import HealthFailure, HealthJob, HealthSuccess
from common.contract.probe import CONTRACT_VERSION, ProbeJob, ProbeSuccess, WorkerFailure

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
SUFFIX = ".schema.json"


@dataclass(frozen=True)
class WorkerContract:
    """One worker script: the document it reads on stdin and the documents it may print."""

    worker: str  # the script's name without .py
    input: Any  # a pydantic model
    output: Any  # a model or a union of models
    output_title: str  # the name of the output union in the schema (and in TypeScript)


# One row per worker script.
CONTRACTS: tuple[WorkerContract, ...] = (
    WorkerContract("probe", ProbeJob, ProbeSuccess | WorkerFailure, "ProbeOutput"),
    WorkerContract("health_check", HealthJob, HealthSuccess | HealthFailure | WorkerFailure, "HealthCheckOutput"),
    WorkerContract("analyze_basic", AnalyzeBasicJob, AnalyzeBasicSuccess | WorkerFailure, "AnalyzeBasicOutput"),
)


class WireSchema(GenerateJsonSchema):
    """Pydantic's generator with two changes that make the schema say what is on the wire.

    In serialization mode a field with a default is still always printed, so it is
    required; only fields dropped when null (`exclude_if`) are optional. Property titles
    ("Run Id") are left out: they carry no information and would become junk type names
    in generated TypeScript.
    """

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        if self.mode == "serialization":
            return field.get("serialization_exclude_if") is None
        return super().field_is_required(field, total)

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _schema(type_: Any, mode: JsonSchemaMode, title: str, description: str) -> dict[str, Any]:
    generated = TypeAdapter(type_).json_schema(by_alias=True, mode=mode, schema_generator=WireSchema)
    document: dict[str, Any] = {
        "$schema": WireSchema.schema_dialect,
        "title": title,
        "description": description,
        "x-contract-version": CONTRACT_VERSION,  # what `contractVersion` says in every output
    }
    document.update({key: value for key, value in generated.items() if key != "title"})
    if "description" in generated:  # the root model's docstring beats the generic line
        document["description"] = generated["description"]
    return document


def render_schemas() -> dict[str, str]:
    """File name -> file text, for every worker's input and output."""
    files: dict[str, str] = {}
    for contract in CONTRACTS:
        script = f"cloud/workers/{contract.worker}.py"
        shapes: tuple[tuple[str, Any, JsonSchemaMode, str, str], ...] = (
            ("input", contract.input, "validation", contract.input.__name__, f"The job {script} reads on stdin."),
            (
                "output",
                contract.output,
                "serialization",
                contract.output_title,
                f"The one document {script} prints on stdout (contractVersion {CONTRACT_VERSION}).",
            ),
        )
        for kind, type_, mode, title, description in shapes:
            schema = _schema(type_, mode, title, description)
            files[f"{contract.worker}.{kind}{SUFFIX}"] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return files


def drift(folder: Path = SCHEMA_DIR) -> list[str]:
    """What differs between the committed folder and the models, one line per file."""
    expected = render_schemas()
    problems = []
    for name, text in expected.items():
        path = folder / name
        if not path.exists():
            problems.append(f"{name}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{name}: differs from the models")
    present = {p.name for p in folder.glob(f"*{SUFFIX}")} if folder.is_dir() else set()
    problems += [f"{name}: no worker has this contract any more" for name in sorted(present - expected.keys())]
    return problems


def write(folder: Path = SCHEMA_DIR) -> list[str]:
    """Writes every schema file, removes stale ones, returns the names written."""
    folder.mkdir(parents=True, exist_ok=True)
    files = render_schemas()
    for stale in folder.glob(f"*{SUFFIX}"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return sorted(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed schema differs from the models")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift()
        for line in problems:
            sys.stderr.write(f"schema drift: {line}\n")
        if problems:
            sys.stderr.write("run `python3 cloud/workers/schema.py` and commit cloud/workers/schema/\n")
            return 1
        sys.stdout.write(f"schema up to date ({len(render_schemas())} files)\n")
        return 0
    for name in write():
        sys.stdout.write(f"wrote {SCHEMA_DIR.name}/{name}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
