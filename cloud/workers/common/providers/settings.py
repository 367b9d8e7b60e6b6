"""Where each provider's key and base URL come from: environment variables only.

The variable names are in the provider records; this module is the one place that reads
them. Kept free of SDK imports so health checks and routing can use it for free.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from common.errors.codes import ErrorCode, WorkerError
from common.providers.records import ProviderRecord


@dataclass(frozen=True)
class ProviderSettings:
    provider: str
    api_key: str | None
    base_url: str | None

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback
        return f"ProviderSettings(provider={self.provider!r}, base_url={self.base_url!r}, api_key=***)"


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


def is_configured(record: ProviderRecord) -> bool:
    """A key is set, or (for a server that needs no key) its base URL is."""
    if record.key_vars and api_key_for(record) is not None:
        return True
    return record.base_url_required and _env(record.base_url_var) is not None


def settings_for(record: ProviderRecord) -> ProviderSettings:
    """Reads the provider's settings, failing with MISSING_API_KEY if a required key is unset."""
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
    return ProviderSettings(provider=record.name, api_key=key, base_url=base_url)
