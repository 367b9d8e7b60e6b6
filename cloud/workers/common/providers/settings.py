"""Where each provider's key and base URL come from: environment variables only.

Kept free of provider SDK imports so that health checks and the registry can read it
without paying for any SDK.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from common.errors.codes import ErrorCode, WorkerError


@dataclass(frozen=True)
class ProviderEnv:
    key_vars: tuple[str, ...]  # first one set wins
    base_url_var: str
    default_base_url: str | None  # None: the SDK's own default
    key_required: bool = True


PROVIDER_ENV: dict[str, ProviderEnv] = {
    "openai": ProviderEnv(("OPENAI_API_KEY",), "OPENAI_BASE_URL", None),
    "anthropic": ProviderEnv(("ANTHROPIC_API_KEY",), "ANTHROPIC_BASE_URL", None),
    "google": ProviderEnv(("GEMINI_API_KEY", "GOOGLE_API_KEY"), "GEMINI_BASE_URL", None),
    "xai": ProviderEnv(("XAI_API_KEY",), "XAI_BASE_URL", "https://api.x.ai/v1"),
    "deepseek": ProviderEnv(("DEEPSEEK_API_KEY",), "DEEPSEEK_BASE_URL", "https://api.deepseek.com"),
    "mistral": ProviderEnv(("MISTRAL_API_KEY",), "MISTRAL_BASE_URL", None),
    "openai-compatible": ProviderEnv(
        ("OPENAI_COMPATIBLE_API_KEY",), "OPENAI_COMPATIBLE_BASE_URL", None, key_required=False
    ),
    "mock": ProviderEnv((), "", None, key_required=False),
}


@dataclass(frozen=True)
class ProviderSettings:
    provider: str
    api_key: str | None
    base_url: str | None

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback
        return f"ProviderSettings(provider={self.provider!r}, base_url={self.base_url!r}, api_key=***)"


def api_key_for(provider: str) -> str | None:
    for var in PROVIDER_ENV[provider].key_vars:
        value = os.environ.get(var, "").strip()
        if value:
            return value
    return None


def settings_for(provider: str) -> ProviderSettings:
    """Reads the provider's settings, failing with MISSING_API_KEY if a required key is unset."""
    env = PROVIDER_ENV[provider]
    key = api_key_for(provider)
    if env.key_required and key is None:
        names = " or ".join(env.key_vars)
        raise WorkerError(
            ErrorCode.MISSING_API_KEY,
            f"{names} is not set; the {provider} provider needs an API key",
            details={"provider": provider, "envVars": list(env.key_vars)},
        )
    base_url = (os.environ.get(env.base_url_var, "").strip() if env.base_url_var else "") or env.default_base_url
    if provider == "openai-compatible" and not base_url:
        raise WorkerError(
            ErrorCode.VALIDATION_ERROR,
            "OPENAI_COMPATIBLE_BASE_URL is not set; openai-compatible models need the server's base URL"
            " (for example http://127.0.0.1:8000/v1)",
            details={"provider": provider, "envVars": [env.base_url_var]},
        )
    return ProviderSettings(provider=provider, api_key=key, base_url=base_url)
