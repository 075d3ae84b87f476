"""The real google-genai client against tests.fakes.gemini_api.FakeGemini over loopback."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes.gemini_api import (
    DEFAULT_THOUGHT_SIGNATURE,
    NO_REPLY_LEFT,
    FakeGemini,
    Reply,
    blocked_prompt,
    empty_candidates,
    error,
    function_calls,
    malformed_function_call,
    slow,
    text,
)

MODEL = "gemini-3-flash-preview"
API_KEY = "test-api-key"

_CLIENT_ENV = (
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
)

LOOKUP_TOOL = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="find_client",
            description="Find a CRM client by name.",
            parameters_json_schema={
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
            },
        ),
        types.FunctionDeclaration(name="list_deals", description="List open deals."),
    ]
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGemini]:
    for name in _CLIENT_ENV:  # the client reads these; keep the host environment out of the test
        monkeypatch.delenv(name, raising=False)
    with FakeGemini() as server:
        yield server


def make_client(fake: FakeGemini, **options: Any) -> genai.Client:
    # retry_options=None already means "one attempt" in google-genai 3.6.1; be explicit anyway.
    options.setdefault("retry_options", types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=fake.base_url, **options))


@pytest.fixture
def client(fake: FakeGemini) -> Iterator[genai.Client]:
    c = make_client(fake)
    yield c
    c.close()


def test_text_reply_and_wire_format(fake: FakeGemini, client: genai.Client) -> None:
    fake.enqueue(text("Hello from the fake", prompt_tokens=7, candidates_tokens=4))

    response = client.models.generate_content(
        model=MODEL,
        contents="Hi",
        config=types.GenerateContentConfig(system_instruction="Be brief.", temperature=0.1),
    )

    assert response.text == "Hello from the fake"
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (7, 4, 11)
    assert response.model_version == MODEL

    [request] = fake.requests
    assert request.method == "POST"
    # google-genai 3.6.1 defaults the Developer API version to v1 (not v1beta).
    assert request.path == f"/v1/models/{MODEL}:generateContent"
    assert (request.api_version, request.model, request.action) == ("v1", MODEL, "generateContent")
    assert request.query == {}
    assert request.headers["x-goog-api-key"] == API_KEY
    assert request.api_key == API_KEY
    assert request.headers["content-type"] == "application/json"
    assert request.raw_size == len(request.raw_body) == int(request.headers["content-length"])
    assert request.json == {
        "contents": [{"parts": [{"text": "Hi"}], "role": "user"}],
        "systemInstruction": {"parts": [{"text": "Be brief."}], "role": "user"},
        "generationConfig": {"temperature": 0.1},
    }
    assert fake.pending == 0


def test_api_version_v1beta_when_asked(fake: FakeGemini) -> None:
    fake.enqueue(text("ok"))
    client = make_client(fake, api_version="v1beta")
    assert client.models.generate_content(model=MODEL, contents="Hi").text == "ok"
    assert fake.requests[0].path == f"/v1beta/models/{MODEL}:generateContent"


def test_function_calls_with_ids_and_thought_signature(fake: FakeGemini, client: genai.Client) -> None:
    fake.enqueue(function_calls([("find_client", {"name": "Acme"}), ("list_deals", {})]))

    response = client.models.generate_content(
        model=MODEL, contents="Who is Acme?", config=types.GenerateContentConfig(tools=[LOOKUP_TOOL])
    )

    calls = response.function_calls
    assert calls is not None
    assert [(c.id, c.name, c.args) for c in calls] == [
        ("call-1", "find_client", {"name": "Acme"}),
        ("call-2", "list_deals", {}),
    ]
    assert response.candidates is not None
    content = response.candidates[0].content
    assert content is not None
    assert content.parts is not None
    assert content.role == "model"
    first, second = content.parts
    assert first.thought_signature == b"fake-thought-signature"
    assert second.thought_signature is None

    body = fake.requests[0].json
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "find_client"


def test_second_turn_echoes_signature_and_function_response_ids(fake: FakeGemini, client: genai.Client) -> None:
    fake.enqueue(function_calls([("find_client", {"name": "Acme"})]), text("Acme is a client since 2020."))
    config = types.GenerateContentConfig(tools=[LOOKUP_TOOL])
    history: list[types.Content] = [types.Content(role="user", parts=[types.Part(text="Who is Acme?")])]

    first = client.models.generate_content(model=MODEL, contents=history, config=config)
    assert first.candidates is not None
    assert first.candidates[0].content is not None
    history.append(first.candidates[0].content)  # unchanged, thought signature included
    calls = first.function_calls
    assert calls is not None
    history.append(
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        id=call.id, name=call.name, response={"result": {"id": 42, "since": 2020}}
                    )
                )
                for call in calls
            ],
        )
    )
    second = client.models.generate_content(model=MODEL, contents=history, config=config)

    assert second.text == "Acme is a client since 2020."
    first_request, second_request = fake.requests
    assert len(first_request.json["contents"]) == 1
    user, model_turn, tool_turn = second_request.json["contents"]
    assert user == {"parts": [{"text": "Who is Acme?"}], "role": "user"}
    assert model_turn["role"] == "model"
    [call_part] = model_turn["parts"]
    assert call_part["functionCall"] == {"id": "call-1", "name": "find_client", "args": {"name": "Acme"}}
    # bytes go back as URL-safe base64; this signature is the same in both alphabets.
    assert call_part["thoughtSignature"] == DEFAULT_THOUGHT_SIGNATURE
    assert base64.urlsafe_b64decode(call_part["thoughtSignature"]) == b"fake-thought-signature"
    assert tool_turn == {
        "parts": [
            {
                "functionResponse": {
                    "id": "call-1",
                    "name": "find_client",
                    "response": {"result": {"id": 42, "since": 2020}},
                }
            }
        ],
        "role": "user",
    }


def test_custom_thought_signature_and_none(fake: FakeGemini, client: genai.Client) -> None:
    signature = base64.b64encode(b"\xfb\xff\xfe sig").decode()  # has '+' and '/' in standard base64
    fake.enqueue(function_calls([("list_deals", {})], signature), function_calls([("list_deals", {})], None))

    signed = client.models.generate_content(model=MODEL, contents="a")
    unsigned = client.models.generate_content(model=MODEL, contents="b")

    assert signed.candidates is not None
    assert signed.candidates[0].content is not None
    assert signed.candidates[0].content.parts is not None
    assert signed.candidates[0].content.parts[0].thought_signature == b"\xfb\xff\xfe sig"
    assert unsigned.candidates is not None
    assert unsigned.candidates[0].content is not None
    assert unsigned.candidates[0].content.parts is not None
    assert unsigned.candidates[0].content.parts[0].thought_signature is None

    echoed = types.Content(role="user", parts=[types.Part(text="next")])
    fake.enqueue(text("ok"))
    client.models.generate_content(model=MODEL, contents=[signed.candidates[0].content, echoed])
    sent = fake.requests[-1].json["contents"][0]["parts"][0]["thoughtSignature"]
    assert sent == base64.urlsafe_b64encode(b"\xfb\xff\xfe sig").decode()
    assert sent != signature


@pytest.mark.parametrize(
    ("status", "google_status", "exc_type"),
    [
        (429, "RESOURCE_EXHAUSTED", errors.ClientError),
        (500, "INTERNAL", errors.ServerError),
        (503, "UNAVAILABLE", errors.ServerError),
    ],
)
def test_http_errors(
    fake: FakeGemini,
    client: genai.Client,
    status: int,
    google_status: str,
    exc_type: type[errors.APIError],
) -> None:
    fake.enqueue(error(status, "quota or outage"), text("never reached"))

    with pytest.raises(exc_type) as info:
        client.models.generate_content(model=MODEL, contents="Hi")

    assert info.value.code == status
    assert info.value.status == google_status
    assert info.value.message == "quota or outage"
    assert len(fake.requests) == 1  # no retry
    assert fake.pending == 1


def test_retry_after_detail_and_header(fake: FakeGemini, client: genai.Client) -> None:
    fake.enqueue(error(429, "Resource exhausted", retry_after=37))

    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=MODEL, contents="Hi")

    assert info.value.details["error"]["details"] == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}
    ]
    assert info.value.response is not None
    assert info.value.response.headers["retry-after"] == "37"


def test_client_retries_when_enabled(fake: FakeGemini) -> None:
    fake.enqueue(error(503, "overloaded"), text("second time lucky"))
    retrying = make_client(
        fake, retry_options=types.HttpRetryOptions(attempts=2, initial_delay=0.0, max_delay=0.0, jitter=0.0)
    )

    assert retrying.models.generate_content(model=MODEL, contents="Hi").text == "second time lucky"
    assert len(fake.requests) == 2


def test_blocked_prompt(fake: FakeGemini, client: genai.Client) -> None:
    fake.enqueue(blocked_prompt())

    response = client.models.generate_content(model=MODEL, contents="something bad")

    assert not response.candidates
    assert response.text is None
    assert response.prompt_feedback is not None
    assert response.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    assert response.usage_metadata is not None
    assert response.usage_metadata.prompt_token_count == 10


def test_empty_candidates_and_malformed_function_call(fake: FakeGemini, client: genai.Client) -> None:
    fake.enqueue(empty_candidates(), malformed_function_call())

    empty = client.models.generate_content(model=MODEL, contents="a")
    assert not empty.candidates
    assert empty.text is None
    assert empty.function_calls is None
    assert empty.prompt_feedback is None

    malformed = client.models.generate_content(model=MODEL, contents="b")
    assert malformed.candidates is not None
    assert malformed.candidates[0].finish_reason == types.FinishReason.MALFORMED_FUNCTION_CALL
    assert malformed.candidates[0].content is None
    assert malformed.text is None
    assert malformed.function_calls is None


def test_empty_queue_fails_loudly(fake: FakeGemini, client: genai.Client) -> None:
    with pytest.raises(errors.ServerError) as info:
        client.models.generate_content(model=MODEL, contents="Hi")
    assert info.value.code == 500
    assert info.value.message == NO_REPLY_LEFT


def test_callable_reply(fake: FakeGemini, client: genai.Client) -> None:
    def echo(request: dict[str, Any]) -> dict[str, Any]:
        said = request["contents"][-1]["parts"][0]["text"]
        return text(f"you said {said}").body

    fake.enqueue(echo, lambda request: text(str(len(request["contents"]))))

    assert client.models.generate_content(model=MODEL, contents="ping").text == "you said ping"
    assert client.models.generate_content(model=MODEL, contents=["a", "b"]).text == "1"


def test_callable_that_raises_becomes_500(fake: FakeGemini, client: genai.Client) -> None:
    def broken(request: dict[str, Any]) -> Reply:
        raise KeyError("nope")

    fake.enqueue(broken)
    with pytest.raises(errors.ServerError, match="scripted callable raised KeyError"):
        client.models.generate_content(model=MODEL, contents="Hi")


def test_slow_reply_hits_client_timeout(fake: FakeGemini) -> None:
    # HttpOptions.timeout is in milliseconds (int); the client also sends X-Server-Timeout in seconds.
    fake.enqueue(slow(2.0, then=text("too late")), slow(0.05, then=text("in time")))
    impatient = make_client(fake, timeout=300)

    started = time.monotonic()
    with pytest.raises(httpx2.TimeoutException):
        impatient.models.generate_content(model=MODEL, contents="Hi")
    assert time.monotonic() - started < 1.5
    assert fake.requests[0].headers["x-server-timeout"] == "1"

    per_request = types.GenerateContentConfig(http_options=types.HttpOptions(timeout=5_000))
    assert impatient.models.generate_content(model=MODEL, contents="Hi", config=per_request).text == "in time"
    assert fake.requests[1].headers["x-server-timeout"] == "5"


def test_count_tokens_does_not_consume_queue(fake: FakeGemini, client: genai.Client) -> None:
    fake.enqueue(text("kept"))

    counted = client.models.count_tokens(model=MODEL, contents="twelve chars")

    assert counted.total_tokens == 3
    assert fake.requests[0].action == "countTokens"
    assert fake.pending == 1
    assert fake.generate_requests() == []


def test_wrong_api_key_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)
    with FakeGemini(api_key="right-key") as guarded:
        guarded.enqueue(text("secret"))
        client = make_client(guarded)
        with pytest.raises(errors.ClientError) as info:
            client.models.generate_content(model=MODEL, contents="Hi")
        assert (info.value.code, info.value.status) == (400, "INVALID_ARGUMENT")
        assert guarded.pending == 1


def test_concurrent_requests_each_get_one_reply(fake: FakeGemini, client: genai.Client) -> None:
    def echo(request: dict[str, Any]) -> Reply:
        return text("echo " + request["contents"][0]["parts"][0]["text"])

    count = 16
    fake.enqueue(*[echo] * count)
    answers: dict[int, str | None] = {}

    def worker(i: int) -> None:
        answers[i] = client.models.generate_content(model=MODEL, contents=f"n{i}").text

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert answers == {i: f"echo n{i}" for i in range(count)}
    assert len(fake.requests) == count
    assert fake.pending == 0


def test_reset_and_restart() -> None:
    server = FakeGemini()
    with pytest.raises(RuntimeError):
        _ = server.base_url
    server.start()
    try:
        assert server.base_url.startswith("http://127.0.0.1:")
        server.enqueue(text("a"), text("b"))
        server.reset()
        assert server.pending == 0
        assert server.requests == []
    finally:
        server.stop()
    server.stop()  # idempotent
