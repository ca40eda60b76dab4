"""Why: every provider must speak its own wire format correctly and fail in the same few
ways, so the resilience layer and the generators can treat them alike; and an API key must
reach the provider yet never an error message or a log. Exercised against real HTTP servers
on loopback that answer the way Gemini, Ollama (at its OpenAI-compatible ``/v1``) and
OpenAI-compatible servers do."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from typing import Any, Literal

import pytest

from prosora_pipelines.lib.llm.chat import (
    ChatClient,
    ChatRequest,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
    TokenUsage,
)
from prosora_pipelines.lib.llm.gemini import GeminiChatClient
from prosora_pipelines.lib.llm.ollama import OllamaChatClient
from prosora_pipelines.lib.llm.openai_compatible import OpenAICompatibleChatClient
from prosora_pipelines.lib.llm.providers import make_chat_client
from prosora_pipelines.settings import Settings
from prosora_pipelines_tests.support.llm_servers import (
    LEAKY_ERROR,
    LEAKY_ERROR_REDACTED,
    LEAKY_ERROR_SECRETS,
    Behaviour,
    LLMServer,
    RecordedRequest,
    WireFormat,
    empty_answer,
    error_with,
    malformed,
    rate_limited,
    refused,
    resilient,
    server_error,
    slow,
    success,
    unexpected_json,
)

API_KEY = "sk-test-4f9d2c7a1b8e"
PROMPT = "Summarise the week in payments regulation. PROMPT-SENTINEL"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}},
    "required": ["answer"],
}
REQUEST = ChatRequest(
    system="You write briefs.",
    user=PROMPT,
    json_schema=SCHEMA,
    temperature=0.3,
    max_output_tokens=256,
)
TIMEOUT = 0.3
KEY_ENV_VARS = ("PROSORA_LLM_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY")


def client_for(wire_format: WireFormat, base_url: str, timeout: float = TIMEOUT) -> ChatClient:
    if wire_format == "gemini":
        return GeminiChatClient(API_KEY, base_url=base_url, timeout=timeout)
    if wire_format == "ollama":
        return OllamaChatClient(base_url=base_url, timeout=timeout)
    return OpenAICompatibleChatClient(API_KEY, base_url=base_url, timeout=timeout)


@pytest.fixture(params=["gemini", "ollama", "openai"])
def server(request: pytest.FixtureRequest) -> Iterator[LLMServer]:
    with LLMServer(request.param) as running:
        yield running


@pytest.fixture
def client(server: LLMServer) -> ChatClient:
    return client_for(server.wire_format, server.base_url)


def what_was_sent(wire_format: WireFormat, sent: RecordedRequest) -> dict[str, Any]:
    """The request's content in one provider-neutral shape."""
    body = sent.body
    if wire_format == "gemini":
        config = body["generationConfig"]
        return {
            "path": sent.path,
            "system": body["systemInstruction"]["parts"][0]["text"],
            "user": body["contents"][0]["parts"][0]["text"],
            "schema": config.get("responseJsonSchema"),
            "json_mode": config.get("responseMimeType") == "application/json",
            "temperature": config["temperature"],
            "max_tokens": config["maxOutputTokens"],
        }
    messages = {message["role"]: message["content"] for message in body["messages"]}
    response_format = body.get("response_format", {})
    return {
        "path": sent.path,
        "system": messages["system"],
        "user": messages["user"],
        "schema": response_format.get("json_schema", {}).get("schema"),
        "json_mode": response_format.get("type") == "json_schema",
        "temperature": body["temperature"],
        "max_tokens": body["max_tokens"],
    }


EXPECTED_PATHS = {
    "gemini": "/v1beta/models/gemini-2.5-flash:generateContent",
    "ollama": "/v1/chat/completions",
    "openai": "/v1/chat/completions",
}


def test_success_returns_text_and_usage_and_sends_the_request_in_wire_format(
    server: LLMServer, client: ChatClient
) -> None:
    server.script(success('{"answer": 7}', prompt_tokens=21, completion_tokens=4))
    completion = client.complete(REQUEST)
    assert completion.text == '{"answer": 7}'
    assert completion.usage == TokenUsage(prompt_tokens=21, completion_tokens=4)
    assert completion.model.endswith("-test")
    (sent,) = server.requests
    assert what_was_sent(server.wire_format, sent) == {
        "path": EXPECTED_PATHS[server.wire_format],
        "system": "You write briefs.",
        "user": PROMPT,
        "schema": SCHEMA,
        "json_mode": True,
        "temperature": 0.3,
        "max_tokens": 256,
    }


