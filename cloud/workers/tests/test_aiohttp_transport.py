"""The warm modes' HTTP transport (common.providers.aiohttp_transport): the same requests, the same failures.

The SDKs keep httpx2 as their client; only what carries the bytes changes. So a provider
must receive exactly what it received before (every SDK, header for header, byte for
byte), the adapter must read the same answer, and each way a connection fails must reach
the SDKs as the httpx2 exception httpx2's own transport raises for it. The classification
cases (test_classify.py) and the hostile server (test_hostile_provider.py) also run on this
transport; these are the cases only a real socket can produce. Servers here are local
asyncio servers on 127.0.0.1; waits end on events or on the client's own short timeout.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest

from common.errors.codes import ErrorCode
from common.providers.aiohttp_transport import AiohttpTransport
from common.providers.base import Message, ModelRequest, ParamMapping, Provider
from common.providers.pool import ProviderPool
from common.providers.registry import provider_class
from common.providers.settings import HttpTransport, ProviderSettings
from testkit.fake_provider import FakeProvider, Received

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[object]]
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-local",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    }
).encode()


@asynccontextmanager
async def local_server(handler: Handler) -> AsyncIterator[str]:
    """A raw server on this test's loop; yields its base URL. Its connections end with the block."""
    handlers: set[asyncio.Task[None]] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away first
        finally:
            writer.close()

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    return await reader.readexactly(length)


def response_head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} Status", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def client(limits: httpx2.Limits | None = None) -> httpx2.AsyncClient:
    transport = AiohttpTransport(limits=limits) if limits is not None else AiohttpTransport()
    return httpx2.AsyncClient(transport=transport, follow_redirects=True)


# ------------------------------------------------------------ what a provider receives


# provider -> (model, key, the base URL's path after the fake server's address)
SDK_TARGETS = {
    "openai": ("gpt-4o-mini", "sk-test-transport-not-real-0000", "/v1"),
    "anthropic": ("claude-opus-4-5", "sk-ant-test-transport-not-real-0", ""),
    "google": ("gemini-2.5-flash", "test-transport-key-not-real-0000", ""),
    "mistral": ("mistral-small-latest", "test-transport-not-real-000000", ""),
}


async def one_completion(provider: str, http_transport: HttpTransport) -> tuple[Received, Any, str]:
    """One `complete` of the real adapter against a fresh fake: (what it received, the answer, its host)."""
    model, key, path = SDK_TARGETS[provider]
    max_tokens = "max_output_tokens" if provider == "google" else "max_tokens"
    request = ModelRequest(model, (Message("user", "Hello there"),), "Be brief.", ParamMapping(sent={max_tokens: 32}))
    with FakeProvider().running() as fake:
        settings = ProviderSettings(provider, key, f"{fake.url}{path}", http_transport=http_transport)
        adapter: Provider = provider_class(provider)(settings)
        try:
            answer = await adapter.complete(request, 30.0)
        finally:
            await adapter.aclose()
        (received,) = fake.received()
    return received, answer, fake.url.removeprefix("http://")


@pytest.mark.parametrize("provider", sorted(SDK_TARGETS))
async def test_every_sdk_sends_the_same_request_on_either_transport(provider: str) -> None:
    on_httpx2, answer_httpx2, host_httpx2 = await one_completion(provider, "httpx2")
    on_aiohttp, answer_aiohttp, host_aiohttp = await one_completion(provider, "aiohttp")
    assert (on_aiohttp.method, on_aiohttp.path, on_aiohttp.body) == (on_httpx2.method, on_httpx2.path, on_httpx2.body)
    # every header, nothing added or dropped by aiohttp (the two fakes differ only in their port)
    assert (on_httpx2.headers.pop("host"), on_aiohttp.headers.pop("host")) == (host_httpx2, host_aiohttp)
    assert on_aiohttp.headers == on_httpx2.headers
    assert answer_aiohttp == answer_httpx2


PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


async def test_the_warm_pool_sends_on_aiohttp_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-transport-not-real-0000")
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    for chosen, expected in (("", AiohttpTransport), ("httpx2", httpx2.AsyncHTTPTransport)):
        monkeypatch.setenv("PROBE_HTTP_TRANSPORT", chosen)
        pool = ProviderPool.warm()
        async with pool.lease("openai") as provider:
            assert isinstance(provider.client._client._transport, expected)  # type: ignore[attr-defined]
        await pool.aclose()
    one_shot = ProviderPool()
    async with one_shot.lease("openai") as provider:
        assert isinstance(provider.client._client._transport, httpx2.AsyncHTTPTransport)  # type: ignore[attr-defined]
    await one_shot.aclose()


