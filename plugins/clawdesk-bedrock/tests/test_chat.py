"""Converse (not streamed) end to end against the scripted Bedrock: signing, ids, reasoning round trips, secrets."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pytest

import clawdesk
from clawdesk import ChatOptions, FinishReason, Message, ReasoningPart

pytestmark = pytest.mark.anyio


async def test_chat_signed_with_environment_credentials(
    fake: Any, helpers: Any, make_client: Any, env_keys: None
) -> None:
    """A whole answer comes back typed; the request is signed, percent-encoded and asks for JSON."""
    fake.add(helpers.answer_reply(helpers.answer([{"text": "Hello!"}])))
    async with make_client(max_retries=0) as client:
        reply = await client.chat(f"bedrock/{helpers.MODEL}", "hi", options=ChatOptions(max_tokens=50, temperature=0.2))
    assert reply.message.text == "Hello!"
    assert reply.finish_reason is FinishReason.STOP
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (12, 5)
    assert reply.request_id == helpers.REQUEST_ID
    assert reply.provider == "bedrock"
    sent = fake.requests[0]
    assert sent.path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    assert sent.headers["accept"] == "application/json"
    assert sent.json()["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.2}
    assert "modelId" not in sent.json()
    assert fake.accepted == [f"sigv4:{helpers.KEY_ID}"]


async def test_an_arn_is_one_encoded_path_segment(fake: Any, helpers: Any, make_client: Any, env_keys: None) -> None:
    """An inference-profile ARN travels as one segment (':' and '/' encoded) and its signature still holds."""
    arn = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    fake.add(helpers.answer_reply(helpers.answer()))
    async with make_client(max_retries=0) as client:
        await client.chat(f"bedrock/{arn}", "hi")
    assert fake.requests[0].path == (
        "/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile%2F"
        "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    )
    assert fake.accepted == [f"sigv4:{helpers.KEY_ID}"]


async def test_chat_with_an_api_key_in_the_table(fake: Any, helpers: Any, make_client: Any) -> None:
    """``api_key`` in the table is sent as a bearer token, and nothing is signed."""
    fake.add(helpers.answer_reply(helpers.answer()))
    async with make_client(api_key=helpers.BEARER, region=helpers.REGION, max_retries=0) as client:
        await client.chat(f"bedrock/{helpers.MODEL}", "hi")
    assert fake.accepted == ["bearer"]
    assert fake.requests[0].headers["authorization"] == f"Bearer {helpers.BEARER}"


async def test_signed_reasoning_goes_back_unchanged(fake: Any, helpers: Any, make_client: Any, env_keys: None) -> None:
    """Reasoning with its signature (and redacted reasoning) from one answer is sent back byte for byte next turn."""
    content = [
        {"reasoningContent": {"reasoningText": {"text": "2+2 is 4", "signature": "EqQBCkgIARABGAIiQL=="}}},
        {"reasoningContent": {"redactedContent": "RXJyb3IgcmVkYWN0ZWQ="}},
        {"text": "4"},
    ]
    fake.add(helpers.answer_reply(helpers.answer(content)), helpers.answer_reply(helpers.answer()))
    model = "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    async with make_client(max_retries=0) as client:
        first = await client.chat(model, "2+2?")
        assert first.message.content[0] == ReasoningPart("2+2 is 4", signature="EqQBCkgIARABGAIiQL==", source="bedrock")
        await client.chat(model, [Message.user("2+2?"), first.message, Message.user("and 3+3?")])
    echoed = fake.requests[1].json()["messages"][1]["content"]
    assert echoed == content


async def test_the_session_token_stays_out_of_logs_and_errors(
    fake: Any, helpers: Any, make_client: Any, env_keys: None, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG, through a success and a refusal, no log record or error shows the secret key or the session token."""
    caplog.set_level(logging.DEBUG)
    fake.add(helpers.answer_reply(helpers.answer()), helpers.aws_error(403, "UnrecognizedClientException", "bad token"))
    async with make_client(max_retries=0) as client:
        reply = await client.chat(f"bedrock/{helpers.MODEL}", "hi")
        with pytest.raises(clawdesk.AllProvidersFailed) as caught:
            await client.chat(f"bedrock/{helpers.MODEL}", "hi")
        shown = repr(reply) + repr(client.provider_config("bedrock"))
    shown += "".join(traceback.format_exception(caught.value)) + caplog.text
    assert helpers.SECRET not in shown
    assert helpers.TOKEN not in shown
