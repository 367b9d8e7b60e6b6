"""A way for a runner to hear of each finished turn while the conversation goes on.

The distributed worker checkpoints every paid-for turn as soon as it exists, so a worker
killed mid-conversation costs only the turn in flight: the job's next run resumes from
the checkpoint through `priorTurns`. The hook is a context variable, not a parameter, so
the run path (`runs/run_path.py`) stays the same for every mode; when no hook is set
(one-shot, serve, batch) a turn costs one `ContextVar.get`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from common.contract.probe import Turn

TurnHook = Callable[[list[Turn], int], Awaitable[None]]  # (turns so far, turns planned)

TURN_DONE: ContextVar[TurnHook | None] = ContextVar("probe_turn_done", default=None)


async def turn_finished(turns: list[Turn], planned: int) -> None:
    """Tells the runner's hook (if any) the turns so far; a hook handles its own errors (a
    checkpoint that cannot be written must not fail a conversation that is going well)."""
    hook = TURN_DONE.get()
    if hook is not None:
        await hook(list(turns), planned)
