"""kill -9 of `batch.py --via provider-batch` in every phase, then the same command again: exactly the
results of an uninterrupted run, and never a batch submitted twice (the fake counts creates)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common.runs.provider_batch.state import RunState, load_state, state_path
from testkit.fake_batches import FakeBatches, HoldMode
from testkit.workers import BATCH_PY, worker_env
from tests.helpers import probe_job

WAIT_S = 60.0
MODELS = {
    "openai": "openai:gpt-4o-mini",
    "anthropic": "anthropic:claude-sonnet-4-5",
    "google": "google:gemini-2.5-flash",
    "mistral": "mistral:mistral-small-latest",
}
# Batch-assigned ids and times differ between runs; everything else must be the same.
VOLATILE = {"startedAt", "completedAt", "timing", "batchId", "batchCustomId", "batchRequestId"}


def _env(fake: FakeBatches) -> dict[str, str]:
    return worker_env(
        OPENAI_API_KEY="sk-test-not-a-real-key-0000",
        OPENAI_BASE_URL=fake.url + "/v1",
        ANTHROPIC_API_KEY="sk-ant-test-not-a-real-key-00",
        ANTHROPIC_BASE_URL=fake.url,
        GEMINI_API_KEY="gemini-test-not-a-real-key-000",
        GEMINI_BASE_URL=fake.gemini_url,
        MISTRAL_API_KEY="mistral-test-not-a-real-key-00",
        MISTRAL_BASE_URL=fake.url + "/v1",
    )


def _command(folder: Path) -> list[str]:
    return [
        sys.executable,
        str(BATCH_PY),
        str(folder / "jobs.jsonl"),
        "-o",
        str(folder / "results.jsonl"),
        "--via",
        "provider-batch",
        "--poll-interval",
        "0",
        "--no-progress",
    ]


def _write_jobs(folder: Path, provider: str) -> None:
    jobs = {
        f"{provider}-{i}": probe_job(
            MODELS[provider],
            scenarioId=f"s{i}",
            scenario={"prompt": f"Question {i}?", "followups": [{"prompt": "Why?"}, {"prompt": "Sure?"}]},
            modelCost={"costInputPerMillion": 1.0, "costOutputPerMillion": 4.0},
        )
        for i in range(3)
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "jobs.jsonl").write_text("".join(json.dumps({"id": k, **v}) + "\n" for k, v in jobs.items()))


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _results(folder: Path) -> dict[str, Any]:
    data = (folder / "results.jsonl").read_bytes()
    assert data.endswith(b"\n")
    lines = [json.loads(line) for line in data.splitlines()]
    assert len({line["id"] for line in lines}) == len(lines), "one line per id"
    return {line["id"]: _stable(line["result"]) for line in lines}


def _run_to_end(folder: Path, fake: FakeBatches) -> None:
    done = subprocess.run(_command(folder), env=_env(fake), capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    expected: dict[str, dict[str, Any]] = {}
    for provider in MODELS:
        folder = tmp_path_factory.mktemp(f"baseline-{provider}")
        _write_jobs(folder, provider)
        with FakeBatches(polls_to_end=2).running() as fake:
            _run_to_end(folder, fake)
            assert fake.submissions == 3
        expected[provider] = _results(folder)
    return expected


# (phase, the call held when the process is killed, how it is held), per provider.
POINTS: list[tuple[str, str, str, HoldMode]] = [
    ("openai", "before submit", "upload", "before"),
    ("openai", "after submit, before the state write", "create", "after"),
    ("openai", "while polling", "retrieve", "before"),
    ("openai", "mid-download", "download", "partial"),
    ("anthropic", "before submit", "create", "before"),
    ("anthropic", "after submit, before the state write", "create", "after"),
    ("anthropic", "while polling", "retrieve", "before"),
    ("anthropic", "mid-download", "download", "partial"),
    ("google", "before submit", "create", "before"),
    ("google", "after submit, before the state write", "create", "after"),
    ("google", "while polling", "retrieve", "before"),
    ("google", "mid-download", "download", "partial"),  # the get that carries the inlined responses
    ("mistral", "before submit", "upload", "before"),
    ("mistral", "after submit, before the state write", "create", "after"),
    ("mistral", "while polling", "retrieve", "before"),
    ("mistral", "mid-download", "download", "partial"),
]


@pytest.mark.parametrize(("provider", "phase", "route", "mode"), POINTS, ids=[f"{p[0]}-{p[1]}" for p in POINTS])
def test_kill_9_then_the_same_command_gives_the_uninterrupted_results(
    tmp_path: Path,
    uninterrupted: dict[str, dict[str, Any]],
    provider: str,
    phase: str,
    route: str,
    mode: HoldMode,
) -> None:
    _write_jobs(tmp_path, provider)
    check = _create_lost(1) if phase.startswith("after submit") else None
    kill_and_run_again(tmp_path, uninterrupted[provider], route, mode, batches=3, check=check)


@pytest.mark.parametrize("mode", ["before", "after"])
@pytest.mark.parametrize("provider", list(MODELS))
def test_kill_9_at_a_later_waves_create_does_not_take_an_earlier_batch_for_it(
    tmp_path: Path, uninterrupted: dict[str, dict[str, Any]], provider: str, mode: HoldMode
) -> None:
    """Wave 2 has wave 1's request count and comes minutes after it: a restart that looks for
    the batch of an intent whose id was never saved (its create killed before or after it
    acted) must not re-attach to wave 1's applied batch (Anthropic batches carry no tag: only
    the count and the creation time tell them apart)."""
    _write_jobs(tmp_path, provider)
    check = _create_lost(2) if mode == "after" else None
    kill_and_run_again(tmp_path, uninterrupted[provider], "create", mode, batches=3, skip=1, check=check)


StateCheck = Callable[[RunState, FakeBatches], None]


def _create_lost(submitted: int) -> StateCheck:
    """The check after a kill between a create and its state write: the batch exists, its id is nowhere."""

    def check(saved: RunState, fake: FakeBatches) -> None:
        assert fake.submissions == submitted
        assert all(entry.batch_id is None for entry in saved.batches)  # the id never reached the state

    return check


def kill_and_run_again(
    folder: Path,
    expected: dict[str, Any],
    route: str,
    mode: HoldMode,
    *,
    batches: int,
    skip: int = 0,
    check: StateCheck | None = None,
) -> None:
    """Runs the jobs in `folder`, kills the run with -9 at the held call (`skip` such calls let
    through first), checks the saved state (`check`), runs the same command to its end: exactly
    `expected`, exactly `batches` batches created in all, and no state left."""
    with FakeBatches(polls_to_end=2).running() as fake:
        hold = fake.hold(route, mode, skip=skip)
        process = subprocess.Popen(
            _command(folder), env=_env(fake), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            hold.wait_arrived(WAIT_S)
        finally:
            process.kill()  # SIGKILL: no handler runs, nothing is flushed
            process.wait(WAIT_S)
        fake.clear_holds()
        saved = load_state(state_path(folder / "results.jsonl"))
        assert saved is not None and saved.batches, "the intent is saved before any call"
        if check is not None:
            check(saved, fake)
        _run_to_end(folder, fake)
        assert fake.submissions == batches, "a batch was submitted twice"
    assert _results(folder) == expected
    assert not state_path(folder / "results.jsonl").exists()
