"""The providers of one runner: shared SDK clients where that is safe, closed at the end.

A runner (one-shot, serve, batch, the distributed worker) owns one pool. Jobs lease a
provider for their run; a shareable provider (its SDK client and connection pool) is
shared by every job with the same provider, base URL and key, and closed when the pool
closes. A provider that keeps per-job state (the mock counts requests per turn) is built
for each lease and closed when the lease ends, so a job's result never depends on the
jobs that ran before it in the same process.

The warm runners' pools (`ProviderPool.warm()`: serve, batch, the distributed worker) build
the SDK clients on our aiohttp transport (common.providers.aiohttp_transport), which costs
less CPU per request than httpx2's own; `PROBE_HTTP_TRANSPORT=httpx2`, or a proxy set in the
environment, keeps httpx2's. A one-shot job's pool keeps httpx2's transport: it makes one
request and never imports aiohttp.

A warm pool also freezes the heap (`gc.freeze()`) when the process builds its first shared
provider of an adapter class: the SDK just imported is most of a warm worker's objects,
alive to the end, and the cyclic garbage collector would otherwise walk all of them again
on every full collection (0.25 ms of CPU per job in GC at 64 in flight, 0.13 ms once
frozen). Objects frozen are never collected: what the jobs in flight held at that moment,
once per adapter class.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from common.io import environment

if TYPE_CHECKING:
    from common.providers.base import Provider
    from common.providers.settings import HttpTransport

_PoolKey = tuple[str, str | None, str | None]
# Adapter classes after whose first instance this process froze its heap (once each, whatever the pool).
_FROZEN_AFTER: set[type[Provider]] = set()


def warm_http_transport() -> HttpTransport:
    """The warm modes' transport: aiohttp, unless PROBE_HTTP_TRANSPORT=httpx2 asks for httpx2's own,
    the environment sets a proxy (HTTPS_PROXY, ALL_PROXY, ...: httpx2 honours those, with
    NO_PROXY, only on its own transports, so such a process keeps them), or aiohttp is not
    installed."""
    if environment.wants_httpx2_transport():
        return "httpx2"
    from urllib.request import getproxies  # what httpx2 reads the proxy variables with

    if any(key != "no" for key in getproxies()):
        return "httpx2"
    return "aiohttp" if importlib.util.find_spec("aiohttp") is not None else "httpx2"  # optional (health needs)


class ProviderPool:
    def __init__(self, http_transport: HttpTransport = "httpx2", *, freezes_heap: bool = False) -> None:
        self._shared: dict[_PoolKey, Provider] = {}
        self._closed = False
        self.http_transport: HttpTransport = http_transport
        self._freezes_heap = freezes_heap  # see the module docstring

    @classmethod
    def warm(cls) -> ProviderPool:
        """The pool of a runner that serves many jobs (see the module docstring).

        The transport (and aiohttp) is imported here, before any adapter: the SDKs then see
        aiohttp loaded and nothing hides it while they import (common.providers.adapter_import).
        """
        http_transport = warm_http_transport()
        if http_transport == "aiohttp":
            import common.providers.aiohttp_transport  # noqa: F401
        return cls(http_transport, freezes_heap=True)

    @asynccontextmanager
    async def lease(self, name: str) -> AsyncIterator[Provider]:
        """The provider for one job (raises MISSING_API_KEY and the like before the job starts)."""
        # Imported at the first lease: a job without providers (one-shot analysis) never
        # imports the records, the registry or asyncio (`Worker.synchronous`).
        from common.providers.registry import load_provider_class, record_for
        from common.providers.settings import settings_for

        record = record_for(name)
        settings = settings_for(record)
        if self.http_transport != settings.http_transport:
            settings = dataclasses.replace(settings, http_transport=self.http_transport)
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
                if self._freezes_heap and cls not in _FROZEN_AFTER:
                    _FROZEN_AFTER.add(cls)
                    gc.freeze()
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
