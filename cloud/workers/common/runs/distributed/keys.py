"""The Redis keys of one distributed run, and of the shared rate limits, named in one place."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

PREFIX = "probe"
RUN_TTL_S = 7 * 24 * 3600  # a run nobody collects any more is forgotten after a week


@dataclass(frozen=True)
class RunKeys:
    """A run's keys. Hashes are keyed by job id (as its JSON text, so 7 and "7" differ)."""

    run: str

    def _key(self, name: str) -> str:
        return f"{PREFIX}:run:{{{self.run}}}:{name}"  # one hash slot per run (Redis Cluster)

    @property
    def generations(self) -> str:
        """job -> the generation the driver last submitted (messages of other generations are stale)."""
        return self._key("gen")

    @property
    def done(self) -> str:
        """job -> the highest generation whose result was published (the done-set)."""
        return self._key("done")

    @property
    def collected(self) -> str:
        """job -> the highest generation whose result the driver wrote to its results file."""
        return self._key("collected")

    @property
    def checkpoints(self) -> str:
        """job -> the paid-for turns so far (JSON), written after every finished turn."""
        return self._key("ckpt")

    @property
    def results(self) -> str:
        """A list of published results waiting for the driver."""
        return self._key("results")

    @property
    def alive(self) -> str:
        """Set by the driver while the run has jobs out: gone mid-run means Redis lost the run's state."""
        return self._key("alive")

    def claim(self, job: str) -> str:
        """Held (with a TTL the worker keeps renewing) while a worker runs the job."""
        return self._key(f"claim:{job}")

    def all_fixed(self) -> list[str]:
        return [self.generations, self.done, self.collected, self.checkpoints, self.results, self.alive]


def limiter_key(provider: str, key_hash: str) -> str:
    return f"{PREFIX}:limit:{provider}:{key_hash}"


@functools.lru_cache(maxsize=64)  # asked once per job: the few keys of a process are hashed once
def hash_api_key(api_key: str | None) -> str:
    """A short, non-reversible name for a key: the shared limit is per key, the key never leaves."""
    if not api_key:
        return "nokey"
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]
