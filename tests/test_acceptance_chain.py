"""Acceptance: real plugins in a real fallback chain, over real HTTP (issue 11, the provider toolkit).

- Provider options are namespaced: ``{"ollama": {"think": True}}`` is Ollama's business only, so a
  chain whose Ollama is down moves on to Mistral, which answers without ever seeing the option.
- A candidate that cannot honour the request refuses it before sending (CapabilityMissing), and
  the chain moves on to one that can.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import clawdesk_mistral._plugin
import clawdesk_ollama._plugin
from clawdesk import (
    AllProvidersFailed,
    CapabilityMissing,
    ChatOptions,
    Clawdesk,
    DocumentPart,
    ImagePart,
    Message,
    Reasoning,
    Registry,
    parse_config,
)
from clawdesk.testing import Reply, ScriptedServer, unused_port

pytestmark = pytest.mark.anyio

KEY = "sk-acceptance-0123456789abcdef"
MISTRAL_MODEL = "mistral-small-latest"
OLLAMA_MODEL = "llama3.2"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def _client(*, chain: list[str], mistral_url: str, ollama_url: str) -> Clawdesk:
    registry = Registry(discover=False)
    registry.register(clawdesk_mistral._plugin)
    registry.register(clawdesk_ollama._plugin)
    text = f"""
[providers.mistral]
base_url = "{mistral_url}/v1"
api_key = "{KEY}"
timeout_secs = 5

[providers.ollama]
base_url = "{ollama_url}"
timeout_secs = 5
first_byte_timeout_secs = 5

[fallback]
chain = {json.dumps(chain)}
max_retries_per_provider = 1
backoff_base_secs = 0.01
backoff_max_secs = 0.02
cooldown_failures = 0
"""
    return Clawdesk(registry=registry, config=parse_config(text), env={})


def _mistral_answer(text: str) -> Reply:
    return Reply.json(
        {
            "id": "cmpl-1",
            "object": "chat.completion",
            "model": MISTRAL_MODEL,
            "created": 1702256327,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        },
        headers=[("mistral-correlation-id", "corr-acceptance")],
    )


def _ollama_answer(text: str) -> Reply:
    return Reply.json(
        {
            "model": OLLAMA_MODEL,
            "created_at": "2026-12-01T00:00:00Z",
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 5,
            "eval_count": 2,
        }
    )


async def test_ollama_down_then_mistral_answers_without_ollamas_options(server: ScriptedServer) -> None:
    """ollama (closed port) -> mistral (scripted): Mistral answers; Ollama's think option never reaches it."""
    server.add(_mistral_answer("Bonjour from Mistral"))
    down = f"http://127.0.0.1:{unused_port()}"
    chain = [f"ollama/{OLLAMA_MODEL}", f"mistral/{MISTRAL_MODEL}"]
    options = ChatOptions(provider_options={"ollama": {"think": True}})
    async with _client(chain=chain, mistral_url=server.url, ollama_url=down) as cd:
        result = await cd.chat_with_attempts(None, "Say hello", options)
    assert result.response.message.text == "Bonjour from Mistral"
    assert result.response.provider == "mistral"
    assert result.response.request_id == "corr-acceptance"
    ollama_tries = [a for a in result.attempts if a.provider == "ollama"]
    assert ollama_tries, result.attempts
    assert all(a.outcome == "failed" and a.kind == "connection_failed" for a in ollama_tries), ollama_tries
    assert "ollama serve" in (ollama_tries[0].reason or "")
    [sent] = server.requests
    assert sent.path == "/v1/chat/completions"
    body = sent.json()
    assert "think" not in body
    assert b"think" not in sent.body


async def test_stream_through_the_same_chain(server: ScriptedServer) -> None:
    """The same chain streaming: Ollama refused at connect, Mistral streams the answer."""
    frames = [
        b'data: {"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n',
        b'data: {"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\n',
        b"data: [DONE]\n\n",
    ]
    server.add(Reply.stream(frames, content_type="text/event-stream"))
    down = f"http://127.0.0.1:{unused_port()}"
    chain = [f"ollama/{OLLAMA_MODEL}", f"mistral/{MISTRAL_MODEL}"]
    options = ChatOptions(provider_options={"ollama": {"think": True}})
    async with (
        _client(chain=chain, mistral_url=server.url, ollama_url=down) as cd,
        cd.stream(None, "Say hello", options) as events,
    ):
        texts = [e.text async for e in events if hasattr(e, "text")]
        target = events.target
    assert "".join(texts) == "Hello"
    assert target is not None
    assert target.provider == "mistral"


@pytest.mark.parametrize(
    ("first", "second", "options", "messages", "refusal"),
    [
        # Mistral has no top_k: it refuses before sending; Ollama takes it.
        ("mistral", "ollama", ChatOptions(top_k=40), [Message.user("hi")], "top_k"),
        # Ollama takes images inline only: an image by URL is for Mistral.
        (
            "ollama",
            "mistral",
            ChatOptions(),
            [Message.user(["What is this?", ImagePart(url="https://example.com/cat.png")])],
            "inline only",
        ),
    ],
    ids=["top_k", "image-url"],
)
async def test_capability_missing_moves_on(
    server: ScriptedServer, first: str, second: str, options: ChatOptions, messages: list[Message], refusal: str
) -> None:
    """A candidate that cannot honour the request says so before sending, and the next one answers."""
    answers = {"mistral": _mistral_answer("from mistral"), "ollama": _ollama_answer("from ollama")}
    server.add(answers[second])
    models = {"mistral": MISTRAL_MODEL, "ollama": OLLAMA_MODEL}
    chain = [f"{first}/{models[first]}", f"{second}/{models[second]}"]
    async with _client(chain=chain, mistral_url=server.url, ollama_url=server.url) as cd:
        result = await cd.chat_with_attempts(None, messages, options)
    assert result.response.provider == second
    assert result.response.message.text == f"from {second}"
    refused = [a for a in result.attempts if a.provider == first]
    assert [a.kind for a in refused] == ["capability_missing"], result.attempts
    assert refusal in (refused[0].reason or "")
    assert isinstance(refused[0].error, CapabilityMissing)
    # Only the answering candidate was asked anything.
    assert len(server.requests) == 1
    expected_path = "/v1/chat/completions" if second == "mistral" else "/api/chat"
    assert server.requests[0].path == expected_path


async def test_no_candidate_can_honour_it(server: ScriptedServer) -> None:
    """A document and a reasoning budget: neither provider can honour them; nothing is sent, every refusal is kept."""
    chain = [f"mistral/{MISTRAL_MODEL}", f"ollama/{OLLAMA_MODEL}"]
    options = ChatOptions(reasoning=Reasoning(budget_tokens=256))
    messages: list[Any] = [Message.user(["Summarise", DocumentPart(data=b"%PDF-1.7", media_type="application/pdf")])]
    async with _client(chain=chain, mistral_url=server.url, ollama_url=server.url) as cd:
        with pytest.raises(AllProvidersFailed) as info:
            await cd.chat(None, messages, options)
    assert [a.kind for a in info.value.attempts] == ["capability_missing", "capability_missing"]
    assert server.requests == []