async def test_a_proxy_in_the_environment_keeps_httpx2s_transport_which_honours_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """httpx2 mounts the environment's proxies only when it builds its own transport."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-transport-not-real-0000")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("PROBE_HTTP_TRANSPORT", raising=False)
    pool = ProviderPool.warm()
    async with pool.lease("openai") as provider:
        http = provider.client._client  # type: ignore[attr-defined]
        assert not isinstance(http._transport, AiohttpTransport)
        proxied = http._transport_for_url(httpx2.URL("https://api.openai.com/v1/chat/completions"))
        assert proxied is not http._transport  # the proxy's transport, as before aiohttp
    await pool.aclose()


# ------------------------------------------------------------ failures as httpx2 names them


async def test_a_refused_connection_is_a_connect_error_and_a_network_error_to_the_host() -> None:
    async with local_server(lambda reader, writer: read_request(reader)) as url:
        pass  # closed: nothing listens there any more
    async with client() as http:
        with pytest.raises(httpx2.ConnectError) as raised:
            await http.get(f"{url}/v1/models")
    assert raised.value.request.url == f"{url}/v1/models"
    settings = ProviderSettings("openai", "sk-test-transport-not-real-0000", f"{url}/v1", http_transport="aiohttp")
    adapter = provider_class("openai")(settings)
    request = ModelRequest("gpt-4o-mini", (Message("user", "Hi"),), None, ParamMapping(sent={}))
    try:
        with pytest.raises(Exception) as sdk_raised:
            await adapter.complete(request, 5.0)
    finally:
        await adapter.aclose()
    error = adapter.classify(sdk_raised.value)
    assert (error.code, error.retryable, error.details["kind"]) == (ErrorCode.NETWORK_ERROR, True, "connect")


async def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # until the client gives up

    async with local_server(silent) as url, client() as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.post(f"{url}/v1/chat/completions", json={}, timeout=httpx2.Timeout(5.0, read=0.2))


async def test_a_body_trickled_slower_than_the_read_timeout_is_a_read_timeout() -> None:
    async def stalls_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response_head(200, {"content-length": str(len(COMPLETION))}) + COMPLETION[:10])
        await writer.drain()
        await reader.read()

    async with local_server(stalls_mid_body) as url, client() as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.post(f"{url}/v1/chat/completions", json={}, timeout=httpx2.Timeout(5.0, read=0.2))


async def test_waiting_past_the_pool_timeout_for_a_connection_is_a_timeout() -> None:
    first_arrived = asyncio.Event()

    async def holds_the_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        first_arrived.set()
        await reader.read()

    async with local_server(holds_the_first) as url, client(httpx2.Limits(max_connections=1)) as http:
        first = asyncio.create_task(http.get(f"{url}/held", timeout=60.0))
        await first_arrived.wait()
        with pytest.raises(httpx2.TimeoutException):  # ConnectTimeout: aiohttp waits for pool and connect as one
            await http.get(f"{url}/second", timeout=httpx2.Timeout(5.0, pool=0.2))
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first


@pytest.mark.parametrize("close", ["fin", "reset"])
async def test_a_connection_lost_before_the_body_ends_is_a_transport_error(close: str) -> None:
    async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response_head(200, {"content-length": str(len(COMPLETION))}) + COMPLETION[:20])
        await writer.drain()
        if close == "reset":
            writer.transport.abort()
        else:
            writer.close()

    async with local_server(cut_short) as url, client() as http:
        with pytest.raises((httpx2.RemoteProtocolError, httpx2.ReadError)):
            await http.post(f"{url}/v1/chat/completions", json={})


async def test_an_answer_that_is_not_http_is_a_remote_protocol_error() -> None:
    async def babbles(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        writer.close()

    async with local_server(babbles) as url, client() as http:
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.get(f"{url}/v1/models")


# ------------------------------------------------------------ what httpx2 keeps doing itself


async def test_long_headers_gzip_redirects_and_keep_alive_behave_as_on_httpx2() -> None:
    connections = 0
    body = gzip.compress(COMPLETION)

    async def answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while not reader.at_eof():
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            if head.startswith(b"GET /old"):
                writer.write(response_head(307, {"location": "/new", "content-length": "0"}))
            else:
                headers = {"content-encoding": "gzip", "content-length": str(len(body)), "x-trace": "t" * 20_000}
                writer.write(response_head(200, headers) + body)
            await writer.drain()

    async with local_server(answers) as url, client() as http:
        response = await http.get(f"{url}/old")
        again = await http.get(f"{url}/new")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [307]  # httpx2 followed it, not aiohttp
    assert response.json()["id"] == "chatcmpl-local"  # httpx2 decoded the gzip body
    assert len(response.headers["x-trace"]) == 20_000  # past aiohttp's 8 KiB default, within httpx2's
    assert again.json() == response.json()
    assert connections == 1  # three requests, one kept-alive connection


async def test_a_streamed_body_arrives_as_it_is_sent() -> None:
    go_on = asyncio.Event()

    async def two_parts(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response_head(200, {"content-length": "10"}) + b"first")
        await writer.drain()
        await go_on.wait()
        writer.write(b"-last")
        await writer.drain()

    async with local_server(two_parts) as url, client() as http, http.stream("GET", f"{url}/stream") as response:
        parts = response.aiter_bytes()
        assert await anext(parts) == b"first"  # before the rest was even written
        go_on.set()
        assert b"".join([chunk async for chunk in parts]) == b"-last"


async def test_a_cancelled_request_closes_its_connection_and_the_next_one_works() -> None:
    arrived = asyncio.Event()
    closed = asyncio.Event()

    async def first_held(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if not arrived.is_set():
            arrived.set()
            await reader.read()  # returns when the client closes the connection
            closed.set()
            return
        writer.write(response_head(200, {"content-length": str(len(COMPLETION))}) + COMPLETION)
        await writer.drain()

    async with local_server(first_held) as url, client() as http:
        held = asyncio.create_task(http.post(f"{url}/v1/chat/completions", json={}))
        await arrived.wait()
        held.cancel()
        with pytest.raises(asyncio.CancelledError):
            await held
        await closed.wait()  # the server saw the connection go: nothing is left running
        answer = await http.post(f"{url}/v1/chat/completions", json={})
    assert answer.json()["id"] == "chatcmpl-local"
