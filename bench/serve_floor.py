"""The floors serve_bench.py measures our serve mode against: the same requests without our code.

    python3 bench/serve_floor.py CLIENT URL JOBS CONCURRENCY

One process, uvloop (as serve mode), JOBS one-turn chat requests to URL (the fake
provider's `/v1`), CONCURRENCY at once, each request's body what our OpenAI adapter sends
for the bench's job. CLIENT is one of:

- `sdk`: `openai.AsyncOpenAI(max_retries=0).post("/chat/completions", cast_to=ChatCompletion)`,
  the call our adapter makes (the SDK floor);
- `sdk-aiohttp`: the same with the SDK's own `DefaultAioHttpClient` (httpx2 over aiohttp);
- `sdk-ours`: the same with the client our adapter builds in the warm modes (the SDK's
  `DefaultAsyncHttpxClient` on `common.providers.aiohttp_transport.AiohttpTransport`), the
  floor of the stack serve mode now runs on;
- `httpx2`: a bare `httpx2.AsyncClient` posting the JSON and decoding the answer;
- `aiohttp`: a bare `aiohttp.ClientSession` doing the same (the Python floor).

After one warm request (imports done, connection made) it prints one JSON line on stdout:
CPU seconds (user + system), wall seconds and context switches of the run itself.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

WORKERS = Path(__file__).resolve().parent.parent / "cloud" / "workers"


def body(n: int) -> dict[str, Any]:
    prompt = f"Benchmark question {n}: should the committee approve the trial?"
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": prompt}],
        "max_completion_tokens": 256,
        "temperature": 0.0,
    }


KEY = "sk-bench-not-a-real-key-000000"


async def client_for(kind: str, url: str) -> tuple[Callable[[int], Awaitable[object]], Callable[[], Awaitable[None]]]:
    """(one request, close) for the chosen client."""
    if kind in ("sdk", "sdk-aiohttp", "sdk-ours"):
        import openai
        from openai.types.chat import ChatCompletion

        http_client: openai.DefaultAsyncHttpxClient | None = None
        if kind == "sdk-aiohttp":
            http_client = openai.DefaultAioHttpClient()
        elif kind == "sdk-ours":
            sys.path.insert(0, str(WORKERS))
            from common.providers.aiohttp_transport import AiohttpTransport

            http_client = openai.DefaultAsyncHttpxClient(
                transport=AiohttpTransport(limits=openai.DEFAULT_CONNECTION_LIMITS)
            )
        sdk = openai.AsyncOpenAI(api_key=KEY, base_url=url, max_retries=0, timeout=600.0, http_client=http_client)

        async def sdk_request(n: int) -> object:
            return await sdk.post("/chat/completions", body=body(n), cast_to=ChatCompletion, options={"timeout": 60.0})

        return sdk_request, sdk.close
    if kind == "httpx2":
        import httpx2

        raw = httpx2.AsyncClient(
            base_url=url,
            headers={"authorization": f"Bearer {KEY}"},
            timeout=60.0,
            limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=1000),
        )

        async def httpx2_request(n: int) -> object:
            response = await raw.post("/chat/completions", json=body(n))
            return response.json()

        return httpx2_request, raw.aclose
    if kind == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(headers={"authorization": f"Bearer {KEY}"})

        async def aiohttp_request(n: int) -> object:
            async with session.post(f"{url}/chat/completions", json=body(n)) as response:
                return await response.json()

        return aiohttp_request, session.close
    raise SystemExit(f"unknown client {kind!r}")


async def run(kind: str, url: str, jobs: int, concurrency: int) -> dict[str, float]:
    request, close = await client_for(kind, url)
    await request(-1)
    slots = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with slots:
            await request(n)

    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(jobs)))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    await close()
    return {
        "cpuS": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "wallS": wall,
        "voluntarySwitches": after.ru_nvcsw - before.ru_nvcsw,
        "involuntarySwitches": after.ru_nivcsw - before.ru_nivcsw,
    }


def main() -> None:
    kind, url, jobs, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    import uvloop

    figures = uvloop.run(run(kind, url, jobs, concurrency))
    sys.stdout.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    main()
