"""The batch command line and its per-provider limits (flags or a small TOML/JSON file).

    python3 cloud/workers/batch.py jobs.jsonl -o results.jsonl [--concurrency 16]
        [--rpm openai=500 --tpm openai=200000 ...] [--limits limits.toml]

A limits file names providers by their record names (`common.providers.records`):

    [openai]
    rpm = 500
    tpm = 200000

(or the same as JSON: {"openai": {"rpm": 500, "tpm": 200000}}). Flags override the file.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from common.providers.records import BY_NAME
from common.runs.batch.rate_limit import Limits

DEFAULT_CONCURRENCY = 16
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_DISTRIBUTED_CONCURRENCY = 256  # with --broker: jobs out on workers at once
DEFAULT_LEASE_S = 60.0
DEFAULT_POLL_INTERVAL_S = 30.0  # --via provider-batch: the first wait between polls (it backs off)


class LimitEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)


class LimitsFile(RootModel[dict[str, LimitEntry]]):
    pass


class ConfigError(Exception):
    """A command-line or limits-file mistake, said in words a user can act on."""


@dataclass(frozen=True)
class BatchOptions:
    jobs: Path
    output: Path
    concurrency: int = DEFAULT_CONCURRENCY
    limits: dict[str, Limits] = field(default_factory=dict)
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    progress: bool = True
    log_file: Path | None = None  # None: JSON log lines go to stderr
    summary_json: Path | None = None
    broker: str | None = None  # set: run on Celery workers (common.runs.distributed.driver)
    redis_url: str | None = None  # the distributed run's state; None: the broker's Redis
    lease_s: float = DEFAULT_LEASE_S
    # "provider-batch": every request through the providers' batch APIs (common.runs.provider_batch);
    # `batch_providers` None: every provider that has one (the others run online).
    via: str = "online"
    batch_providers: frozenset[str] | None = None
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    cancel: bool = False  # --cancel: cancel the provider batches in flight and write what the jobs have


def _check_provider(name: str, where: str) -> str:
    if name not in BY_NAME:
        raise ConfigError(f"{where}: unknown provider {name!r}; use one of {', '.join(BY_NAME)}")
    return name


def load_limits_file(path: Path) -> dict[str, Limits]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read limits file {path}: {exc.strerror}") from None
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ConfigError(f"limits file {path} is not valid {kind}: {exc}") from None
    try:
        entries = LimitsFile.model_validate(raw).root
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"limits file {path}: {problems}") from None
    return {_check_provider(name, str(path)): Limits(e.rpm, e.tpm) for name, e in entries.items()}


def _flag_values(values: list[str], flag: str) -> dict[str, float]:
    parsed: dict[str, float] = {}
    for item in values:
        name, sep, number = item.partition("=")
        try:
            value = float(number)
        except ValueError:
            value = -1.0
        if not sep or value <= 0:
            raise ConfigError(f"{flag} {item!r}: write it as PROVIDER=NUMBER, for example {flag} openai=500")
        parsed[_check_provider(name.strip(), flag)] = value
    return parsed


def limits_from(path: Path | None, rpm_flags: list[str], tpm_flags: list[str]) -> dict[str, Limits]:
    """Per-provider limits from a limits file and `PROVIDER=N` values (batch and serve: the flags win)."""
    limits = load_limits_file(path) if path else {}
    rpm, tpm = _flag_values(rpm_flags, "--rpm"), _flag_values(tpm_flags, "--tpm")
    for name in {*rpm, *tpm}:
        current = limits.get(name, Limits())
        limits[name] = Limits(rpm.get(name, current.rpm), tpm.get(name, current.tpm))
    return limits


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batch.py",
        description="Run a JSON-lines file of probe jobs (each with an id) with per-provider rate limits. "
        "Each result is appended to the output as soon as its job ends; running the same command again "
        "skips finished jobs and retries the retryable ones from their partial transcript.",
    )
    parser.add_argument("jobs", type=Path, help='JSON-lines file: one probe job per line, each with an "id"')
    parser.add_argument("-o", "--output", type=Path, required=True, help="results file (JSON lines, appended)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help=f"jobs run at once, all providers (default {DEFAULT_CONCURRENCY}; with --broker: jobs out on"
        f" workers at once, default {DEFAULT_DISTRIBUTED_CONCURRENCY})",
    )
    parser.add_argument("--rpm", action="append", default=[], metavar="PROVIDER=N", help="requests per minute")
    parser.add_argument("--tpm", action="append", default=[], metavar="PROVIDER=N", help="tokens per minute")
    parser.add_argument("--limits", type=Path, help="TOML or JSON file of per-provider rpm/tpm")
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=DEFAULT_MAX_ATTEMPTS,
        help="runs of a job in this batch before a retryable failure is written as its result",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (the summary is still printed)")
    parser.add_argument("--log-file", type=Path, help="where JSON log lines go (default: OUTPUT.log; '-' for stderr)")
    parser.add_argument("--summary-json", type=Path, help="also write the end summary as JSON to this file")
    distributed = parser.add_argument_group("distributed runs (Celery workers; see README)")
    distributed.add_argument(
        "--broker", metavar="URL", help="run the jobs on Celery workers: redis://... or amqp://..."
    )
    distributed.add_argument("--redis", metavar="URL", help="the run's state and shared limits (default: the broker)")
    distributed.add_argument(
        "--lease",
        type=float,
        default=DEFAULT_LEASE_S,
        metavar="S",
        help="seconds a submitted job may go unclaimed before it is submitted again",
    )
    provider_batch = parser.add_argument_group("provider batch APIs (half price, within 24 h; see README)")
    provider_batch.add_argument(
        "--via",
        default="online",
        metavar="online|provider-batch[=P,...]",
        help="provider-batch: send every request through the providers' batch APIs, in waves of turns (only"
        " the providers named after '=', if given); jobs of other providers run online",
    )
    provider_batch.add_argument(
        "--poll-interval",
        type=float,
        default=DEFAULT_POLL_INTERVAL_S,
        metavar="S",
        help="seconds before the first look at a batch in flight; the wait grows while nothing ends",
    )
    provider_batch.add_argument(
        "--cancel",
        action="store_true",
        help="with --via provider-batch: cancel the batches in flight and write each job's partial transcript"
        " as a retryable CANCELLED result",
    )
    return parser


def _via(value: str) -> tuple[str, frozenset[str] | None]:
    name, sep, names = value.partition("=")
    if name not in ("online", "provider-batch") or (sep and name == "online"):
        raise ConfigError(f"--via {value!r}: use online, provider-batch or provider-batch=openai,anthropic")
    if not sep:
        return name, None
    chosen = frozenset(_check_provider(item.strip(), "--via") for item in names.split(",") if item.strip())
    if not chosen:
        raise ConfigError("--via provider-batch= names no provider")
    return name, chosen


def parse_options(argv: list[str]) -> BatchOptions:
    args = build_parser().parse_args(argv)
    if args.concurrency is None:
        args.concurrency = DEFAULT_DISTRIBUTED_CONCURRENCY if args.broker else DEFAULT_CONCURRENCY
    if args.concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    if args.max_attempts < 1:
        raise ConfigError("--max-attempts must be at least 1")
    if args.lease <= 0:
        raise ConfigError("--lease must be more than 0 seconds")
    via, batch_providers = _via(args.via)
    if args.poll_interval < 0:
        raise ConfigError("--poll-interval must be 0 or more seconds")
    if args.cancel and via != "provider-batch":
        raise ConfigError("--cancel needs --via provider-batch (it cancels the provider batches in flight)")
    if via != "online" and args.broker:
        raise ConfigError("--via provider-batch and --broker cannot be combined")
    if args.redis and not args.broker:
        raise ConfigError("--redis needs --broker (it is the state of a distributed run)")
    broker_is_redis = bool(args.broker) and args.broker.startswith(("redis://", "rediss://"))
    redis_url = args.redis or (args.broker if broker_is_redis else None)
    if args.broker and redis_url is None:
        raise ConfigError(f"--broker {args.broker.split('://')[0]}://... needs --redis URL for the run's state")
    limits = limits_from(args.limits, args.rpm, args.tpm)
    if args.log_file is None:
        log_file: Path | None = args.output.with_name(args.output.name + ".log")
    else:
        log_file = None if str(args.log_file) == "-" else args.log_file
    return BatchOptions(
        jobs=args.jobs,
        output=args.output,
        concurrency=args.concurrency,
        limits=limits,
        max_attempts=args.max_attempts,
        progress=not args.no_progress,
        log_file=log_file,
        summary_json=args.summary_json,
        broker=args.broker,
        redis_url=redis_url,
        lease_s=args.lease,
        via=via,
        batch_providers=batch_providers,
        poll_interval_s=args.poll_interval,
        cancel=args.cancel,
    )
