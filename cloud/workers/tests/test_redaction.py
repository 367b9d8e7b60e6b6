"""What leaves the process on stdout and stderr: never a secret, and logs a host can parse.

The secret tests run `probe.py` against a local HTTP server (no respx) that echoes the
caller's key and Authorization header back in its error body, the worst a provider or a
gateway can do, and check that neither stream shows the key.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import secrets
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from common.io.log import configure_logging, get_logger
from common.io.redaction import REDACTED, redact, redact_text
from common.providers.pool import ProviderPool
from common.runs.oneshot import run_worker
from common.runs.probe_worker import PROBE
from common.runs.run_path import Worker
from testkit.fake_provider import FakeProvider, Received, Reply
from testkit.workers import PROBE_PY, run_script
from tests.helpers import probe_job


@pytest.fixture(autouse=True)
def _logs_back_on_the_session_stderr() -> Iterator[None]:
    """`run_worker` sets the log level from this test's environment; later tests need the default back."""
    yield
    configure_logging()


Responder = Callable[[str], tuple[int, dict[str, Any]]]


class EchoServer:
    """A provider stand-in that answers every POST with an error body quoting the caller's credentials."""

    def __init__(self, respond: Responder) -> None:
        self.authorizations: list[str] = []
        self._respond = respond
        self.fake = FakeProvider(respond=self._echo)

    def _echo(self, request: Received) -> Reply | None:
        if request.method != "POST":
            return None
        auth = request.headers.get("authorization", "")
        self.authorizations.append(auth)
        status, body = self._respond(auth)
        return status, {"x-echo-authorization": auth}, body

    @property
    def url(self) -> str:
        return f"{self.fake.url}/v1"

    @contextlib.contextmanager
    def running(self) -> Iterator[EchoServer]:
        with self.fake.running():
            yield self


def spawn_probe(job: dict[str, Any], **env: str) -> tuple[int, str, str]:
    done = run_script(PROBE_PY, job, env={"PROBE_LOG_LEVEL": "debug", **env})
    return done.code, done.out, done.err


