"""Imports a provider adapter (and so its SDK) without the SDK importing aiohttp for nothing.

aiohttp is installed for the warm modes' transport (common.providers.aiohttp_transport).
Three of our SDKs import it at their own import whenever it is installed, only to offer it
as an optional transport we never use: openai and anthropic (their `DefaultAioHttpClient`)
and google-genai (which would even send on it by itself unless given httpx2 clients; the
Google adapter gives it ours). That import is 0.1-0.2 s of CPU in a one-shot job, which
makes one request on httpx2 and has no use for aiohttp at all.

So while an adapter is imported and aiohttp is not loaded yet, `aiohttp` is None in
`sys.modules`: `import aiohttp` fails as if it were not installed, each SDK takes the
branch it has for that (the feature missing), and aiohttp is left unloaded. A process
that uses aiohttp (a warm worker) loads it first (`ProviderPool.warm`), and then nothing is
hidden: the SDKs see it as they would anywhere. Adapter imports run on threads
(common.providers.registry), so hiding and restoring are counted under a lock.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType

_LOCK = threading.Lock()
_hiding = 0  # adapter imports under way with aiohttp hidden


def _hide() -> bool:
    """Hides aiohttp unless it is loaded for real; whether this import hid it."""
    global _hiding
    with _LOCK:
        if _hiding == 0 and sys.modules.get("aiohttp") is not None:
            return False
        _hiding += 1
        sys.modules["aiohttp"] = None  # type: ignore[assignment]
        return True


def _unhide() -> None:
    global _hiding
    with _LOCK:
        _hiding -= 1
        if _hiding == 0 and "aiohttp" in sys.modules and sys.modules["aiohttp"] is None:
            del sys.modules["aiohttp"]


def import_adapter(module_name: str) -> ModuleType:
    """`importlib.import_module(module_name)`, its SDK not seeing an aiohttp nobody loaded."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    hid = _hide()
    try:
        return importlib.import_module(module_name)
    finally:
        if hid:
            _unhide()
