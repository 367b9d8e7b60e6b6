"""An httpx2 transport that sends on an aiohttp ClientSession: the SDKs' HTTP stack for the warm modes.

Every SDK we use speaks httpx2 (`httpx2.AsyncClient`): its request building, redirects,
cookies, decoding and the SDKs' own error mapping all stay as they are. Only the layer
under the client changes: httpx2's default transport (httpcore's pure-Python connection
pool and h11 parser) costs about 0.5 ms of CPU per request, aiohttp's (a C HTTP parser and
a leaner pool) a fraction of that (README, "Serve mode against its floors"). Serve mode,
batch runs and the distributed worker make thousands of requests from one process, so
they use this transport (`ProviderPool.warm`); a one-shot job makes one request and never
imports aiohttp (its import costs more than it would save).

What the SDKs and our classifier see is what httpx2's own transport gives them:
- the request's timeout extension is honoured per request: `connect` is aiohttp's
  `sock_connect` (the TCP and TLS connect), `read` its `sock_read` (the longest wait
  between two reads), `pool` its `connect` (the wait for a pooled connection, and making a
  new one, together: aiohttp has one limit for both). aiohttp has no write timeout; a
  request body is written within the other limits. Timeouts are exact (aiohttp rounds
  those of 5 s and more up to a whole second unless told otherwise);
- aiohttp's exceptions become the httpx2 ones (`_httpx2_error`): a refused or unresolved
  connection is `ConnectError`, a connect or pool wait past its limit `ConnectTimeout`, a
  read past its limit `ReadTimeout`, a connection lost or closed before the body's
  declared end `RemoteProtocolError` (or `ReadError` for an OS-level reset), a response
  that is not HTTP `RemoteProtocolError`; each carries the request, as httpx2's do;
- redirects are httpx2's (aiohttp never follows one), cookies are httpx2's (aiohttp keeps
  none), and content decoding is httpx2's (aiohttp hands over the bytes as sent);
- the body is streamed: the SDK reads it as it reads any httpx2 response, and a response
  closed before its end (a cancelled job) closes its connection instead of reusing it;
- a cancelled request is cancelled in aiohttp too (nothing is left running).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping

import aiohttp
import httpx2

# httpx2 (h11) accepts header lines up to 100 KiB; aiohttp's default (8 KiB) would refuse a
# response that httpx2 reads (a gateway with many cookies or a long trace header).
_MAX_HEADER_BYTES = 100 * 1024
# aiohttp rounds a timeout at least this long up to a whole second of the loop clock; so large
# a threshold keeps every timeout as the SDK asked for it.
_NO_CEILING_S = 1e9
_HTTP_11 = {"http_version": b"HTTP/1.1"}
# httpx2.AsyncClient's own pool limits, for the SDKs that build a plain client (Mistral, Google).
HTTPX2_DEFAULT_LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


def _httpx2_error(exc: BaseException, request: httpx2.Request, *, reading_body: bool) -> httpx2.TransportError | None:
    """The httpx2 exception httpx2's own transport raises for the failure aiohttp reported.

    None for what is not a transport failure (ours to re-raise unchanged). `reading_body`:
    the response head had arrived, so a lost connection lost part of the body.
    """
    message = str(exc) or type(exc).__name__
    error: httpx2.TransportError
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        error = httpx2.ConnectTimeout(message, request=request)
    elif isinstance(exc, aiohttp.ServerTimeoutError):  # SocketTimeoutError: sock_read ran out
        error = httpx2.ReadTimeout(message, request=request)
    elif isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake, proxy
        error = httpx2.ConnectError(message, request=request)
    elif isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        # the body ended before its declared end, or the connection closed, or what came back is not HTTP
        error = httpx2.RemoteProtocolError(message, request=request)
    elif isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        error = httpx2.UnsupportedProtocol(message, request=request)
    elif isinstance(exc, TimeoutError):  # a bare one: which limit ran out depends on the phase
        error = (
            httpx2.ReadTimeout(message, request=request)
            if reading_body
            else httpx2.ConnectTimeout(message, request=request)
        )
    elif isinstance(exc, aiohttp.ClientConnectionError | OSError):  # a reset, a closed socket
        error = (
            httpx2.ReadError(message, request=request)
            if reading_body
            else httpx2.ConnectError(message, request=request)
        )
    else:
        return None
    return error


class _ResponseBody(httpx2.AsyncByteStream):
    """An aiohttp response's body as httpx2 reads one: chunks as they arrive, then release."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx2.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while chunk := await content.readany():
                yield chunk
        except (aiohttp.ClientError, OSError) as exc:  # OSError includes TimeoutError
            error = _httpx2_error(exc, self._request, reading_body=True)
            if error is None:
                raise
            raise error from exc

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # read to its end: the connection goes back to the pool
        else:
            self._response.close()  # abandoned mid-body: the connection cannot be reused


class AiohttpTransport(httpx2.AsyncBaseTransport):
    """httpx2's `AsyncBaseTransport` on one aiohttp ClientSession (made on the first request,
    in the running loop, as aiohttp requires), closed with the client."""

    def __init__(self, *, limits: httpx2.Limits = HTTPX2_DEFAULT_LIMITS, verify: ssl.SSLContext | None = None) -> None:
        self._limits = limits
        self._ssl = verify if verify is not None else httpx2.create_ssl_context()
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,  # 0: no limit, as httpx2's None
            limit_per_host=0,
            keepalive_timeout=self._limits.keepalive_expiry,
            ssl=self._ssl,
            timeout_ceil_threshold=_NO_CEILING_S,
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx2's client keeps the cookies
            auto_decompress=False,  # httpx2 decodes Content-Encoding itself
            timeout=aiohttp.ClientTimeout(ceil_threshold=_NO_CEILING_S),
            max_line_size=_MAX_HEADER_BYTES,
            max_field_size=_MAX_HEADER_BYTES,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),  # the request says what it sends
            trust_env=False,  # proxies from the environment are httpx2's (it mounts its own transport)
        )

    @staticmethod
    def _timeout(timeouts: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
            ceil_threshold=_NO_CEILING_S,
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        session = self._session
        if session is None:
            session = self._session = self._open_session()
        timeouts: Mapping[str, float | None] = request.extensions.get("timeout", {})
        body: bytes | httpx2.AsyncByteStream | None
        try:
            body = request.content or None
        except httpx2.RequestNotRead:
            if "content-length" not in request.headers and "transfer-encoding" not in request.headers:
                body = None  # no body (a GET that followed a 307): httpx2's transport sends none either
            elif isinstance(request.stream, httpx2.ByteStream):
                body = await request.aread() or None  # bytes in memory (a POST that followed a 307)
            else:  # a streamed upload: aiohttp frames it itself
                body = request.stream  # type: ignore[assignment]
                request.headers.pop("transfer-encoding", None)
        try:
            response = await session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body,
                allow_redirects=False,
                compress=None,
                timeout=self._timeout(timeouts),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        except (aiohttp.ClientError, OSError) as exc:  # OSError includes TimeoutError
            error = _httpx2_error(exc, request, reading_body=False)
            if error is None:
                raise
            raise error from exc
        extensions = dict(_HTTP_11)
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx2.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseBody(response, request),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