def test_without_a_schema_no_json_mode_is_asked(server: LLMServer, client: ChatClient) -> None:
    client.complete(ChatRequest(system="s", user="u"))
    sent = what_was_sent(server.wire_format, server.requests[0])
    assert sent["schema"] is None and not sent["json_mode"]


def test_429_is_retryable_with_retry_after(server: LLMServer, client: ChatClient) -> None:
    server.script(rate_limited(retry_after="7"))
    with pytest.raises(RetryableProviderError, match="429") as caught:
        client.complete(REQUEST)
    assert caught.value.retry_after == 7.0


def test_gemini_retry_delay_in_the_error_body_counts_as_retry_after() -> None:
    with LLMServer("gemini") as server:
        server.script(rate_limited(retry_delay="12.5s"))
        with pytest.raises(RetryableProviderError) as caught:
            client_for("gemini", server.base_url).complete(REQUEST)
    assert caught.value.retry_after == 12.5


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retryable(server: LLMServer, client: ChatClient, status: int) -> None:
    server.script(server_error(status))
    with pytest.raises(RetryableProviderError, match=str(status)) as caught:
        client.complete(REQUEST)
    assert caught.value.retry_after is None


def test_slow_answer_is_retryable_within_about_the_timeout(
    server: LLMServer, client: ChatClient
) -> None:
    server.script(slow(1.5))
    started = time.perf_counter()
    with pytest.raises(RetryableProviderError, match="no answer in time"):
        client.complete(REQUEST)
    assert time.perf_counter() - started < TIMEOUT + 0.5


def test_body_that_is_not_json_is_retryable(server: LLMServer, client: ChatClient) -> None:
    server.script(malformed())
    with pytest.raises(RetryableProviderError, match=r"answer is not (the expected )?JSON"):
        client.complete(REQUEST)


def test_json_of_the_wrong_shape_is_retryable(server: LLMServer, client: ChatClient) -> None:
    server.script(unexpected_json())
    with pytest.raises(RetryableProviderError, match="answer is not the expected JSON"):
        client.complete(REQUEST)


def test_refused_request_is_permanent(server: LLMServer, client: ChatClient) -> None:
    server.script(refused(401, "API key not valid"))
    with pytest.raises(PermanentProviderError, match=r"401.*API key not valid"):
        client.complete(REQUEST)


def test_answer_without_text_is_permanent_and_says_why(
    server: LLMServer, client: ChatClient
) -> None:
    server.script(empty_answer("SAFETY"))
    with pytest.raises(PermanentProviderError, match=r"(?i)no text.*safety"):
        client.complete(REQUEST)


@pytest.mark.parametrize("wire_format", ["gemini", "ollama", "openai"])
def test_unreachable_server_is_retryable(wire_format: WireFormat) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = client_for(wire_format, f"http://127.0.0.1:{port}")
    with pytest.raises(RetryableProviderError, match="connection failed") as caught:
        client.complete(REQUEST)
    assert caught.value.category == "unreachable"


@pytest.mark.parametrize(
    ("behaviour", "category"),
    [
        (rate_limited(), "rate limited"),
        (server_error(503), "provider error 503"),
        (refused(401), "provider error 401"),
        (slow(1.5), "timed out"),
        (malformed(), "malformed answer"),
        (unexpected_json(), "malformed answer"),
        (empty_answer("SAFETY"), "empty answer"),
    ],
)
def test_each_failure_has_a_short_category_for_users(
    server: LLMServer, client: ChatClient, behaviour: Behaviour, category: str
) -> None:
    server.script(behaviour)
    with pytest.raises(ProviderError) as caught:
        client.complete(REQUEST)
    assert caught.value.category == category


def test_provider_error_text_is_kept_only_as_a_redacted_excerpt(
    server: LLMServer, client: ChatClient
) -> None:
    server.script(error_with(500, f"{LEAKY_ERROR}; Incorrect API key provided: {API_KEY}"))
    with pytest.raises(RetryableProviderError) as caught:
        client.complete(REQUEST)
    assert caught.value.category == "provider error 500"
    assert LEAKY_ERROR_REDACTED in str(caught.value)
    for error in _error_chain(caught.value):
        for secret in (*LEAKY_ERROR_SECRETS, API_KEY):
            assert secret not in str(error) and secret not in repr(error)


