"""Whole (non-streamed) chats against a scripted Gemini: the request on the wire, the answer, and every error shape."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import pytest

from clawdesk import (
    ApiError,
    AuthFailed,
    CapabilityMissing,
    ChatOptions,
    ChatRequest,
    ChatResponse,
    Clawdesk,
    ContextLengthExceeded,
    DocumentPart,
    FinishReason,
    ImagePart,
    InvalidRequest,
    Message,
    ModelNotFound,
    PermissionDenied,
    ProviderError,
    RateLimited,
    ReasoningPart,
    TextPart,
    Usage,
)
from clawdesk.testing import Reply, ScriptedServer

Make = Callable[..., Clawdesk]
MODEL = "gemini/gemini-2.5-flash"
W = sys.modules["clawdesk_gemini_testwire"]


async def _chat(cd: Clawdesk, messages: Any = "hi", options: ChatOptions | None = None) -> ChatResponse:
    """One guarded call to the provider, without retries or fallback."""
    target = cd.resolve(MODEL)
    chat = [Message.user(messages)] if isinstance(messages, str) else list(messages)
    return await cd.chat_target(target, ChatRequest(target.model, tuple(chat), options or ChatOptions()))


@pytest.mark.anyio
async def test_chat_round_trip(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """A text answer: the body, the path, the key in x-goog-api-key only, the usage, the id and the metadata."""
    citation = {"citationSources": [{"startIndex": 0, "endIndex": 5, "uri": "https://example.com"}]}
    answer = gw.response(
        gw.text("Hello"),
        gw.text(" there"),
        usage=gw.usage(11, 2, thoughts=30, cached=8),
        candidate={"citationMetadata": citation},
    )
    server.add(gw.json(answer))
    async with make_client() as cd:
        reply = await _chat(cd, [Message.system("Be kind."), Message.user("hi")], ChatOptions(temperature=0.5))
    assert reply.message.content == (TextPart("Hello"), TextPart(" there"))
    assert reply.message.text == "Hello there"
    assert (reply.finish_reason, reply.finish_reason_raw) == (FinishReason.STOP, "STOP")
    assert reply.usage == Usage(11, 32, cache_read_tokens=8, reasoning_tokens=30, raw=answer["usageMetadata"])
    assert (reply.provider, reply.model, reply.request_id) == ("gemini", "gemini-2.5-flash", W.RESPONSE_ID)
    assert reply.metadata["citation_metadata"] == citation
    assert reply.metadata["response_id"] == W.RESPONSE_ID
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1beta/models/gemini-2.5-flash:generateContent")
    assert sent.headers["x-goog-api-key"] == W.KEY
    assert sent.headers["content-type"] == "application/json"
    assert W.KEY.encode() not in sent.body
    assert sent.json() == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be kind."}]},
        "generationConfig": {"temperature": 0.5},
    }


@pytest.mark.anyio
async def test_key_from_google_api_key(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """Without GEMINI_API_KEY the key comes from GOOGLE_API_KEY; GEMINI_API_KEY wins when both are set."""
    server.add(gw.answer(gw.text("a")), gw.answer(gw.text("b")))
    async with make_client(env={"GOOGLE_API_KEY": "google-key-1"}) as cd:
        await _chat(cd)
    async with make_client(env={"GOOGLE_API_KEY": "google-key-1", "GEMINI_API_KEY": "gemini-key-2"}) as cd:
        await _chat(cd)
    assert [r.headers["x-goog-api-key"] for r in server.requests] == ["google-key-1", "gemini-key-2"]


@pytest.mark.anyio
async def test_missing_key_names_both_variables(server: ScriptedServer, make_client: Make) -> None:
    """Without any key the call is refused before sending, naming GEMINI_API_KEY, GOOGLE_API_KEY and the config key."""
    async with make_client(env={}) as cd:
        with pytest.raises(AuthFailed, match=r"GEMINI_API_KEY \(or GOOGLE_API_KEY\) or providers\.gemini\.api_key"):
            await _chat(cd)
    assert server.requests == []


@pytest.mark.anyio
async def test_thoughts_calls_and_inline_images_in_the_answer(
    server: ScriptedServer, make_client: Make, gw: Any
) -> None:
    """Thought parts are gemini's ReasoningPart; an image the model made is an ImagePart; calls are ToolCalls."""
    png = {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
    server.add(gw.answer(gw.text("sketching", thought=True), png, gw.text("Here it is.")))
    async with make_client() as cd:
        reply = await _chat(cd)
    assert reply.message.content == (
        ReasoningPart("sketching", source="gemini"),
        ImagePart(data=b"\x89PNG\r\n\x1a\n", media_type="image/png"),
        TextPart("Here it is."),
    )
    assert reply.message.reasoning == "sketching"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("finish", "reason"),
    [("MAX_TOKENS", FinishReason.LENGTH), ("RECITATION", FinishReason.CONTENT_FILTER), ("OTHER", FinishReason.OTHER)],
)
async def test_finish_reasons(
    server: ScriptedServer, make_client: Make, gw: Any, finish: str, reason: FinishReason
) -> None:
    """Gemini's finishReason is normalised and kept raw; a cut answer keeps its text."""
    server.add(gw.answer(gw.text("partial"), finish=finish))
    async with make_client() as cd:
        reply = await _chat(cd)
    assert (reply.finish_reason, reply.finish_reason_raw, reply.message.text) == (reason, finish, "partial")


