"""The providers of one runner: shared SDK clients where that is safe, closed at the end.

A runner (one-shot, serve, batch, the distributed worker) owns one pool. Jobs lease a
provider for their run; a shareable provider (its SDK client and connection pool) is
shared by every job with the same provider, base URL and key, and closed when the pool
closes. A provider that keeps per-job state (the mock counts requests per turn) is built
for each lease and closed when the lease ends, so a job's result never depends on the
jobs that ran before it in the same process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from common.providers.registry import load_provider_class, record_for
from common.providers.settings import settings_for

if TYPE_CHECKING:
    from common.providers.base import Provider

_PoolKey = tuple[str, str | None, str | None]


class ProviderPool:
    def __init__(self) -> None:
        self._shared: dict[_PoolKey, Provider] = {}
        self._closed = False

    @asynccontextmanager
    async def lease(self, name: str) -> AsyncIterator[Provider]:
        """The provider for one job (raises MISSING_API_KEY and the like before the job starts)."""
        record = record_for(name)
        settings = settings_for(record)
        if not record.shareable or self._closed:
            provider = (await load_provider_class(name))(settings)
            try:
                yield provider
            finally:
                await provider.aclose()
            return
        key = (name, settings.base_url, settings.api_key)
        shared = self._shared.get(key)
        if shared is None:
            cls = await load_provider_class(name)
            shared = self._shared.get(key)  # another job may have made it while the adapter loaded
            if shared is None:
                shared = self._shared[key] = cls(settings)
        yield shared

    @property
    def shared_count(self) -> int:
        return len(self._shared)

    async def aclose(self) -> None:
        """Closes every shared client; leases after this get a private provider."""
        self._closed = True
        shared, self._shared = list(self._shared.values()), {}
        for provider in shared:
            await provider.aclose()
