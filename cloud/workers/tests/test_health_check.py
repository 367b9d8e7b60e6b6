"""health_check.py: environment facts without SDK cost, readiness per worker, and the
live (provider calls) and deep (real imports) checks."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.health.check import python_satisfies
from common.health.needs import NEEDS, Need
from common.providers.pool import ProviderPool
from common.providers.records import Package
from testkit.fake_provider import FakeProvider
from testkit.workers import HEALTH_CHECK_PY, run_python, run_script

GOOD_KEY = "sk-test-health-good-key-000000"
ALL_SIX_KEYS = {
    "OPENAI_API_KEY": GOOD_KEY,
    "ANTHROPIC_API_KEY": "sk-ant-test-health-000000",
    "GEMINI_API_KEY": "gemini-test-health-000000",
    "XAI_API_KEY": "xai-test-health-000000",
    "DEEPSEEK_API_KEY": "sk-test-deepseek-health-000000",
    "MISTRAL_API_KEY": "mistral-test-health-000000",
}


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
    assert health["checkedBy"] == "metadata"
    assert {name: state["ready"] for name, state in health["workers"].items()} == {
        "probe": True,
        "analyze_basic": True,
        "batch": True,
        "serve": True,
    }
    (detail,) = health["warningDetails"]
    assert detail["code"] == "NO_API_KEY" and detail["recommendation"]
    assert health["warnings"] == [detail["message"]]  # the strings hosts read, one per detail


def test_key_presence_is_reported_never_its_value() -> None:
    _code, out, stderr = run_health(b"{}", OPENAI_API_KEY=GOOD_KEY, MISTRAL_API_KEY="mistral-test-key-000000")
    assert out["health"]["apiKeys"]["openai"] is True and out["health"]["apiKeys"]["mistral"] is True
    # needed for a configured provider, so it is required, yet still found by metadata only
    assert (
        out["health"]["packageChecks"]["openai"] | {"required": True, "checkedBy": "metadata"}
        == (out["health"]["packageChecks"]["openai"])
    )
    assert GOOD_KEY not in json.dumps(out) and GOOD_KEY not in stderr


def test_without_live_or_deep_no_sdk_and_no_analysis_package_is_imported_even_with_every_key() -> None:
    script = (
        "import sys, io; sys.path.insert(0, 'cloud/workers'); import health_check;"
        "health_check.main([]);"
        "heavy = ('openai', 'anthropic', 'google.genai', 'mistralai', 'numpy', 'scipy', 'tiktoken', 'uvloop');"
        "print(json.dumps([m for m in heavy if m in sys.modules]), file=sys.stderr)"
    )
    done = run_python("-c", "import json;" + script, env=ALL_SIX_KEYS, timeout_s=60)
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
    codes = [detail["code"] for detail in out["health"]["warningDetails"]]
    assert codes == ["PROVIDER_UNHEALTHY", "PROVIDER_UNHEALTHY"]


def test_invalid_job_is_a_validation_error() -> None:
    code, out, _ = run_health(b'{"live": "sometimes"}')
    assert code == 0 and out["error"]["code"] == "VALIDATION_ERROR" and "live" in out["error"]["message"]


@pytest.mark.parametrize(
    ("version", "requirement", "ok"),
    [((3, 11, 7), ">=3.11", True), ((3, 10, 14), ">=3.11", False), ((4, 0, 0), ">=3.11,<4", False)],
)
def test_python_version_against_requires_python(version: tuple[int, int, int], requirement: str, ok: bool) -> None:
    assert python_satisfies(version, requirement) is ok


@pytest.mark.parametrize(
    "requirement",
    [
        ">=3.11",
        ">=3.11,<4",
        "<3.12",
        "<=3.11",
        "==3.11",
        "!=3.11.7",
        ">3.11",
        ">3.11.7",
        "~=3.11",
        "==3.11.*",
        ">= 3.10 , < 3.13",
    ],
)
@pytest.mark.parametrize("version", [(3, 10, 14), (3, 11, 0), (3, 11, 7), (3, 12, 1), (4, 0, 0)])
def test_python_version_check_agrees_with_packaging(version: tuple[int, int, int], requirement: str) -> None:
    from packaging.specifiers import SpecifierSet

    expected = SpecifierSet(requirement).contains(".".join(map(str, version)), prereleases=True)
    assert python_satisfies(version, requirement) is expected


def check_with_extra_need(monkeypatch: pytest.MonkeyPatch, need: Need) -> dict[str, Any]:
    import asyncio

    from common.contract.health import HealthJob
    from common.health import check as health

    monkeypatch.setattr(health, "NEEDS", (*NEEDS, need))
    return asyncio.run(health.check_health(HealthJob(), ProviderPool())).to_wire()


NOT_INSTALLED = Package("definitely_not_installed_pkg", "definitely-not-installed-pkg")


def test_a_package_probes_need_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    data = check_with_extra_need(
        monkeypatch, Need(NOT_INSTALLED, NOT_INSTALLED.module, required_by=frozenset({"probe"}))
    )
    assert data["success"] is False and data["error"]["code"] == "ENVIRONMENT_ERROR"
    assert "definitely-not-installed-pkg" in data["error"]["message"]
    assert data["health"]["packages"]["definitely-not-installed-pkg"] is None
    assert data["health"]["workers"]["probe"]["missing"] == ["definitely-not-installed-pkg"]


def test_a_package_only_analysis_needs_is_a_warning_not_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    need = Need(NOT_INSTALLED, NOT_INSTALLED.module, required_by=frozenset({"analyze_basic"}))
    data = check_with_extra_need(monkeypatch, need)
    assert data["success"] is True  # probes still run
    workers = data["health"]["workers"]
    assert workers["probe"]["ready"] is True and workers["serve"]["ready"] is True
    assert workers["analyze_basic"]["ready"] is False
    assert workers["analyze_basic"]["missing"] == ["definitely-not-installed-pkg"]
    assert data["health"]["packageChecks"]["definitely-not-installed-pkg"]["required"] is False
    (detail,) = [d for d in data["health"]["warningDetails"] if d["code"] == "WORKER_NOT_READY"]
    assert detail["message"].startswith("analyze_basic cannot run") and detail["message"] in data["health"]["warnings"]


def shadow_packages(root: Path, **modules: str) -> dict[str, str]:
    """Packages named `modules` whose `__init__` runs the given code, first on PYTHONPATH."""
    for name, code in modules.items():
        (root / name).mkdir()
        (root / name / "__init__.py").write_text(code)
    return {"PYTHONPATH": str(root)}


def test_deep_check_finds_a_broken_msgspec_and_probes_still_run(tmp_path: Path) -> None:
    env = shadow_packages(tmp_path, msgspec="raise ImportError('msgspec build is broken')\n")
    _code, plain, _ = run_health(b"{}", **env, OPENAI_API_KEY=GOOD_KEY)
    # installed files are there, so the metadata check cannot tell
    assert plain["health"]["workers"]["analyze_basic"]["ready"] is True
    assert plain["health"]["packageChecks"]["msgspec"]["checkedBy"] == "metadata"

    # the longest budget the contract allows: on a busy machine the SDKs (imported first)
    # can take the default 10 s, and msgspec would keep its metadata result
    slow = run_script(
        HEALTH_CHECK_PY, b'{"timeoutMs": 60000}', "--deep", env={**env, "OPENAI_API_KEY": GOOD_KEY}, timeout_s=120
    )
    deep = slow.document
    health = deep["health"]
    assert deep["success"] is True and health["checkedBy"] == "import"
    assert health["packageChecks"]["msgspec"]["checkedBy"] == "missing"
    assert "msgspec build is broken" in health["packageChecks"]["msgspec"]["error"]
    assert health["packageChecks"]["openai"]["checkedBy"] == "import"
    assert health["workers"]["probe"]["ready"] is True and health["workers"]["serve"]["ready"] is True
    assert (
        health["workers"]["analyze_basic"] | {"ready": False, "missing": ["msgspec"]}
        == health["workers"]["analyze_basic"]
    )
    assert [d["code"] for d in health["warningDetails"]] == ["WORKER_NOT_READY"]


def fake_need(name: str, **fields: Any) -> Need:
    return Need(Package(name, name.replace("_", "-")), name, **fields)


async def deep_check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, needs: tuple[Need, ...], **job: Any) -> Any:
    from common.contract.health import HealthJob
    from common.health import check as health

    monkeypatch.setattr(health, "NEEDS", needs)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # for the import subprocesses
    monkeypatch.syspath_prepend(str(tmp_path))  # for the metadata check in this process
    return (await health.check_health(HealthJob(deep=True, **job), ProviderPool())).to_wire()


async def test_deep_check_a_broken_sdk_of_one_provider_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shadow_packages(
        tmp_path,
        fine_sdk_for_test="",
        broken_sdk_for_test="raise RuntimeError('compiled part missing')\n",
        crashing_sdk_for_test="import os\nos._exit(70)\n",
    )
    monkeypatch.setenv("OPENAI_API_KEY", GOOD_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-health-000000")
    monkeypatch.setenv("MISTRAL_API_KEY", "mistral-test-health-000000")
    provider_workers = frozenset({"probe", "serve", "batch"})
    needs = (
        fake_need("fine_sdk_for_test", required_by=provider_workers, providers=("openai",)),
        fake_need("broken_sdk_for_test", required_by=provider_workers, providers=("anthropic",)),
        fake_need("crashing_sdk_for_test", required_by=provider_workers, providers=("mistral",)),
    )
    data = await deep_check(monkeypatch, tmp_path, needs)
    assert data["success"] is True  # openai models can still be probed
    checks = data["health"]["packageChecks"]
    assert checks["fine-sdk-for-test"]["checkedBy"] == "import"
    assert checks["broken-sdk-for-test"]["error"] == "RuntimeError: compiled part missing"
    assert "ended the process" in checks["crashing-sdk-for-test"]["error"]
    assert data["health"]["workers"]["probe"]["unavailableProviders"] == ["anthropic", "mistral"]
    assert [d["code"] for d in data["health"]["warningDetails"]] == ["PROVIDER_SDK_UNUSABLE"] * 2


async def test_deep_check_fails_when_no_configured_provider_can_be_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shadow_packages(tmp_path, broken_sdk_for_test="raise ImportError('gone')\n")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-health-000000")
    need = fake_need("broken_sdk_for_test", required_by=frozenset({"probe"}), providers=("anthropic",))
    data = await deep_check(monkeypatch, tmp_path, (need,))
    assert data["success"] is False and data["error"]["code"] == "ENVIRONMENT_ERROR"
    assert "anthropic" in data["error"]["message"]
    assert data["health"]["packageChecks"]["broken-sdk-for-test"]["required"] is True


async def test_deep_check_ends_imports_that_outlive_its_deadline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pid_file = tmp_path / "hanging.pid"
    shadow_packages(
        tmp_path,
        quick_for_test="",
        hanging_for_test=f"import os, threading\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "threading.Event().wait()\n",  # never returns: only the deadline ends it
    )
    needs = (
        fake_need("quick_for_test", required_by=frozenset({"batch"})),
        fake_need("hanging_for_test", required_by=frozenset({"batch"})),
    )
    data = await deep_check(monkeypatch, tmp_path, needs, timeout_ms=1000)
    checks = data["health"]["packageChecks"]
    assert checks["quick-for-test"]["checkedBy"] == "import"
    assert checks["hanging-for-test"]["checkedBy"] == "metadata"  # what is known without the import
    (detail,) = [d for d in data["health"]["warningDetails"] if d["code"] == "IMPORT_CHECK_INCOMPLETE"]
    assert "hanging-for-test" in detail["message"] and "quick-for-test" not in detail["message"]
    with pytest.raises(ProcessLookupError):  # the subprocess was ended and reaped
        os.kill(int(pid_file.read_text()), 0)
