"""A job imports only its own provider's SDK: each SDK costs 1-3 s and 50-80 MB to import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testkit.fake_provider import FakeProvider
from testkit.fake_responses import BackgroundResponses
from testkit.workers import run_python
from tests.helpers import probe_job

pytestmark = pytest.mark.e2e

SDKS = ("openai", "anthropic", "google.genai", "mistralai")
# What a one-shot probe job never needs: the analysis stack, the tokenizer, and the
# warm-worker and batch machinery. Each costs start-up time that every job would pay.
NOT_FOR_ONE_SHOT = (
    "numpy",
    "scipy",
    "msgspec",  # analyze_basic's typed decoder
    "tiktoken",
    "uvloop",
    "argparse",
    "structlog",  # no longer a dependency: the log lines are written by common/io/log.py
    "common.analysis",
    "common.runs.serve",
    "common.runs.lines",
    "common.runs.event_loop",
    "common.runs.batch.runner",
    "common.runs.batch.cli",
    "common.runs.batch.options",
    "common.runs.batch.files",
    "common.runs.batch.progress",
    "common.runs.batch.rate_limit",
    "common.runs.batch.spend",
    "common.runs.distributed",  # Celery, kombu, redis, prometheus-client: distributed runs only
    "celery",
    "kombu",
    "redis",
    "prometheus_client",
    # Features a one-turn chat job does not use, each loaded by the jobs that do: the
    # Responses API transport and its background polling, provider Batch APIs, the run report.
    "common.providers.adapters.openai_responses",
    "common.runs.provider_batch",
    "common.report",
    "vl_convert",
    # The warm modes' HTTP transport: a one-shot job sends on httpx2's own, and google-genai
    # must not import aiohttp by itself either (adapters/google.py hides it from that import).
    "common.providers.aiohttp_transport",
    "aiohttp",
)
# Loaded on a job's first failure (or token estimate) only: a job that succeeds with
# reported usage never imports them.
FAILURE_ONLY = ("common.errors.classify", "common.errors.retry_hints", "common.probe.param_fallback", "common.tokens")

# Contract models a job that succeeds never uses: built at the first failure (`defer_build`).
FAILURE_ONLY_MODELS = ("WorkerFailure", "ErrorInfo")

# Runs probe.py as `python probe.py` would, then writes the names of every module it loaded,
# which contract models were built, and the garbage collections that ran during the
# script's own start-up imports (from `process_start` until `probe_worker` is imported).
RECORDER = """
import atexit, gc, json, runpy, sys
out, script, *args = sys.argv[1:]
startup_collections = []
def during_startup():
    worker = sys.modules.get("common.runs.probe_worker")
    started = getattr(sys.modules.get("common.runs.process_start"), "_started", None) is not None
    return started and not hasattr(worker, "PROBE")
gc.callbacks.append(lambda phase, info: phase == "start" and during_startup() and startup_collections.append(info))
def record():
    contract = sys.modules.get("common.contract.probe")
    names = dir(contract) if contract is not None else []
    built = {name: getattr(getattr(contract, name), "__pydantic_complete__", None) for name in names}
    built = {name: complete for name, complete in built.items() if isinstance(complete, bool)}
    sdk_response = getattr(sys.modules.get("openai.types.responses.response"), "Response", None)
    facts = {"modules": sorted(sys.modules), "built": built, "startupCollections": len(startup_collections),
             "collecting": gc.isenabled(), "sdkResponseBuilt": getattr(sdk_response, "__pydantic_complete__", None)}
    open(out, "w").write(json.dumps(facts))
atexit.register(record)
sys.argv = [script, *args]
runpy.run_path(script, run_name="__main__")
"""


def recorded_run(tmp_path: Path, job_input: str, *args: str, **env: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first stdout document, and what RECORDER wrote at exit."""
    record = tmp_path / "record.json"
    done = run_python("-c", RECORDER, str(record), "cloud/workers/probe.py", *args, stdin=job_input, env=env)
    assert done.code == 0, done.err[-2000:]
    first: dict[str, Any] = json.loads(done.stdout_lines[0])
    facts: dict[str, Any] = json.loads(record.read_text())
    return first, facts


def modules_loaded(tmp_path: Path, job_input: str, *args: str, **env: str) -> tuple[dict[str, Any], set[str]]:
    first, facts = recorded_run(tmp_path, job_input, *args, **env)
    return first, set(facts["modules"])


def sdks_in(modules: set[str]) -> set[str]:
    return {sdk for sdk in SDKS if sdk in modules}


def loaded(names: tuple[str, ...], modules: set[str]) -> set[str]:
    """The packages or modules of `names` that were imported (a package counts by any submodule)."""
    return {name for name in names if name in modules or any(m.startswith(f"{name}.") for m in modules)}


def test_a_mock_job_imports_no_provider_sdk(tmp_path: Path) -> None:
    document, modules = modules_loaded(tmp_path, json.dumps(probe_job("mock:echo")))
    assert document["success"] is True
    assert sdks_in(modules) == set()
    assert "google" not in modules
    assert loaded(NOT_FOR_ONE_SHOT, modules) == set()


def test_an_openai_job_imports_only_the_openai_sdk(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "sk-test-isolation-not-real-0000"}
    with FakeProvider().running() as fake:
        document, modules = modules_loaded(
            tmp_path, json.dumps(probe_job("openai:gpt-4o-mini")), OPENAI_BASE_URL=f"{fake.url}/v1", **env
        )
    assert document["success"] is True, document
    assert sdks_in(modules) == {"openai"}
    assert "google" not in modules
    assert loaded(NOT_FOR_ONE_SHOT + FAILURE_ONLY, modules) == set()


