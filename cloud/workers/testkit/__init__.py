"""Test tools shared by the tests (`cloud/workers/tests`) and the benchmarks (`bench/`).

- `testkit.workers`: run a worker script as a host does (`run_script`, `run_python`) or
  keep one running and talk to it line by line (`WorkerProcess`, `serve_process`), always
  with a clean environment (`worker_env`: no real key can reach a spawned worker).
- `testkit.fake_provider`: `FakeProvider`, one local HTTP server speaking the providers'
  documented APIs, with injected failures, latency and held requests, in a thread
  (`FakeProvider().running()`) or its own process (`fake_provider_process`).
- `testkit.hostile`, `testkit.fake_batches`, `testkit.fake_responses`, `testkit.respx_server`:
  a misbehaving provider, the providers' batch APIs, the Responses API's long-running calls,
  and respx routes answered over a real socket; the loopback HTTP/1.1 servers among them share
  one core (`testkit.http_server`), and `testkit.servers` runs any of them on a thread or in
  its own process.
- `testkit.redis_server`, `testkit.celery_workers`, `testkit.synthetic_run`: a private Redis,
  Celery worker processes for distributed runs, and seeded runs for analysis and reports.

They live here, not under `tests/`, because the benchmarks must not import test modules.
Nothing here writes to stdout: stdout is the product's API, and a test reads it.
"""
