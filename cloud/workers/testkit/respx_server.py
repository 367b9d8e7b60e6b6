"""A local HTTP server that answers what a respx router says: respx tests on a transport respx cannot see.

respx answers a request inside httpx2's default transport, so a test written with it never
touches the socket layer. Our warm modes send on aiohttp (common.providers.aiohttp_transport),
under httpx2 but beside that transport. This server lets the same test, unchanged, run on
it: the adapter's base URL points here (`base_url_for(real_base_url)`), each request that
arrives is rebuilt with its real URL and handed to the router (so routes match, and count
calls, exactly as with respx), and the router's answer is written back as raw HTTP/1.1 over
the socket, where aiohttp has to parse it. A `Location` pointing at the real origin is
rewritten to point here, so a redirect loop loops here and not on the internet.

A route whose side effect is an exception cannot be sent as HTTP. It is played as what a
network would do: an `httpx.TimeoutException` holds the connection open, unanswered, until
the client gives up; any other transport error (a `ConnectError`) closes the connection
before any answer.

In a test: `with RespxServer().running() as server: server.router = respx_mock; ...`.
"""

from __future__ import annotations

import asyncio
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from testkit.http_server import HttpRequest, LoopbackHttpServer, response_head


class Router(Protocol):
    """What the server asks of a respx `MockRouter`."""

    def handler(self, request: httpx.Request) -> httpx.Response: ...


class RespxServer(LoopbackHttpServer):
    thread_name = "respx server"

    def __init__(self) -> None:
        super().__init__()
        self.router: Router | None = None  # the test's respx_mock
        self._origins: dict[str, str] = {}  # first path segment here -> the real origin

    def base_url_for(self, real_base_url: str) -> str:
        """Where to point an adapter that would send to `real_base_url`."""
        parts = urlsplit(real_base_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        alias = next((a for a, o in self._origins.items() if o == origin), None)
        if alias is None:
            alias = f"o{len(self._origins)}"
            self._origins[alias] = origin
        return f"{self.url}/{alias}{parts.path}".rstrip("/")

    def _real_url(self, target: str) -> tuple[str, str, str]:
        """(the real URL of a request's target here, its real origin, the local prefix it came under)."""
        alias, _, rest = target.lstrip("/").partition("/")
        origin = self._origins[alias]
        return f"{origin}/{rest}", origin, f"{self.url}/{alias}"

    async def answer(self, request: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        real_url, origin, local_prefix = self._real_url(request.target)
        real_host = urlsplit(real_url).netloc
        sent = [(n, real_host if n.lower() == "host" else v) for n, v in request.header_items]
        rebuilt = httpx.Request(request.method, real_url, headers=sent, content=request.body)
        if self.router is None:
            raise RuntimeError("RespxServer.router is not set: the test must hand it its respx_mock")
        try:
            response = self.router.handler(rebuilt)
        except httpx.TimeoutException:
            await reader.read()  # unanswered until the client gives up and closes
            return False
        except httpx.TransportError:
            return False  # closed before any answer
        content = response.read()
        out: list[tuple[str, str]] = []
        for name, value in response.headers.multi_items():
            if name.lower() in ("content-length", "transfer-encoding", "connection"):
                continue
            if name.lower() == "location" and value.startswith(origin):
                value = local_prefix + value[len(origin) :]
            out.append((name, value))
        out.append(("content-length", str(len(content))))
        writer.write(response_head(response.status_code, response.reason_phrase or "Status", out) + content)
        await writer.drain()
        return True
