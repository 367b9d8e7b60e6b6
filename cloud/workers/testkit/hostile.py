"""A hostile provider: a local HTTP server that misbehaves the way networks, proxies and broken gateways do.

`testkit.fake_provider` answers like the providers' documentation; this one answers like
the failures a campaign against the workers found. It writes raw bytes on the
loopback server core (`testkit.http_server`: it reads the request, the rest is this
server's own writes), so it can break HTTP itself: a Content-Length that
promises more than is sent, a reset in the middle of a body, a body trickled a byte at a
time. One server serves every provider and behaviour at once: the first path segment
chooses the behaviour (point a provider's base-URL variable at `base_url(behaviour, "/v1")`),
or else a `hostile:<behaviour>` marker anywhere in the request body (the prompt), so one
serve-mode worker can meet every behaviour through one base URL (`base_url(None, ...)`).

Behaviours (`BEHAVIOURS`):
- `html_500`: a gateway's HTML error page with status 500;
- `html_200`: a captive portal's HTML page with status 200;
- `cut_mid_json`: a 200 completion cut off mid-JSON, its Content-Length saying that is all;
- `blank_lines`: a 200 whose body is only keep-alive blank lines;
- `reset_mid_body`: half the promised body, then a TCP reset;
- `trickle`: a completion trickled one byte every `TRICKLE_S`, never finishing in time;
- `redirect_loop`: a 307 back to the same URL, for ever;
- `huge_502`: a 502 whose HTML page is `HUGE_BYTES` long;
- `text_plain`: a valid completion in the provider's own shape, served as `text/plain`.

In a test: `with HostileProvider().running() as hostile: ... hostile.base_url("trickle", "/v1") ...`.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
import threading
import time
from typing import Any

from testkit.http_server import HttpRequest, LoopbackHttpServer

WAIT_S = 30.0
TRICKLE_S = 0.25  # one byte this often: every read is quick, the whole body never is
HUGE_BYTES = 8 * 1024 * 1024
BEHAVIOURS = (
    "html_500",
    "html_200",
    "cut_mid_json",
    "blank_lines",
    "reset_mid_body",
    "trickle",
    "redirect_loop",
    "huge_502",
    "text_plain",
)

_MARKER = re.compile(rb"hostile:([a-z0-9_]+)")
_PAGE = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"


def completion(api: str, model: str, text: str = "A hostile server's honest answer.") -> dict[str, Any]:
    """A minimal success body in the API's documented shape (what its SDK parses)."""
    usage = {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}
    if api == "anthropic":
        return {
            "id": "msg_hostile0001",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": text}],
            "model": model,
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 8},
        }
    if api == "gemini":
        return {
            "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 8, "totalTokenCount": 20},
            "modelVersion": model,
            "responseId": "hostile0001",
        }
    message: dict[str, Any] = {"role": "assistant", "content": text}
    return {
        "id": "chatcmpl-hostile0001",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": usage,
    }


def _api(path: str, headers: dict[str, str]) -> str:
    if ":generateContent" in path:
        return "gemini"
    if path.rstrip("/").endswith("/messages"):
        return "anthropic"
    return "mistral" if "mistral" in headers.get("user-agent", "").lower() else "openai"


def _model(path: str, body: Any) -> str:
    if ":generateContent" in path:
        return path.rsplit("/", 1)[-1].split(":", 1)[0]
    return str(body.get("model", "model")) if isinstance(body, dict) else "model"


def _head(status: int, reason: str, content_type: str | None, length: int | None, **extra: str) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    if content_type is not None:
        lines.append(f"content-type: {content_type}")
    if length is not None:
        lines.append(f"content-length: {length}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Closes with a TCP RST instead of a FIN (SO_LINGER 0), as a crashed proxy does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class HostileProvider(LoopbackHttpServer):
    """One hostile server on 127.0.0.1 (a free port); counts the requests each behaviour got."""

    thread_name = "hostile-provider"

    def __init__(self) -> None:
        super().__init__()
        self.requests: dict[str, int] = {}
        self._lock = threading.Lock()

    def base_url(self, behaviour: str | None, suffix: str = "") -> str:
        """The base URL that gets `behaviour` (None: the prompt's marker decides); `suffix` e.g. `/v1`."""
        if behaviour is None:
            return f"{self.url}/by-prompt{suffix}"
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"no such behaviour: {behaviour}")
        return f"{self.url}/{behaviour}{suffix}"

    def count(self, behaviour: str) -> int:
        with self._lock:
            return self.requests.get(behaviour, 0)

    # -- behaviours: each writes one answer; True keeps the connection open -------------

    async def _answer(self, writer: asyncio.StreamWriter, behaviour: str, path: str, api: str, body: Any) -> bool:
        model = _model(path, body)
        document = json.dumps(completion(api, model)).encode()
        if behaviour == "html_500":
            writer.write(_head(500, "Internal Server Error", "text/html", len(_PAGE)) + _PAGE)
        elif behaviour == "html_200":
            page = b"<html><body><h1>Please sign in to the network</h1></body></html>"
            writer.write(_head(200, "OK", "text/html", len(page)) + page)
        elif behaviour == "cut_mid_json":
            cut = document[: len(document) // 2]
            writer.write(_head(200, "OK", "application/json", len(cut)) + cut)
        elif behaviour == "blank_lines":
            writer.write(_head(200, "OK", "application/json", 6) + b"\n\n\n\n\n\n")
        elif behaviour == "reset_mid_body":
            writer.write(_head(200, "OK", "application/json", len(document)) + document[: len(document) // 2])
            await writer.drain()
            _reset(writer)
            return False
        elif behaviour == "trickle":
            writer.write(_head(200, "OK", "application/json", len(document)))
            for byte in document:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(TRICKLE_S)
        elif behaviour == "redirect_loop":
            writer.write(_head(307, "Temporary Redirect", None, 0, location=f"{self.url}{path}"))
        elif behaviour == "huge_502":
            page = _PAGE[:-14] + b"<pre>" + b"x" * HUGE_BYTES + b"</pre></body></html>"
            writer.write(_head(502, "Bad Gateway", "text/html", len(page)) + page)
        elif behaviour == "text_plain":
            writer.write(_head(200, "OK", "text/plain; charset=utf-8", len(document)) + document)
        await writer.drain()
        return True

    # -- HTTP -------------------------------------------------------------------------

    async def answer(self, request: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        raw, path = request.body, request.target
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        behaviour = path.lstrip("/").split("/", 1)[0]
        marked = _MARKER.search(raw)
        if behaviour not in BEHAVIOURS and marked is not None:
            behaviour = marked.group(1).decode()
        with self._lock:
            self.requests[behaviour] = self.requests.get(behaviour, 0) + 1
        if behaviour not in BEHAVIOURS:
            writer.write(_head(404, "Not Found", "application/json", 2) + b"{}")
            await writer.drain()
            return True
        return await self._answer(writer, behaviour, path, _api(path, request.headers), body)
