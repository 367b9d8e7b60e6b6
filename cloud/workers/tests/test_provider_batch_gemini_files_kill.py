"""kill -9 of `batch.py --via provider-batch` while a Gemini batch goes as an uploaded file (a wave
over the 19 MB inline limit), then the same command again: the uninterrupted results, and never a
batch created twice. The file form has calls of its own (the resumable upload, the results file's
download), so its kill points are its own."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from common.runs.provider_batch.state import load_state, state_path
from testkit.fake_batches import FakeBatches, HoldMode
from tests.helpers import probe_job
from tests.test_provider_batch_kill import WAIT_S, _command, _env, _results, _run_to_end

# Two one-turn jobs whose prompt is 10 MB: the wave is over the inline limit, so its batch is a file.
BIG = 10 * 1024 * 1024
JOBS = 2


def _write_jobs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(JOBS):
        document = probe_job(
            "google:gemini-2.5-flash",
            scenarioId=f"s{i}",
            scenario={"prompt": f"Question {i}: " + "x" * BIG},
            config={"maxTurns": 1},
            modelCost={"costInputPerMillion": 1.0, "costOutputPerMillion": 4.0},
        )
        lines.append(json.dumps({"id": f"google-{i}", **document}) + "\n")
    (folder / "jobs.jsonl").write_text("".join(lines))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("baseline-gemini-files")
    _write_jobs(folder)
    with FakeBatches(polls_to_end=2).running() as fake:
        _run_to_end(folder, fake)
        assert fake.submissions == 1
        assert all(batch.input_file_id for batch in fake.batches.values()), "the wave went as a file"
        assert fake.calls["download"] == 1
    return _results(folder)


POINTS: list[tuple[str, str, HoldMode]] = [
    ("uploaded, before the create", "create", "before"),
    ("after the create, before the state write", "create", "after"),
    ("mid-download of the results file", "download", "partial"),
]


@pytest.mark.parametrize(("phase", "route", "mode"), POINTS, ids=[p[0] for p in POINTS])
def test_kill_9_in_the_file_form_then_the_same_command_gives_the_uninterrupted_results(
    tmp_path: Path, uninterrupted: dict[str, Any], phase: str, route: str, mode: HoldMode
) -> None:
    _write_jobs(tmp_path)
    with FakeBatches(polls_to_end=2).running() as fake:
        hold = fake.hold(route, mode)
        process = subprocess.Popen(
            _command(tmp_path), env=_env(fake), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            hold.wait_arrived(WAIT_S)
        finally:
            process.kill()  # SIGKILL: no handler runs, nothing is flushed
            process.wait(WAIT_S)
        fake.clear_holds()
        saved = load_state(state_path(tmp_path / "results.jsonl"))
        assert saved is not None and saved.batches, "the intent is saved before any call"
        if phase == "uploaded, before the create":
            assert [entry.phase for entry in saved.batches] == ["uploaded"]
            assert (saved.batches[0].input_file_id or "").startswith("files/")
        if phase == "after the create, before the state write":
            assert fake.submissions == 1 and all(entry.batch_id is None for entry in saved.batches)
        if phase == "mid-download of the results file":
            assert fake.calls["download"] == 1
        _run_to_end(tmp_path, fake)
        assert fake.submissions == 1, "a batch was submitted twice"
    assert _results(tmp_path) == uninterrupted
    assert not state_path(tmp_path / "results.jsonl").exists()
