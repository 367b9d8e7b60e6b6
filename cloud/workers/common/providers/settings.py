"""Where each provider's key and base URL come from: environment variables only.

The variable names are in the provider records; this module is the one place that reads
them. Kept free of SDK imports so health checks and routing can use it for free.

A base URL carrying credentials (`http://user:password@host/v1`) is refused for every
provider: the SDKs' HTTP client turns URL userinfo into `Authorization: Basic ...`, which
replaces the API key without a word, so a job would run with credentials nobody chose.
The error names the variable and shows the URL without its userinfo, never the password.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from common.errors.codes import ErrorCode, WorkerError
from common.providers.records import ProviderRecord

if TYPE_CHECKING:
    import ssl

    import httpx2

# What the SDK clients send on: httpx2's own transport, or ours on aiohttp
# (common.providers.aiohttp_transport; the warm modes' pool chooses it, see ProviderPool.warm).
HttpTransport = Literal["httpx2", "aiohttp"]


@dataclass(frozen=True)
class ProviderSettings:
    provider: str
    api_key: str | None
    base_url: str | None
    http_transport: HttpTransport = "httpx2"

    def async_transport(
        self, *, limits: httpx2.Limits | None = None, verify: ssl.SSLContext | None = None
    ) -> httpx2.AsyncBaseTransport | None:
        """What the SDK's async client sends on: our aiohttp transport in the warm modes, None
        (httpx2's own) otherwise. Imported only when chosen, so a one-shot job never loads aiohttp."""
        if self.http_transport != "aiohttp":
            return None
        from common.providers.aiohttp_transport import AiohttpTransport

        return AiohttpTransport(verify=verify) if limits is None else AiohttpTransport(limits=limits, verify=verify)

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback
        return (
            f"ProviderSettings(provider={self.provider!r}, base_url={self.base_url!r}, api_key=***,"
            f" http_transport={self.http_transport!r})"
        )


def _env(name: str | None) -> str | None:
    value = os.environ.get(name, "").strip() if name else ""
    return value or None


def api_key_for(record: ProviderRecord) -> str | None:
    for var in record.key_vars:
        value = _env(var)
        if value:
            return value
    return None


def base_url_for(record: ProviderRecord) -> str | None:
    return _env(record.base_url_var) or record.default_base_url


def _without_userinfo(url: str) -> str | None:
    """`url` with its `user:password@` removed, or None when it has none."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL at all; the SDK says so when it is used
        return None
    if "@" not in parts.netloc:
        return None
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _refuse_userinfo(record: ProviderRecord, base_url: str) -> None:
    shown = _without_userinfo(base_url)
    if shown is None:
        return
    raise WorkerError(
        ErrorCode.VALIDATION_ERROR,
        f"{record.base_url_var} carries credentials (user:password@); the {record.name} SDK would send them in"
        f" a Basic authorization header in place of the API key. Remove them ({shown}) and set the key in"
        f" {' or '.join(record.key_vars) or 'the key variable'}",
        details={"provider": record.name, "envVars": [record.base_url_var]},
    )


def is_configured(record: ProviderRecord) -> bool:
    """A key is set, or (for a server that needs no key) its base URL is."""
    if record.key_vars and api_key_for(record) is not None:
        return True
    return record.base_url_required and _env(record.base_url_var) is not None


def settings_for(record: ProviderRecord) -> ProviderSettings:
    """Reads the provider's settings: MISSING_API_KEY if a required key is unset, VALIDATION_ERROR
    if a required base URL is unset or the base URL carries credentials."""
    key = api_key_for(record)
    if record.key_required and key is None:
        names = " or ".join(record.key_vars)
        raise WorkerError(
            ErrorCode.MISSING_API_KEY,
            f"{names} is not set; the {record.name} provider needs an API key",
            details={"provider": record.name, "envVars": list(record.key_vars)},
        )
    base_url = base_url_for(record)
    if record.base_url_required and not base_url:
        raise WorkerError(
            ErrorCode.VALIDATION_ERROR,
            f"{record.base_url_var} is not set; {record.name} models need the server's base URL"
            " (for example http://127.0.0.1:8000/v1)",
            details={"provider": record.name, "envVars": [record.base_url_var]},
        )
    if base_url:
        _refuse_userinfo(record, base_url)
    return ProviderSettings(provider=record.name, api_key=key, base_url=base_url)
