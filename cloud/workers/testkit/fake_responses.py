"""A fake of OpenAI's Responses API background mode, for tests (respx) and the bench (the local fake server).

One `BackgroundResponses` holds the responses it created. `POST /v1/responses` with
`background: true` answers `queued` at once; every `GET /v1/responses/{id}` is a poll,
answered `in_progress` until the response is done, then `completed` with the answer;
`POST /v1/responses/{id}/cancel` makes it `cancelled`. When a response is done is the
test's choice: after a number of polls (`polls_to_finish`), after a number of seconds on a
clock (`seconds_to_finish`, the bench), or never (`None`: a test finishes it itself).
Bodies follow the documented shapes (tests/fixtures/openai/responses_sources.md).

`reply(method, path, body)` gives `(status, body)` for one request (a respx side effect
wraps it); `fake_provider_respond` serves it from testkit.fake_provider.FakeProvider.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from testkit.fake_provider import Received, Reply

NOT_FOUND: dict[str, Any] = {
    "error": {
        "message": "Response with id 'resp_unknown' not found.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
}


def _usage(prompt_chars: int, text: str) -> dict[str, Any]:
    input_tokens = max(1, prompt_chars // 4)
    reasoning = 64
    output = max(1, len(text) // 4) + reasoning
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output,
    }


@dataclass
class FakeResponse:
    id: str
    model: str
    body: dict[str, Any]
    created: float
    status: str = "queued"
    polls: int = 0


@dataclass
class BackgroundResponses:
    served_model: Callable[[str], str] = lambda model: f"{model}-2025-06-10"
    polls_to_finish: int | None = 3
    seconds_to_finish: float | None = None
    clock: Callable[[], float] = time.monotonic
    responses: dict[str, FakeResponse] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)  # bodies of POST /responses
    cancelled: list[str] = field(default_factory=list)  # ids of POST .../cancel
    polled: list[str] = field(default_factory=list)  # ids of every GET

    def answer_text(self, response: FakeResponse) -> str:
        last = (response.body.get("input") or [{}])[-1]
        return f"Background answer to: {str(last.get('content', ''))[:60]}"

    def finish(self, response_id: str) -> None:
        self.responses[response_id].status = "completed"

    def _done(self, response: FakeResponse) -> bool:
        if self.polls_to_finish is not None and response.polls >= self.polls_to_finish:
            return True
        return self.seconds_to_finish is not None and self.clock() - response.created >= self.seconds_to_finish

    def _document(self, response: FakeResponse) -> dict[str, Any]:
        body = response.body
        document: dict[str, Any] = {
            "id": response.id,
            "object": "response",
            "created_at": int(response.created),
            "status": response.status,
            "background": True,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": response.model,
            "output": [],
            "parallel_tool_calls": True,
            "store": True,
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": None,
            "metadata": {},
        }
        if response.status == "completed":
            text = self.answer_text(response)
            document["output"] = [
                {"type": "reasoning", "id": f"rs_{response.id[5:]}", "summary": []},
                {
                    "type": "message",
                    "id": f"msg_{response.id[5:]}",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                },
            ]
            document["usage"] = _usage(len(json.dumps(body.get("input", []))), text)
        return document

    def reply(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        parts = path.rstrip("/").split("/responses", 1)[-1].strip("/").split("/")
        if method == "POST" and parts == [""]:
            number = len(self.responses) + 1
            response_id = f"resp_fake{number:040d}"
            model = str(body.get("model", ""))
            response = FakeResponse(response_id, self.served_model(model), copy.deepcopy(body), self.clock())
            if not body.get("background"):
                response.status = "completed"
            self.responses[response_id] = response
            self.created.append(copy.deepcopy(body))
            return 200, self._document(response)
        found = self.responses.get(parts[0])
        if found is None:
            return 404, NOT_FOUND
        if method == "GET" and len(parts) == 1:
            self.polled.append(found.id)
            found.polls += 1
            if found.status in ("queued", "in_progress"):
                found.status = "completed" if self._done(found) else "in_progress"
            return 200, self._document(found)
        if method == "POST" and parts[1:] == ["cancel"]:
            self.cancelled.append(found.id)
            if found.status in ("queued", "in_progress"):
                found.status = "cancelled"
            return 200, self._document(found)
        return 404, NOT_FOUND

    def fake_provider_respond(self, request: Received) -> Reply | None:
        """For `FakeProvider(respond=...)`: answers the Responses API paths, leaves the rest to the fake."""
        if "/responses" not in request.path:
            return None
        status, document = self.reply(request.method, request.path, request.body)
        return status, {}, document