# Each provider's chat job, pointed at the fake server: (model, its SDK, env).
CHAT_JOBS = {
    "openai": ("openai:gpt-4o-mini", "openai", {"OPENAI_API_KEY": "sk-test-isolation-not-real-0000"}, "/v1"),
    "anthropic": (
        "anthropic:claude-sonnet-4-5",
        "anthropic",
        {"ANTHROPIC_API_KEY": "sk-ant-test-isolation-not-real-0"},
        "",
    ),
    "google": ("google:gemini-2.0-flash", "google.genai", {"GEMINI_API_KEY": "test-isolation-not-real-0000"}, ""),
    "mistral": ("mistral:mistral-small-latest", "mistralai", {"MISTRAL_API_KEY": "test-isolation-not-real-00"}, ""),
}


@pytest.mark.parametrize("provider", sorted(CHAT_JOBS))
def test_a_one_shot_chat_job_imports_its_sdk_and_none_of_the_other_features(tmp_path: Path, provider: str) -> None:
    model, sdk, env, path = CHAT_JOBS[provider]
    base_url = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL", "google": "GEMINI_BASE_URL"}.get(
        provider, "MISTRAL_BASE_URL"
    )
    with FakeProvider().running() as fake:
        document, modules = modules_loaded(
            tmp_path, json.dumps(probe_job(model, followups=1)), **{base_url: f"{fake.url}{path}"}, **env
        )
    assert document["success"] is True, document
    assert sdks_in(modules) == {sdk}
    assert loaded(NOT_FOR_ONE_SHOT + FAILURE_ONLY, modules) == set()


def test_serve_mode_imports_only_the_sdks_its_jobs_need(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "sk-test-isolation-not-real-0000"}
    with FakeProvider().running() as fake:
        lines = "\n".join(
            json.dumps({"id": n, **probe_job(model, followups=0)})
            for n, model in enumerate(["openai:gpt-4o-mini", "mock:echo"])
        )
        first, modules = modules_loaded(tmp_path, lines + "\n", "--serve", OPENAI_BASE_URL=f"{fake.url}/v1", **env)
    assert first["result"]["success"] is True
    assert sdks_in(modules) == {"openai"}
    assert "common.providers.aiohttp_transport" in modules  # a warm worker sends on aiohttp
    # no Redis URL configured: nothing of the shared limit (distributed package, redis) is loaded
    assert loaded(("common.runs.distributed", "redis", "celery", "kombu", "prometheus_client"), modules) == set()


def test_a_successful_job_builds_no_failure_only_model_and_collects_no_garbage_during_start_up(
    tmp_path: Path,
) -> None:
    document, facts = recorded_run(tmp_path, json.dumps(probe_job("mock:echo", followups=1)))
    assert document["success"] is True
    assert facts["startupCollections"] == 0
    assert facts["collecting"] is True  # the job's own garbage is collected again
    built = facts["built"]
    assert built["ProbeJob"] is True and built["ProbeSuccess"] is True and built["Transcript"] is True
    assert {name: built[name] for name in FAILURE_ONLY_MODELS} == dict.fromkeys(FAILURE_ONLY_MODELS, False)


def test_a_failed_job_builds_its_failure_document_on_demand(tmp_path: Path) -> None:
    document, facts = recorded_run(tmp_path, json.dumps(probe_job("mock:fail:AUTH_ERROR")))
    assert document["success"] is False and document["error"]["code"] == "AUTH_ERROR"
    assert all(facts["built"][name] for name in FAILURE_ONLY_MODELS)


def test_serve_mode_collects_garbage_as_usual(tmp_path: Path) -> None:
    line = json.dumps({"id": 1, **probe_job("mock:echo", followups=0)})
    first, facts = recorded_run(tmp_path, line + "\n", "--serve")
    assert first["result"]["success"] is True
    assert facts["collecting"] is True


def test_a_one_shot_responses_job_starts_like_a_chat_job_plus_its_transport(tmp_path: Path) -> None:
    """A Responses-only model costs no more start-up than a Chat Completions job of the same SDK:
    the same modules but the Responses transport (the SDK's `Response` types come with the SDK),
    nothing failure-only, no collection during the start-up imports, and no SDK model built
    that a Chat job does not build."""
    env = {"OPENAI_API_KEY": "sk-test-isolation-not-real-0000"}
    api = BackgroundResponses()
    with FakeProvider(respond=api.fake_provider_respond).running() as fake:
        url = {"OPENAI_BASE_URL": f"{fake.url}/v1"}
        document, facts = recorded_run(tmp_path, json.dumps(probe_job("openai:o1-pro", followups=1)), **url, **env)
        chat_document, chat_modules = modules_loaded(
            tmp_path, json.dumps(probe_job("openai:gpt-4o-mini", followups=1)), **url, **env
        )
    assert document["success"] is True and chat_document["success"] is True, (document, chat_document)
    assert {t["providerMetadata"].get("api") for t in document["transcript"]["turns"]} == {"responses"}
    assert len(api.created) == 2  # both turns went to /v1/responses
    modules = set(facts["modules"])
    assert sdks_in(modules) == {"openai"}
    assert modules - chat_modules == {"common.providers.adapters.openai_responses"}
    responses_transport = ("common.providers.adapters.openai_responses",)
    assert loaded(tuple(set(NOT_FOR_ONE_SHOT) - set(responses_transport)) + FAILURE_ONLY, modules) == set()
    assert facts["startupCollections"] == 0
    # The SDK's `Response` model (every tool and output item type) is never built: its schema
    # costs ~110 ms of CPU; the transport parses into its own few fields (ResponseBody).
    assert facts["sdkResponseBuilt"] is False
