"""The worker's own environment variables, read in one place (providers' are in `providers.settings`).

| variable | what it sets | default |
|---|---|---|
| `PROBE_LOG_LEVEL` | stderr log level: debug, info, warning, error (progress lines always go out) | info |
| `PROBE_MAX_INPUT_BYTES` | the largest job (stdin document or serve/batch line) a worker reads | per worker |
| `PROBE_MAX_ANSWER_CHARS` | the longest answer kept per turn (a longer one is cut, with a warning) | 4,000,000 |
| `TIKTOKEN_CACHE_DIR` | where the offline tokenizer files are unpacked | a folder in the temp dir |
| `PROBE_HTTP_TRANSPORT` | warm modes: `httpx2` keeps httpx2's own transport (not ours on aiohttp) | aiohttp |
| `PROBE_BROKER_URL` | distributed worker: the Celery broker (`redis://` or `amqp://`) | `redis://127.0.0.1:6379/0` |
| `PROBE_REDIS_URL` | distributed worker: run state, results, shared limits | the broker if Redis, else local |
| `PROBE_QUEUE` | distributed worker and driver: the broker queue of probe jobs | `probe` |
| `PROBE_CLAIM_TTL_S` | distributed worker: how long a job's claim outlives a worker that stopped renewing it | 30 |
| `PROBE_METRICS_PORT` | distributed worker: serve Prometheus metrics on this port (unset: none) | unset |
| `PROBE_REDIS_URL` (serve) | serve mode: admit jobs through the shared limit in this Redis (`--redis`) | unset |
| `PROBE_RPM`, `PROBE_TPM` | serve with a Redis: shared limits, `openai=500,anthropic=50` (`--rpm`, `--tpm`) | none |
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

LOG_LEVELS = ("debug", "info", "warning", "error")


def log_level(default: str = "info") -> str:
    chosen = os.environ.get("PROBE_LOG_LEVEL", "").strip().lower()
    return chosen if chosen in LOG_LEVELS else default


def max_input_bytes(default: int) -> int:
    """PROBE_MAX_INPUT_BYTES, or the worker's default when it is unset or not a number."""
    try:
        return int(os.environ.get("PROBE_MAX_INPUT_BYTES", default))
    except ValueError:
        return default


DEFAULT_MAX_ANSWER_CHARS = 4_000_000


def max_answer_chars() -> int:
    """PROBE_MAX_ANSWER_CHARS (at least 1), or the default when it is unset or not a number.

    An answer is paid for, so a longer one is kept cut rather than refused; the bound keeps
    redacting, rendering and re-sending it (the next turn's history) cheap and predictable.
    """
    try:
        chosen = int(os.environ.get("PROBE_MAX_ANSWER_CHARS", DEFAULT_MAX_ANSWER_CHARS))
    except ValueError:
        return DEFAULT_MAX_ANSWER_CHARS
    return max(chosen, 1)


def tiktoken_cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "probe-workers-tiktoken"


def wants_httpx2_transport() -> bool:
    """PROBE_HTTP_TRANSPORT=httpx2: the warm modes keep httpx2's own transport (`providers.pool`)."""
    return os.environ.get("PROBE_HTTP_TRANSPORT", "").strip().lower() == "httpx2"


def point_tiktoken_at(cache: Path) -> None:
    """tiktoken reads its cache folder from the environment only."""
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)


DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_CLAIM_TTL_S = 30.0


def broker_url() -> str:
    return os.environ.get("PROBE_BROKER_URL", "").strip() or DEFAULT_BROKER_URL


def state_redis_url(broker: str | None = None) -> str:
    """PROBE_REDIS_URL, else the broker itself when it is a Redis, else the local default."""
    configured = os.environ.get("PROBE_REDIS_URL", "").strip()
    if configured:
        return configured
    chosen = broker if broker is not None else broker_url()
    return chosen if chosen.startswith(("redis://", "rediss://", "unix://")) else DEFAULT_BROKER_URL


def claim_ttl_s() -> float:
    """PROBE_CLAIM_TTL_S (at least 1 s), or the default when unset or not a number."""
    try:
        chosen = float(os.environ.get("PROBE_CLAIM_TTL_S", DEFAULT_CLAIM_TTL_S))
    except ValueError:
        return DEFAULT_CLAIM_TTL_S
    return max(chosen, 1.0)


def metrics_port() -> int | None:
    """PROBE_METRICS_PORT, or None (no metrics server) when unset or not a port number."""
    try:
        port = int(os.environ.get("PROBE_METRICS_PORT", ""))
    except ValueError:
        return None
    return port if 0 <= port < 65536 else None


def queue_name() -> str:
    return os.environ.get("PROBE_QUEUE", "").strip() or "probe"


def shared_limit_redis_url() -> str | None:
    """Serve mode: PROBE_REDIS_URL when set (jobs then admit through the shared limit), else None."""
    return os.environ.get("PROBE_REDIS_URL", "").strip() or None


def _limit_items(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def shared_limit_flags() -> tuple[list[str], list[str]]:
    """PROBE_RPM and PROBE_TPM as `PROVIDER=N` items (serve mode's `--rpm` / `--tpm` from the environment)."""
    return _limit_items("PROBE_RPM"), _limit_items("PROBE_TPM")