@pytest.mark.anyio
async def test_thinking_that_ate_the_budget(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """MAX_TOKENS with no content (thinking used every output token) is LENGTH with an empty message, not an error."""
    server.add(gw.answer(finish="MAX_TOKENS", no_content=True, usage=gw.usage(9, None, thoughts=64)))
    async with make_client() as cd:
        reply = await _chat(cd, options=ChatOptions(max_tokens=64))
    assert reply.finish_reason is FinishReason.LENGTH
    assert reply.message.text == ""
    assert reply.usage.output_tokens == 64


@pytest.mark.anyio
@pytest.mark.parametrize(
    "answer",
    [
        {"candidates": [{"finishReason": "STOP", "index": 0}], "responseId": "r1"},
        {"candidates": [], "responseId": "r1"},
        {"candidates": [{"content": {"parts": [], "role": "model"}, "finishReason": "MALFORMED_FUNCTION_CALL"}]},
    ],
)
async def test_answers_that_are_not_answers(server: ScriptedServer, make_client: Make, gw: Any, answer: Any) -> None:
    """No candidate, an empty STOP, a malformed function call: retryable ApiError, never an empty success."""
    server.add(gw.json(gw.checked(answer)))
    async with make_client() as cd:
        with pytest.raises(ApiError) as info:
            await _chat(cd)
    assert info.value.retryable


@pytest.mark.anyio
async def test_unsupported_answer_parts(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """A part clawdesk has no place for (code execution) is an error naming it, not silently dropped."""
    code = {"executableCode": {"language": "PYTHON", "code": "print(1)"}}
    server.add(gw.answer(gw.text("Running:"), code))
    async with make_client() as cd:
        with pytest.raises(ApiError, match="executableCode"):
            await _chat(cd)


# -- errors ------------------------------------------------------------------------------


def _bad_key(gw: Any) -> Reply:
    """What Google answers to a wrong key: 400 INVALID_ARGUMENT with ErrorInfo API_KEY_INVALID."""
    return gw.error(
        400,
        "API key not valid. Please pass a valid API key.",
        details=[
            gw.error_info("API_KEY_INVALID"),
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": "API key not valid. Please pass a valid API key.",
            },
        ],
    )


@pytest.mark.anyio
async def test_bad_key_is_auth_failed(
    server: ScriptedServer, make_client: Make, gw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong key (400 API_KEY_INVALID) is AuthFailed with a hint; the key is in no error, repr or log line."""
    caplog.set_level(logging.DEBUG)
    server.add(_bad_key(gw), _bad_key(gw))
    async with make_client() as cd:
        with pytest.raises(AuthFailed) as info:
            await _chat(cd)
        target = cd.resolve(MODEL)
        with pytest.raises(AuthFailed):
            async with cd.stream_target(target, ChatRequest(target.model, (Message.user("hi"),))) as stream:
                [e async for e in stream]
        config_repr = repr(cd.provider_config("gemini"))
    error = info.value
    assert error.status == 400
    assert "API key not valid" in str(error)
    assert "GEMINI_API_KEY" in str(error)
    assert not error.retryable
    shown = [str(error), repr(error), config_repr, *(r.getMessage() for r in caplog.records)]
    assert all(W.KEY not in text for text in shown)
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx logged the calls, keyless


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reply", "error", "retryable"),
    [
        (
            ("error", 403, "Method doesn't allow unregistered callers.", {}),
            PermissionDenied,
            False,
        ),
        (
            (
                "error",
                404,
                "models/gemini-9 is not found for API version v1beta, or is not supported for generateContent.",
                {},
            ),
            ModelNotFound,
            False,
        ),
        (
            (
                "error",
                400,
                "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).",
                {},
            ),
            ContextLengthExceeded,
            False,
        ),
        (
            ("error", 400, "User location is not supported for the API use.", {"status": "FAILED_PRECONDITION"}),
            PermissionDenied,
            False,
        ),
        (
            ("error", 400, "Function call is missing a thought_signature in functionCall parts.", {}),
            InvalidRequest,
            False,
        ),
        (("error", 500, "An internal error has occurred.", {}), ApiError, True),
        (("error", 503, "The model is overloaded. Please try again later.", {}), ApiError, True),
        (("error", 504, "Deadline expired before operation could complete.", {}), ApiError, True),
        (("error", 429, "Resource has been exhausted (e.g. check quota).", {}), RateLimited, True),
    ],
)
async def test_error_statuses(
    server: ScriptedServer,
    make_client: Make,
    gw: Any,
    reply: tuple[str, int, str, dict[str, Any]],
    error: type[ProviderError],
    retryable: bool,
) -> None:
    """Google's errors become the right ProviderError, with the message, the status name and the retry verdict."""
    _, code, message, kw = reply
    server.add(gw.error(code, message, **kw))
    async with make_client() as cd:
        with pytest.raises(error) as info:
            await _chat(cd)
    assert type(info.value) is error
    assert info.value.retryable is retryable
    assert message[:30] in str(info.value)
    assert info.value.provider == "gemini"
    if error is ModelNotFound:
        assert isinstance(info.value, ModelNotFound)
        assert info.value.model == "gemini-2.5-flash"


@pytest.mark.anyio
async def test_error_pages_from_a_proxy(server: ScriptedServer, make_client: Make) -> None:
    """A 502 HTML page from a proxy in front of Gemini is a retryable ApiError with the page's title."""
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    server.add(Reply.text(page, status=502, content_type="text/html"))
    async with make_client() as cd:
        with pytest.raises(ApiError, match="502 Bad Gateway") as info:
            await _chat(cd)
    assert info.value.retryable


@pytest.mark.anyio
async def test_error_inside_a_200_body(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """An error object sent with 200 is still its typed error."""
    server.add(gw.json(gw.error_body(429, "Quota exceeded.", details=[gw.retry_info("4s")])))
    async with make_client() as cd:
        with pytest.raises(RateLimited) as info:
            await _chat(cd)
    assert info.value.retry_after == 4.0


# -- refused before sending ----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("messages", "options", "error"),
    [
        ([Message.user("a"), Message.system("late")], ChatOptions(), CapabilityMissing),
        ("x", ChatOptions(stop=tuple("abcdef")), CapabilityMissing),
        ("x", ChatOptions(temperature=7.0), InvalidRequest),
        ([Message.user("a"), Message.tool_result("nowhere", "r")], ChatOptions(), InvalidRequest),
        (
            "x",
            ChatOptions(provider_options={"gemini": {"safety_settings": {"HARM_CATEGORY_HARASSMENT": "ALL"}}}),
            InvalidRequest,
        ),
        ("x", ChatOptions(provider_options={"gemini": {"num_ctx": 4096}}), InvalidRequest),
    ],
)
async def test_refused_before_sending(
    server: ScriptedServer, make_client: Make, messages: Any, options: ChatOptions, error: type[ProviderError]
) -> None:
    """What Gemini cannot take is refused with the right kind of error and nothing is sent."""
    async with make_client() as cd:
        with pytest.raises(error):
            await _chat(cd, messages, options)
    assert server.requests == []


@pytest.mark.anyio
async def test_documents_and_images_reach_the_wire(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """A user turn with a PDF and an image URL goes out as inlineData and fileData parts."""
    server.add(gw.answer(gw.text("Two pages.")))
    pdf = DocumentPart(data=b"%PDF-1.7\n", media_type="application/pdf", name="report.pdf")
    photo = ImagePart(url="https://example.com/photo.webp")
    async with make_client() as cd:
        await _chat(cd, [Message.user(["Summarise", pdf, photo])])
    parts = server.requests[0].json()["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0xLjcK"}}
    assert parts[2] == {"fileData": {"fileUri": "https://example.com/photo.webp", "mimeType": "image/webp"}}


@pytest.mark.anyio
async def test_tuned_model_path(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """A tuned model is asked at /v1beta/tunedModels/{id}:generateContent."""
    server.add(gw.answer(gw.text("tuned")))
    async with make_client() as cd:
        target = cd.resolve("gemini/tunedModels/my-model-7")
        await cd.chat_target(target, ChatRequest(target.model, (Message.user("hi"),)))
    assert server.requests[0].path == "/v1beta/tunedModels/my-model-7:generateContent"


@pytest.mark.anyio
async def test_documents_the_model_returns(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """Inline data that is not an image comes back as a DocumentPart; URL-safe base64 is read too."""
    server.add(gw.answer({"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0_"}}, gw.text("done")))
    async with make_client() as cd:
        reply = await _chat(cd)
    assert reply.message.content[0] == DocumentPart(data=b"%PDF-?", media_type="application/pdf")


@pytest.mark.anyio
async def test_named_instance_keeps_its_own_key(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """An instance with its own key variable never falls back to GOOGLE_API_KEY, and its errors carry its name."""
    text = f'[providers.work]\nplugin = "gemini"\napi_key_env = "WORK_GEMINI_KEY"\nbase_url = "{server.url}"\n'
    request = ChatRequest("gemini-2.5-flash", (Message.user("hi"),))
    async with make_client(config=text, env={"GOOGLE_API_KEY": "someone-elses-key"}) as cd:
        with pytest.raises(AuthFailed, match=r"set WORK_GEMINI_KEY or providers\.work\.api_key") as missing:
            await cd.chat_target(cd.resolve("work/gemini-2.5-flash"), request)
    assert "GOOGLE_API_KEY" not in str(missing.value)
    assert server.requests == []
    server.add(gw.error(404, "models/gemini-2.5-flash is not found for API version v1beta"))
    async with make_client(config=text, env={"WORK_GEMINI_KEY": "work-key"}) as cd:
        with pytest.raises(ModelNotFound) as info:
            await cd.chat_target(cd.resolve("work/gemini-2.5-flash"), request)
    assert info.value.provider == "work"
    assert server.requests[0].headers["x-goog-api-key"] == "work-key"
