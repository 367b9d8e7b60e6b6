"""Prometheus metrics of one distributed worker process (`PROBE_METRICS_PORT` serves them).

| metric | type | labels | what |
|---|---|---|---|
| `probe_jobs_total` | counter | `outcome` (success, failure, retryable), `code` | jobs this worker ran to a result |
| `probe_jobs_skipped_total` | counter | `reason`: done, busy, stale, invalid_message, duplicate | messages not run |
| `probe_tokens_total` | counter | `provider`, `kind` (input, output) | tokens of the turns this worker ran |
| `probe_requests_total` | counter | `provider` | provider requests, retries included |
| `probe_estimated_cost_total` | counter | `provider` | estimated cost (from each job's `modelCost`) |
| `probe_rate_limited_total` | counter | `provider` | 429s seen |
| `probe_limiter_wait_seconds` | histogram | `provider` | time a job waited for the shared rate limit |
| `probe_job_seconds` | histogram | `provider` | a job's run time after admission |
| `probe_jobs_in_flight` | gauge | | jobs running in this process now |
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

JOBS = Counter("probe_jobs", "Jobs run to a result", ["outcome", "code"])
SKIPPED = Counter("probe_jobs_skipped", "Messages acknowledged without running a job", ["reason"])
TOKENS = Counter("probe_tokens", "Tokens of the turns run", ["provider", "kind"])
REQUESTS = Counter("probe_requests", "Provider requests, retries included", ["provider"])
COST = Counter("probe_estimated_cost", "Estimated cost from each job's modelCost", ["provider"])
RATE_LIMITED = Counter("probe_rate_limited", "429 answers seen", ["provider"])
LIMITER_WAIT = Histogram(
    "probe_limiter_wait_seconds",
    "Time a job waited for the shared rate limit",
    ["provider"],
    buckets=(0, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300),
)
JOB_SECONDS = Histogram(
    "probe_job_seconds",
    "A job's run time after admission",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 240),
)
IN_FLIGHT = Gauge("probe_jobs_in_flight", "Jobs running in this process now")


def serve(port: int) -> None:
    """Serves /metrics on 0.0.0.0:port from a daemon thread (prometheus-client's own server)."""
    start_http_server(port)
