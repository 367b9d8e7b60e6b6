"""kill -9 of `batch.py --via provider-batch` while a Gemini batch goes as an uploaded file (a wave
over the 19 MB inline limit), then the same command again: the uninterrupted results, and never a
batch created twice. The file form has calls of its own (the resumable upload, the results file's
download), so its kill points are its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from common.runs.provider_batch.state import RunState
from testkit.fake_batches import FakeBatches, HoldMode
from tests.helpers import probe_job
from tests.test_provider_batch_kill import StateCheck, _results, _run_to_end, kill_and_run_again

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


def _uploaded_not_created(saved: RunState, fake: FakeBatches) -> None:
    assert [entry.phase for entry in saved.batches] == ["uploaded"]
    assert (saved.batches[0].input_file_id or "").startswith("files/")


def _created_not_saved(saved: RunState, fake: FakeBatches) -> None:
    assert fake.submissions == 1 and all(entry.batch_id is None for entry in saved.batches)


def _mid_download(saved: RunState, fake: FakeBatches) -> None:
    assert fake.calls["download"] == 1


POINTS: list[tuple[str, str, HoldMode, StateCheck]] = [
    ("uploaded, before the create", "create", "before", _uploaded_not_created),
    ("after the create, before the state write", "create", "after", _created_not_saved),
    ("mid-download of the results file", "download", "partial", _mid_download),
]


@pytest.mark.parametrize(("phase", "route", "mode", "check"), POINTS, ids=[p[0] for p in POINTS])
def test_kill_9_in_the_file_form_then_the_same_command_gives_the_uninterrupted_results(
    tmp_path: Path, uninterrupted: dict[str, Any], phase: str, route: str, mode: HoldMode, check: StateCheck
) -> None:
    _write_jobs(tmp_path)
    kill_and_run_again(tmp_path, uninterrupted, route, mode, batches=1, check=check)
