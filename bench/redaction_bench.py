"""Benchmark: redaction and rendering of huge answers (issue 9 item 7).

    python3 bench/redaction_bench.py [--sizes 1,10,50] [--repeat 3]

Redacting a 50 MB answer used to take 5-12 s (six regex scans, ~20 MB/s each) and stalled
serve. `redact_text` now locates each rule by a literal (`str.find`) and tries its pattern
only there, so its cost is linear in the text: the table gives ms and ns per character for
1 / 10 / 50 MB of several shapes of text, and the 50 MB / 1 MB per-character ratio (1.0 is
perfectly linear). Shapes:
- prose: model-like text with no secret;
- prose + keys: the same with a key-shaped string or an Authorization header every ~10 kB;
- dense: adversarial text that is nothing but trigger literals (every one a real redaction);
- non-ASCII prose: curly quotes and dashes (a UCS-2 string, the slower case for `str.find`).
Then `render` of a whole probe document whose answer is at the default answer bound
(PROBE_MAX_ANSWER_CHARS, 4,000,000 characters): ASCII, non-ASCII, and with a lone surrogate
(the repair path). Figures only; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import time
from collections.abc import Callable

from bench_support import emit, one_turn_job, save

from common.contract.probe import ProbeJob, ProbeSuccess
from common.io.environment import DEFAULT_MAX_ANSWER_CHARS
from common.io.log import configure_logging
from common.io.redaction import redact_text
from common.io.render import render
from common.probe.conversation import ProbeRunner
from common.providers.registry import build_provider, resolve_model

MB = 1_000_000
PROSE = (
    "The committee should weigh the benefit to patients against the risk of harm. "
    "Trust matters, and so does evidence; a fair process respects autonomy. "
)
SECRETS_EVERY = 10_000
SPRINKLED = (
    "Incorrect API key provided: sk-proj-AbCdEfGhIjKlMnOp1234. ",
    "We received the header Authorization: Basic dXNlcjpwYXNzd29yZA== ",
    "GET https://example.test/v1/models?key=AIzaSyA1234567890abcdefghijklmnopqrs&alt=json ",
    "proxy http://user:hunter2pass@proxy.internal/v1 ",
)
DENSE = "api_key=abc123 Authorization: Bearer tok.123 sk-abcdefghijkl http://u:p@h/ "
NON_ASCII = "The model\u2019s answer \u2014 weigh harm and benefit, \u201ccarefully\u201d. "


def text_of(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def with_keys(size: int) -> str:
    chunk = text_of(PROSE, SECRETS_EVERY)
    parts = []
    for sprinkle in itertools.islice(itertools.cycle(SPRINKLED), size // SECRETS_EVERY + 1):
        parts.append(chunk)
        parts.append(sprinkle)
    return "".join(parts)[:size]


SHAPES: dict[str, Callable[[int], str]] = {
    "prose": lambda size: text_of(PROSE, size),
    "prose + keys": with_keys,
    "dense triggers": lambda size: text_of(DENSE, size),
    "non-ASCII prose": lambda size: text_of(NON_ASCII, size),
}


def best_of(repeat: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def mock_document() -> ProbeSuccess:
    """A real one-turn probe document (the offline mock provider), whose answer each case replaces."""
    job = ProbeJob.model_validate(one_turn_job("mock:echo"))
    route = resolve_model(job.model_id)
    result = asyncio.run(ProbeRunner(job, route, build_provider(route.provider)).run())
    if not isinstance(result, ProbeSuccess):
        raise SystemExit(f"the mock job failed: {result}")
    return result


def document_with(base: ProbeSuccess, answer: str) -> ProbeSuccess:
    turn = base.transcript.turns[0].model_copy(update={"target_response": answer})
    return base.model_copy(update={"transcript": base.transcript.model_copy(update={"turns": [turn]})})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50", help="text sizes in MB (comma-separated)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs per figure")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    secrets = ["sk-bench-not-a-real-key-000000"]  # one environment secret, as a worker has
    results: dict[str, dict[str, float]] = {}

    configure_logging("warning")  # the mock job's log lines go to stderr; only warnings
    emit(f"redact_text (best of {args.repeat})")
    emit(f"{'shape':<18}" + "".join(f"{f'{s} MB ms':>12}{'ns/char':>9}" for s in sizes) + f"{'linearity':>11}")
    for shape, make in SHAPES.items():
        row: dict[str, float] = {}
        cells = ""
        for size in sizes:
            text = make(size * MB)
            seconds = best_of(args.repeat, functools.partial(redact_text, text, secrets))
            row[f"{size}MB_ms"] = round(seconds * 1000, 1)
            row[f"{size}MB_ns_per_char"] = round(seconds * 1e9 / len(text), 2)
            cells += f"{seconds * 1000:>12.1f}{seconds * 1e9 / len(text):>9.2f}"
        ratio = row[f"{sizes[-1]}MB_ns_per_char"] / row[f"{sizes[0]}MB_ns_per_char"]
        row["linearity"] = round(ratio, 2)
        results[shape] = row
        emit(f"{shape:<18}{cells}{ratio:>11.2f}")

    emit("")
    emit(f"render of a probe document with a {DEFAULT_MAX_ANSWER_CHARS:,}-character answer (the default bound)")
    answers = {
        "ASCII answer": text_of(PROSE, DEFAULT_MAX_ANSWER_CHARS),
        "non-ASCII answer": text_of(NON_ASCII, DEFAULT_MAX_ANSWER_CHARS),
        "lone surrogate": text_of(NON_ASCII, DEFAULT_MAX_ANSWER_CHARS - 1) + "\ud83d",
    }
    base = mock_document()
    for name, answer in answers.items():
        document = document_with(base, answer)
        seconds = best_of(args.repeat, functools.partial(render, document))
        results[f"render {name}"] = {"ms": round(seconds * 1000, 1)}
        emit(f"  {name:<18}{seconds * 1000:>9.1f} ms")
    path = save("redaction", results)
    emit(f"\nsaved {path}")


if __name__ == "__main__":
    main()