def _error_chain(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


@pytest.mark.parametrize(
    ("wire_format", "key_header", "key_value"),
    [("gemini", "x-goog-api-key", API_KEY), ("openai", "authorization", f"Bearer {API_KEY}")],
)
def test_api_key_is_sent_but_never_shown(
    wire_format: WireFormat, key_header: str, key_value: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with LLMServer(wire_format) as server:
        # The second refusal echoes the key, as some servers do.
        server.script(rate_limited(), refused(401, f"Incorrect API key provided: {API_KEY}"))
        inner = client_for(wire_format, server.base_url)
        client = resilient(inner, max_concurrency=1)
        with pytest.raises(PermanentProviderError) as caught:
            client.complete(REQUEST)
    assert [sent.headers[key_header] for sent in server.requests] == [key_value, key_value]
    for error in _error_chain(caught.value):
        assert API_KEY not in str(error) and API_KEY not in repr(error)
    assert "[redacted]" in str(caught.value)
    assert API_KEY not in repr(client) + repr(inner)
    logged = [record.getMessage() for record in caplog.records]
    assert any("retrying" in message for message in logged)
    assert not [message for message in logged if API_KEY in message or "PROMPT-SENTINEL" in message]


@pytest.mark.parametrize("wire_format", ["ollama", "openai"])
def test_a_keyless_client_sends_nothing_the_sdk_finds_in_the_environment(
    wire_format: WireFormat, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings say where a key comes from; a key or an organisation meant for OpenAI
    must not reach a local server because the SDK looked in the environment itself."""
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_ADMIN_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-from-the-environment")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-from-the-environment")
    with LLMServer(wire_format) as server:
        if wire_format == "ollama":
            client: ChatClient = OllamaChatClient(base_url=server.base_url, timeout=TIMEOUT)
        else:
            client = OpenAICompatibleChatClient(None, base_url=server.base_url, timeout=TIMEOUT)
        client.complete(REQUEST)
    (sent,) = server.requests
    assert not {"authorization", "openai-organization", "openai-project"} & sent.headers.keys()


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in KEY_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("generator", "name", "client_type"),
    [
        ("gemini", "gemini:gemini-2.5-flash", GeminiChatClient),
        ("ollama", "ollama:llama3.1", OllamaChatClient),
        ("openai", "openai:gpt-4o-mini", OpenAICompatibleChatClient),
    ],
)
def test_make_chat_client_applies_provider_defaults(
    settings_env: pytest.MonkeyPatch,
    generator: Literal["gemini", "ollama", "openai"],
    name: str,
    client_type: type,
) -> None:
    settings_env.setenv("GEMINI_API_KEY", API_KEY)
    client = make_chat_client(Settings(generator=generator).chat_client_config())
    assert isinstance(client.inner, client_type)
    assert client.name == name
    assert API_KEY not in repr(client) + str(client) + repr(client.inner) + str(client.inner)


def test_make_chat_client_defaults_point_at_the_usual_servers(
    settings_env: pytest.MonkeyPatch,
) -> None:
    ollama = make_chat_client(Settings(generator="ollama").chat_client_config()).inner
    openai = make_chat_client(Settings(generator="openai").chat_client_config()).inner
    assert isinstance(ollama, OllamaChatClient) and isinstance(openai, OpenAICompatibleChatClient)
    assert ollama.base_url == "http://127.0.0.1:11434"
    assert openai.base_url == "https://api.openai.com/v1"
    assert ollama.timeout == openai.timeout == Settings().llm_timeout


def test_make_chat_client_without_gemini_key_names_the_variables(
    settings_env: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match=r"PROSORA_LLM_API_KEY.*GEMINI_API_KEY.*GOOGLE_API_KEY"):
        make_chat_client(Settings(generator="gemini").chat_client_config())


def test_make_chat_client_refuses_the_extractive_generator(
    settings_env: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="needs no chat client"):
        make_chat_client(Settings(generator="extractive").chat_client_config())


def test_make_chat_client_is_wired_to_settings_end_to_end(
    settings_env: pytest.MonkeyPatch,
) -> None:
    with LLMServer("openai", default=server_error()) as server:
        settings_env.setenv("PROSORA_LLM_BASE_URL", server.base_url)
        settings_env.setenv("PROSORA_LLM_MODEL", "local-model")
        settings_env.setenv("PROSORA_LLM_MAX_RETRIES", "0")
        settings_env.setenv("PROSORA_LLM_BREAKER_FAILURES", "1")
        client = make_chat_client(Settings(generator="openai").chat_client_config())
        with pytest.raises(RetryableProviderError):
            client.complete(REQUEST)
        with pytest.raises(ProviderError, match="circuit open"):
            client.complete(REQUEST)
    (sent,) = server.requests
    assert sent.body["model"] == "local-model"
    assert "authorization" not in sent.headers  # local servers need no key
