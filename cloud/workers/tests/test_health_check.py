"""health_check.py: environment facts without SDK cost, and live checks through the adapters."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from common.health.check import PACKAGES, python_satisfies
from common.providers.pool import ProviderPool
from testkit.fake_provider import FakeProvider
from testkit.workers import HEALTH_CHECK_PY, run_python, run_script

GOOD_KEY = "sk-test-health-good-key-000000"


@pytest.fixture(scope="module")
def models_server() -> Iterator[str]:
    """OpenAI's model list for GOOD_KEY, its documented 401 `invalid_api_key` for any other key."""
    with FakeProvider(models=("gpt-4o", "o3-mini"), api_keys=[GOOD_KEY]).running() as fake:
        yield f"{fake.url}/v1"


def unused_port() -> int:
    """A port nothing listens on (bound, read and released: the OS does not hand it out again at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_health(stdin: bytes = b"", *args: str, **env: str) -> tuple[int, dict[str, Any], str]:
    done = run_script(HEALTH_CHECK_PY, stdin, *args, env=env, timeout_s=60)
    return done.code, done.document, done.err


def test_no_keys_is_healthy_with_a_warning() -> None:
    code, out, _ = run_health(b"")
    assert code == 0 and out["success"] is True
    health = out["health"]
    assert health["pythonVersion"] == ".".join(map(str, sys.version_info[:3]))
    assert health["apiKeys"] == {p: False for p in ("openai", "anthropic", "google", "xai", "deepseek", "mistral")}
    assert any("no provider API key" in w for w in health["warnings"])
    assert health["packages"]["pydantic"] and health["packageChecks"]["pydantic"]["checkedBy"] == "import"
    # no key, so the SDK was found by metadata and not imported
    assert health["packageChecks"]["anthropic"]["checkedBy"] == "metadata"
    assert health["providers"] == {}


def test_key_presence_is_reported_never_its_value() -> None:
    _code, out, stderr = run_health(b"{}", OPENAI_API_KEY=GOOD_KEY, MISTRAL_API_KEY="mistral-test-key-000000")
    assert out["health"]["apiKeys"]["openai"] is True and out["health"]["apiKeys"]["mistral"] is True
    assert out["health"]["packageChecks"]["openai"]["checkedBy"] == "import"
    assert GOOD_KEY not in json.dumps(out) and GOOD_KEY not in stderr


def test_without_live_no_provider_sdk_is_imported() -> None:
    script = (
        "import sys, io; sys.path.insert(0, 'cloud/workers'); import health_check;"
        "health_check.main([]);"
        "sdks = [m for m in ('openai', 'anthropic', 'google.genai', 'mistralai') if m in sys.modules];"
        "print(json.dumps(sdks), file=sys.stderr)"
    )
    done = run_python("-c", "import json;" + script, timeout_s=60)
    assert json.loads(done.err.splitlines()[-1]) == []


def test_live_check_reports_ok_with_latency(models_server: str) -> None:
    _code, out, _ = run_health(b'{"live": true}', OPENAI_API_KEY=GOOD_KEY, OPENAI_BASE_URL=models_server)
    result = out["health"]["providers"]["openai"]
    assert result["status"] == "ok" and result["modelCount"] == 2 and result["latencyMs"] >= 0
    assert result["baseUrl"] == models_server


def test_live_flag_bad_key_and_unreachable_are_told_apart(models_server: str) -> None:
    dead = f"http://127.0.0.1:{unused_port()}/v1"
    _code, out, _ = run_health(
        b"",
        "--live",
        OPENAI_API_KEY="sk-test-wrong-key-0000000000",
        OPENAI_BASE_URL=models_server,
        XAI_API_KEY="xai-test-key-0000000000",
        XAI_BASE_URL=dead,
    )
    providers = out["health"]["providers"]
    assert providers["openai"]["status"] == "auth_error" and providers["openai"]["errorCode"] == "AUTH_ERROR"
    assert providers["xai"]["status"] == "unreachable"
    assert out["success"] is True  # the deployment works; the warnings say which provider does not
    assert sum("openai: auth_error" in w for w in out["health"]["warnings"]) == 1


def test_invalid_job_is_a_validation_error() -> None:
    code, out, _ = run_health(b'{"live": "sometimes"}')
    assert code == 0 and out["error"]["code"] == "VALIDATION_ERROR" and "live" in out["error"]["message"]


@pytest.mark.parametrize(
    ("version", "requirement", "ok"),
    [((3, 11, 7), ">=3.11", True), ((3, 10, 14), ">=3.11", False), ((4, 0, 0), ">=3.11,<4", False)],
)
def test_python_version_against_requires_python(version: tuple[int, int, int], requirement: str, ok: bool) -> None:
    assert python_satisfies(version, requirement) is ok


def test_a_missing_required_package_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from common.contract.health import HealthJob
    from common.health import check as health

    broken = health.PackageCheck(health.Package("definitely_not_installed_pkg", "definitely-not-installed-pkg"))
    monkeypatch.setattr(health, "PACKAGES", (*PACKAGES, broken))
    result = asyncio.run(health.check_health(HealthJob(), ProviderPool()))
    data = result.to_wire()
    assert data["success"] is False and data["error"]["code"] == "ENVIRONMENT_ERROR"
    assert "definitely-not-installed-pkg" in data["error"]["message"]
    assert data["health"]["packages"]["definitely-not-installed-pkg"] is None