@pytest.fixture
def echoing_openai() -> Iterator[EchoServer]:
    def respond(auth: str) -> tuple[int, dict[str, Any]]:
        key = auth.removeprefix("Bearer ")
        return 401, {
            "error": {
                "message": f"Incorrect API key provided: {key}. We received the header Authorization: {auth}",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }

    with EchoServer(respond).running() as server:
        yield server


@pytest.fixture
def echoing_xai() -> Iterator[EchoServer]:
    def respond(auth: str) -> tuple[int, dict[str, Any]]:
        key = auth.removeprefix("Bearer ")
        return 400, {
            "code": "Client specified an invalid argument",
            "error": f"Incorrect API key provided: {key}. You can obtain an API key from https://console.x.ai.",
        }

    with EchoServer(respond).running() as server:
        yield server


@pytest.mark.e2e
def test_an_openai_key_echoed_by_the_provider_never_leaves_the_process(echoing_openai: EchoServer) -> None:
    key = "sk-test-" + secrets.token_hex(20)
    code, stdout, stderr = spawn_probe(probe_job("gpt-4o"), OPENAI_API_KEY=key, OPENAI_BASE_URL=echoing_openai.url)
    assert echoing_openai.authorizations == [f"Bearer {key}"]  # the key really was sent, and echoed
    assert code == 0
    out = json.loads(stdout)
    assert out["error"]["code"] == "AUTH_ERROR" and out["error"]["retryable"] is False
    assert key not in stdout and key not in stderr
    assert key[8:20] not in stdout + stderr  # not even a fragment
    assert REDACTED in out["error"]["message"]
    assert all(json.loads(line) for line in stderr.splitlines())


@pytest.mark.e2e
def test_a_key_with_no_known_shape_is_still_redacted(echoing_xai: EchoServer) -> None:
    key = "gw_" + secrets.token_hex(16)  # a gateway key: only the environment says it is secret
    code, stdout, stderr = spawn_probe(probe_job("grok-4"), XAI_API_KEY=key, XAI_BASE_URL=echoing_xai.url)
    assert echoing_xai.authorizations == [f"Bearer {key}"]
    assert code == 0
    out = json.loads(stdout)
    assert out["error"]["code"] == "AUTH_ERROR"
    assert key not in stdout and key not in stderr
    assert REDACTED in stdout


def test_a_secret_in_an_unexpected_exception_is_kept_out_of_stdout_and_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "mk-" + secrets.token_hex(16)
    monkeypatch.setenv("MISTRAL_API_KEY", key)

    async def leaky(job: dict[str, Any], pool: ProviderPool) -> Any:
        raise RuntimeError(f"request failed; headers were {{'Authorization': 'Bearer {key}'}}")

    stdout = io.StringIO()
    worker = Worker(name="probe", parse=dict, run=leaky)
    run_worker(worker, stdin=io.BytesIO(json.dumps(probe_job()).encode()), stdout=stdout)
    err = capsys.readouterr().err
    assert key not in stdout.getvalue() and key not in err
    assert "Traceback" in err and REDACTED in err
    assert json.loads(stdout.getvalue())["error"]["code"] == "UNKNOWN"


# ------------------------------------------------------------ the redactor itself


@pytest.mark.parametrize(
    "text",
    [
        "Incorrect API key provided: sk-proj-abcdefghijklmnop1234",
        "anthropic key sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
        "xai-AbCdEfGhIjKlMnOp1234 is not valid",
        "API key AIzaSyA1234567890abcdefghijklmnopqrs rejected",
        "Authorization: Bearer abcdef.ghijkl-123456",
        '{"x-api-key": "whatever-secret-123"}',
        "x-goog-api-key=abcdef123456",
        "GET https://generativelanguage.googleapis.com/v1/models?key=abc123secret&alt=json",
    ],
)
def test_key_shaped_strings_are_redacted(text: str) -> None:
    cleaned = redact_text(text, secrets=[])
    assert REDACTED in cleaned
    assert not re.search(
        r"abcdefghijklmnop|AbCdEfGh|AIzaSyA|abcdef\.ghijkl|whatever-secret|abcdef123456|abc123secret", cleaned
    )


def test_environment_secrets_are_redacted_everywhere_in_a_document(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "plainvalue-0042")
    document = {"error": {"message": "key plainvalue-0042", "details": [{"echo": "plainvalue-0042"}], "n": 3}}
    assert redact(document) == {"error": {"message": f"key {REDACTED}", "details": [{"echo": REDACTED}], "n": 3}}


def test_short_or_unrelated_environment_values_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINY_KEY", "42")  # too short to be a secret; would blank out every 42
    monkeypatch.setenv("PROBE_MODEL", "gpt-4o-mini-long-name")  # not a secret variable
    assert redact_text("42 turns with gpt-4o-mini-long-name") == "42 turns with gpt-4o-mini-long-name"


# ------------------------------------------------------------ log lines on stderr


def run_logged(
    document: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    stdout = io.StringIO()
    run_worker(PROBE, stdin=io.BytesIO(json.dumps(document).encode()), stdout=stdout)
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    out: dict[str, Any] = json.loads(stdout.getvalue())
    return out, lines


IDS = {"runId": "run-1", "scenarioId": "scenario-1"}


def assert_well_formed(lines: list[dict[str, Any]], model_id: str) -> None:
    assert lines, "a job logs at least one line"
    for line in lines:
        assert {"level", "time", "event"} <= line.keys()
        assert line["level"] in {"debug", "info", "warning", "error"}
        assert datetime.fromisoformat(line["time"].replace("Z", "+00:00")).utcoffset() is not None
        assert {**IDS, "modelId": model_id}.items() <= line.items(), line


def test_info_logs_one_turn_complete_line_per_turn(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PROBE_LOG_LEVEL", raising=False)
    out, lines = run_logged(probe_job("mock:echo", followups=2), capsys)
    assert_well_formed(lines, "mock:echo")
    turns = [line for line in lines if line["event"] == "turn complete"]
    assert [t["turn"] for t in turns] == [1, 2, 3]
    for line, turn in zip(turns, out["transcript"]["turns"], strict=True):
        assert line["level"] == "info"
        assert line["provider"] == "mock" and line["model"] == "echo"
        assert line["inputTokens"] == turn["inputTokens"]
        assert line["outputTokens"] == turn["outputTokens"]
        assert line["attempts"] == 1
        assert isinstance(line["ms"], int) and line["ms"] >= 0
    assert not any(line["level"] == "debug" for line in lines)


def test_a_retried_turn_logs_the_retry_and_counts_attempts(capsys: pytest.CaptureFixture[str]) -> None:
    out, lines = run_logged(probe_job("mock:flaky:SERVER_ERROR:1", followups=0), capsys)
    assert out["success"] is True
    assert_well_formed(lines, "mock:flaky:SERVER_ERROR:1")
    (retry,) = [line for line in lines if line["event"] == "retrying"]
    assert retry["level"] == "warning" and retry["code"] == "SERVER_ERROR" and retry["waitMs"] == 10
    (turn,) = [line for line in lines if line["event"] == "turn complete"]
    assert turn["attempts"] == 2


@pytest.mark.parametrize(
    ("model_id", "event"),
    [("mock:fail:AUTH_ERROR", "probe failed"), ("gpt-4o", "job failed")],
)
def test_failure_lines_carry_the_job_ids_too(
    model_id: str, event: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out, lines = run_logged(probe_job(model_id), capsys)
    assert out["success"] is False
    assert_well_formed(lines, model_id)
    assert any(line["event"] == event and line["level"] == "warning" for line in lines)


def test_ids_do_not_leak_into_the_next_job_of_the_same_process(capsys: pytest.CaptureFixture[str]) -> None:
    run_logged(probe_job("mock:echo"), capsys)
    _, lines = run_logged({"scenario": {"prompt": "no ids here"}}, capsys)
    assert lines and not any("runId" in line for line in lines)


def test_the_log_level_variable_quiets_info_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROBE_LOG_LEVEL", "warning")
    out, lines = run_logged(probe_job("mock:echo"), capsys)
    assert out["success"] is True
    assert lines and all(line.get("type") == "progress" for line in lines)  # progress is the contract


# ------------------------------------------------------------ every Authorization scheme, and ordinary words


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("Authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy", "Authorization: Basic "),
        ("authorization: Basic dXM=", "dXM=", "authorization: Basic "),  # shorter than any old minimum
        ('{"Authorization": "Token abcdefgh"}', "abcdefgh", '"Authorization": "Token '),
        ("Authorization: SSWS 00ab-cdEF_123", "00ab-cdEF_123", "Authorization: SSWS "),  # a custom scheme
        ("Proxy-Authorization: Digest 6629fae49393a053", "6629fae49393a053", "Proxy-Authorization: Digest "),
        ("{'authorization': 'gw_live_1234abcd'} was rejected", "gw_live_1234abcd", "was rejected"),  # no scheme
        ("proxy at http://user:hunter2pass@proxy.internal/v1 refused", "hunter2pass", "@proxy.internal/v1 refused"),
    ],
)
def test_every_authorization_scheme_loses_its_credentials_and_keeps_its_name(text: str, secret: str, kept: str) -> None:
    cleaned = redact_text(text, secrets=[])
    assert secret not in cleaned and REDACTED in cleaned
    assert kept in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "invalid_api_key: Incorrect API key provided: sk-test-***.",
        "Authorization: Incorrect API key",
        "a Bearer token is required for this endpoint",
        "api_key: missing",
        "x-api-key header is invalid",
        "see https://console.x.ai/team for your keys",
    ],
)
def test_ordinary_words_next_to_key_names_are_not_redacted(text: str) -> None:
    assert redact_text(text, secrets=[]) == text


