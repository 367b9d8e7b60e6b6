"""The loopback HTTP/1.1 server core every fake in testkit is built on (127.0.0.1 only).

Each fake (the fake provider, the hostile provider, the fake batch APIs, the respx server)
differs only in how it answers a request. What they share lives here once: listening on a
free port, keeping track of the connection tasks so `close()` can end keep-alive
connections and held requests, reading one request at a time off a keep-alive connection
(its head up to the blank line, the Content-Length body), and running on a thread of its
own (`running()`). A subclass implements `answer(request, reader, writer)`: it writes its
answer however it likes (raw bytes, for the hostile server's broken HTTP) and says whether
the connection stays open for the next request.

A connection ends quietly when the client goes away (EOF, reset, a head too long to read)
or the server closes; any other exception from `answer` propagates (asyncio reports it) and
closes that connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Self

from testkit.servers import serving_on_thread

# What ends a connection without complaint: the client went away or sent a head we cannot read.
_CLIENT_GONE = (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError)


@dataclass(frozen=True)
class HttpRequest:
    """One request as read off the socket."""

    method: str
    target: str  # the request target as sent: path and query
    header_items: list[tuple[str, str]]  # (name as sent, value), in order, repeats kept
    body: bytes
    connection: int  # which connection (1, 2, ... in the order they were accepted)

    @property
    def headers(self) -> dict[str, str]:
        """Header names lower-cased; a repeated header's last value."""
        return {name.lower(): value for name, value in self.header_items}


async def read_request(reader: asyncio.StreamReader, connection: int) -> HttpRequest | None:
    """The next request on a connection; None when the client closed it before another one."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except _CLIENT_GONE:
        return None
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    items = [(name.strip(), value.strip()) for name, sep, value in (line.partition(":") for line in lines) if sep]
    length = next((value for name, value in reversed(items) if name.lower() == "content-length"), "0")
    body = await reader.readexactly(int(length or 0))
    return HttpRequest(method, target, items, body, connection)


def response_head(status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    """A response's status line and headers, up to and with the blank line."""
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class LoopbackHttpServer:
    """A keep-alive HTTP/1.1 server on 127.0.0.1; subclasses supply `answer`."""

    thread_name = "loopback-http"  # the serving thread's name, and the server's in errors

    def __init__(self) -> None:
        self.port = 0
        self.connections = 0  # connections accepted so far
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def answer(self, request: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Writes the answer to `request`; False closes the connection after it."""
        raise NotImplementedError

    async def start(self, port: int = 0) -> int:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):  # keep-alive connections the clients still hold open, held requests
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Runs `callback` on the server's event loop (from any thread); a no-op once it stopped."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(callback)

    @contextlib.contextmanager
    def running(self) -> Iterator[Self]:
        """Serves on its own thread and event loop for the duration of the block."""
        with serving_on_thread(self.start, self.close, self.thread_name):
            yield self

    def _accepted(self) -> int:
        """Counts a new connection; its number. (A subclass may record more.)"""
        self.connections += 1
        return self.connections

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self._accepted()
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while (request := await read_request(reader, number)) is not None:
                if not await self.answer(request, reader, writer):
                    return
        except (*_CLIENT_GONE, asyncio.CancelledError):
            return
        finally:
            if task is not None:
                self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()
