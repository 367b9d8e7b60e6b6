"""One turn's call as the runner makes it, and what the provider has received for it so far.

The runner makes one `TurnContext` per turn and hands it to the provider with every
attempt (`ModelRequest.context`). A provider whose answers arrive over time (a streamed
Anthropic message, a Responses API background response) writes into it as they do: the
response id, its last status, the text received, the reasoning (thinking) received. If the
turn then fails or is cancelled, the runner puts that in the failure document
(`error.details.incompleteTurn`), so no paid-for token is thrown away, and a response that
may still be running can be re-attached to by a resumed job (`resumeResponseId`).

It also carries what the runner knows and a provider may need across attempts: the clock
(polling waits go through it, so tests use a fake one), the response to re-attach to, and
what to do with a background response when the job stops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from common.errors.codes import WorkerError
from common.errors.retry import Clock, SystemClock

OnStop = Literal["cancel", "detach"]


@dataclass
class TurnContext:
    clock: Clock = field(default_factory=SystemClock)
    resume_response_id: str | None = None  # re-attach to this response instead of asking again
    on_stop: OnStop = "cancel"  # a background response when the job stops before it is done
    # Written by the provider as the answer arrives (the current attempt).
    transport: str | None = None  # "responses_background", "messages_stream"
    response_id: str | None = None
    status: str | None = None  # the provider's last word on it: in_progress, cancelled, ...
    model_version: str | None = None
    resumable: bool = False  # the response may still be running: a resumed job can re-attach
    reattached: bool = False  # the answer came from `resume_response_id`
    stopped: WorkerError | None = None  # the job stopped it; another attempt must not start anew
    warnings: list[str] = field(default_factory=list)  # what the provider could not do as asked
    _parts: list[str] = field(default_factory=list)
    _thinking: dict[int, list[str]] = field(default_factory=dict)  # thinking text by content block
    _redacted_blocks: int = 0
    _earlier: list[dict[str, Any]] = field(default_factory=list)

    def begin(self, transport: str) -> None:
        """A new attempt starts streaming: text an earlier attempt received is kept apart."""
        if self._received_anything():
            self._earlier.append(self._attempt_details())
        self._parts = []
        self._thinking = {}
        self._redacted_blocks = 0
        self.transport = transport
        self.response_id = self.status = self.model_version = None
        self.resumable = False

    def received(self, text: str) -> None:
        """A piece of answer text, as it arrives."""
        if text:
            self._parts.append(text)

    def received_thinking(self, block: int, text: str) -> None:
        """A piece of reasoning (thinking) text of content block `block`, as it arrives."""
        if text:
            self._thinking.setdefault(block, []).append(text)

    def received_redacted_block(self) -> None:
        """A redacted (encrypted) reasoning block: counted, never decoded."""
        self._redacted_blocks += 1

    @property
    def partial_text(self) -> str:
        return "".join(self._parts)

    @property
    def partial_reasoning(self) -> dict[str, Any] | None:
        """The reasoning received so far, shaped like a turn's `reasoning` (blocks joined as a
        finished message's are); None when none came."""
        thoughts = ["".join(parts) for _, parts in sorted(self._thinking.items())]
        if not thoughts and not self._redacted_blocks:
            return None
        return {"text": "\n\n".join(thoughts) or None, "redactedBlocks": self._redacted_blocks}

    def _received_anything(self) -> bool:
        return bool(self._parts or self.response_id or self._thinking or self._redacted_blocks)

    def _attempt_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {"partialResponse": self.partial_text}
        if (reasoning := self.partial_reasoning) is not None:
            details["partialReasoning"] = reasoning
        for key, value in (
            ("responseId", self.response_id),
            ("responseStatus", self.status),
            ("modelVersion", self.model_version),
            ("transport", self.transport),
        ):
            if value is not None:
                details[key] = value
        return details

    def failure_details(self) -> dict[str, Any] | None:
        """What the turn received before it failed, for `error.details.incompleteTurn`; None if nothing."""
        if not (self._received_anything() or self._earlier):
            return None
        details: dict[str, Any] = {"incomplete": True, **self._attempt_details()}
        if self.resumable and self.response_id:
            details["resumable"] = True
        if self._earlier:
            details["earlierAttempts"] = list(self._earlier)
        return details