def test_a_basic_authorization_header_never_reaches_stdout_or_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials = "dXNlcjpzM2NyZXQtcGFzcw=="  # base64 of user:s3cret-pass

    async def leaky(job: dict[str, Any], pool: ProviderPool) -> Any:
        get_logger().warning("gateway said", echoed=f"we got Authorization: Basic {credentials}")
        raise RuntimeError(f"request failed; headers were {{'Authorization': 'Basic {credentials}'}}")

    stdout = io.StringIO()
    run_worker(Worker(name="probe", parse=dict, run=leaky), stdin=io.BytesIO(b"{}"), stdout=stdout)
    err = capsys.readouterr().err
    assert credentials not in stdout.getvalue() and credentials not in err
    assert "Authorization: Basic [REDACTED]" in err
    assert "Basic [REDACTED]" in json.loads(stdout.getvalue())["error"]["message"]


# ------------------------------------------------------------ a base URL with user:password@ is refused


PASSWORD = "s3cret-pass-4242"

# (model id, key variable, base-URL variable): every provider that reads a base URL.
BASE_URL_PROVIDERS = [
    ("gpt-4o", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    ("claude-opus-4-5", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
    ("gemini-2.5-flash", "GEMINI_API_KEY", "GEMINI_BASE_URL"),
    ("grok-4", "XAI_API_KEY", "XAI_BASE_URL"),
    ("deepseek-chat", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL"),
    ("mistral-large-latest", "MISTRAL_API_KEY", "MISTRAL_BASE_URL"),
    ("openai-compatible:llama3.1:8b", "OPENAI_COMPATIBLE_API_KEY", "OPENAI_COMPATIBLE_BASE_URL"),
]


@pytest.mark.parametrize(("model_id", "key_var", "base_var"), BASE_URL_PROVIDERS)
@pytest.mark.parametrize("userinfo", [f"user:{PASSWORD}", PASSWORD])
def test_a_base_url_with_credentials_is_refused_before_any_request(
    model_id: str,
    key_var: str,
    base_var: str,
    userinfo: str,
    respx_mock: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(key_var, "test-key-not-real-0123456789")
    monkeypatch.setenv(base_var, f"http://{userinfo}@gateway.test:8080/v1")
    stdout = io.StringIO()
    run_worker(PROBE, stdin=io.BytesIO(json.dumps(probe_job(model_id, followups=0)).encode()), stdout=stdout)
    err = capsys.readouterr().err
    assert respx_mock.calls.call_count == 0  # no request: nothing sent as Authorization: Basic
    error = json.loads(stdout.getvalue())["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["retryable"] is False
    assert base_var in error["message"] and "http://gateway.test:8080/v1" in error["message"]
    assert "[REDACTED]" not in error["message"]  # the explanation reads whole: redaction takes no word of it
    assert error["details"]["envVars"] == [base_var]
    assert PASSWORD not in stdout.getvalue() and PASSWORD not in err


@pytest.mark.parametrize(
    ("model_id", "key_var", "base_var", "header", "value"),
    [
        ("gpt-4o", "OPENAI_API_KEY", "OPENAI_BASE_URL", "authorization", "Bearer {key}"),
        (
            "openai-compatible:llama3.1:8b",
            "OPENAI_COMPATIBLE_API_KEY",
            "OPENAI_COMPATIBLE_BASE_URL",
            "authorization",
            "Bearer {key}",
        ),
        ("claude-opus-4-5", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "authorization", "Bearer {key}"),
    ],
)
def test_a_clean_base_url_carries_the_api_key(
    model_id: str,
    key_var: str,
    base_var: str,
    header: str,
    value: str,
    respx_mock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "test-key-not-real-0123456789"
    monkeypatch.setenv(key_var, key)
    monkeypatch.setenv(base_var, "http://gateway.test:8080/v1")
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    respx_mock.route(host="gateway.test").respond(401, json={"error": {"message": "no", "type": "auth"}})
    run_worker(PROBE, stdin=io.BytesIO(json.dumps(probe_job(model_id, followups=0)).encode()), stdout=io.StringIO())
    (call,) = respx_mock.calls
    assert call.request.headers[header] == value.format(key=key)
    assert "basic" not in call.request.headers.get("authorization", "").lower()


@pytest.mark.parametrize("shift", range(-14, 3))
def test_a_credential_across_a_search_window_boundary_is_still_redacted(shift: int) -> None:
    from common.io.redaction import _WINDOW

    header = "Authorization: Basic dXNlcjpodW50ZXIy"
    for literal_at in (_WINDOW + shift, 2 * _WINDOW + shift):
        text = "x" * literal_at + " " + header + " and sk-abcdefghijklmnop."
        cleaned = redact_text(text, secrets=[])
        assert "dXNlcjpodW50ZXIy" not in cleaned and "abcdefghijklmnop" not in cleaned
        assert cleaned.endswith(" Authorization: Basic [REDACTED] and [REDACTED].")


def test_positions_stay_right_after_a_character_whose_lower_case_is_longer() -> None:
    text = "\u0130stanbul \u0130 api_key=abc123 then Authorization: Basic dXM="
    expected = "\u0130stanbul \u0130 api_key=[REDACTED] then Authorization: Basic [REDACTED]"
    assert redact_text(text, secrets=[]) == expected


def test_secrets_in_keys_are_redacted_and_no_entry_is_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "plainvalue-0042")
    document = {"perModel": {"plainvalue-0042": 1, "sk-abcdefghijklmnop": 2, REDACTED: 3, "model-a": 4}}
    assert redact(document) == {"perModel": {REDACTED: 1, f"{REDACTED} (2)": 2, f"{REDACTED} (3)": 3, "model-a": 4}}
    monkeypatch.setenv("MISTRAL_API_KEY", "model-a-is-secret")  # remembered key redactions follow the env
    assert redact({"model-a-is-secret": 1}) == {REDACTED: 1}
