"""Test tools shared by the tests (`cloud/workers/tests`) and the benchmarks (`bench/`).

- `testkit.workers`: run a worker script as a host does (`run_script`, `run_python`) or
  keep one running and talk to it line by line (`WorkerProcess`, `serve_process`), always
  with a clean environment (`worker_env`: no real key can reach a spawned worker).
- `testkit.fake_provider`: `FakeProvider`, one local HTTP server speaking the providers'
  documented APIs, with injected failures, latency and held requests, in a thread
  (`FakeProvider().running()`) or its own process (`fake_provider_process`).

Both live here, not under `tests/`, because the benchmarks must not import test modules.
Nothing here writes to stdout: stdout is the product's API, and a test reads it.
"""
