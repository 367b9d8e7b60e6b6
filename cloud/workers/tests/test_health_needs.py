"""The health check's table of needs names every package each worker really imports.

Each worker runs for real in a subprocess (a mock job, so no SDK and no network), and the
third-party packages it imported are compared with what `common.health.needs` says it
needs: a worker that starts importing a new package without the table knowing would be
reported ready on a machine where it cannot start.
"""

from __future__ import annotations

import importlib.metadata
import json
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from common.health.needs import NEEDS
from common.providers.records import PROVIDERS, ProviderRecord
from testkit.workers import BATCH_PY, PROBE_PY, REPO, WORKERS, Stdin, run_python

# Runs a script (or imports a module) as its worker would, then writes the top-level names
# of every module it imported as the last stderr line.
_RUN_AND_LIST = """
import json, runpy, sys
target, args = sys.argv[1], sys.argv[2:]
sys.path.insert(0, {workers!r})
try:
    if target.endswith(".py"):
        sys.argv = [target, *args]
        runpy.run_path(target, run_name="__main__")
    elif target.startswith("common.providers.adapters."):  # as the registry imports an adapter
        from common.providers.adapter_import import import_adapter
        import_adapter(target)
    else:
        __import__(target)
except SystemExit:
    pass
sys.stderr.write("\\n" + json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})) + "\\n")
"""

MOCK_JOB = {"modelId": "mock:echo", "scenario": {"prompt": "A question?", "followups": [{"prompt": "And?"}]}}


def direct_dependencies() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(Requirement(line).name) for line in project["dependencies"]}


def distributions_imported(*argv: str, stdin: Stdin = b"") -> set[str]:
    """The direct dependencies whose modules a run imported."""
    run = run_python("-c", _RUN_AND_LIST.format(workers=str(WORKERS)), *argv, stdin=stdin)
    last = run.err.strip().splitlines()[-1:] or [""]
    assert last[0].startswith("["), f"the run ended before listing its modules: {run.err[-2000:]}"
    modules = json.loads(last[0])
    owners = importlib.metadata.packages_distributions()
    found: set[str] = {canonicalize_name(dist) for module in modules for dist in owners.get(module, [])}
    return found & direct_dependencies()


def table_for(worker: str) -> set[str]:
    """What the table says the worker needs, provider SDKs left out (a mock job imports none)."""
    return {
        canonicalize_name(need.distribution)
        for need in NEEDS
        if not need.providers and (worker in need.required_by or worker in need.optional_for)
    }


def test_probe_one_shot() -> None:
    assert distributions_imported(str(PROBE_PY), stdin=MOCK_JOB) <= table_for("probe")


def test_serve_mode() -> None:
    line = json.dumps({"id": "1", **MOCK_JOB}).encode() + b"\n"
    assert distributions_imported(str(PROBE_PY), "--serve", stdin=line) <= table_for("serve")


def test_batch(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"id": "1", **MOCK_JOB}) + "\n")
    found = distributions_imported(str(BATCH_PY), str(jobs), "-o", str(tmp_path / "out.jsonl"), "--no-progress")
    assert (tmp_path / "out.jsonl").read_text().strip(), "the batch ran its job"
    assert found <= table_for("batch")


def test_analyze_basic() -> None:
    # what the worker imports to run any job (its analysis modules), without needing a valid run
    assert distributions_imported("common.analysis.report") <= table_for("analyze_basic")


@pytest.mark.parametrize("record", [r for r in PROVIDERS if r.packages], ids=lambda r: r.name)
def test_each_provider_adapter_needs_only_its_sdk_beyond_what_probes_need(record: ProviderRecord) -> None:
    module = record.adapter.split(":")[0]
    own = {canonicalize_name(p.distribution) for p in record.packages}
    needed_for_provider = {canonicalize_name(need.distribution) for need in NEEDS if record.name in need.providers}
    assert own == needed_for_provider
    assert distributions_imported(module) <= table_for("probe") | own
