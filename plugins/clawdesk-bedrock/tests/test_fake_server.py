"""The scripted Bedrock is faithful: botocore's own client is accepted by its signature check and reads its answers."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import botocore.session
import pytest


def _client(fake: Any, helpers: Any, *, secret: str | None = None) -> Any:
    session = botocore.session.Session()
    return session.create_client(
        "bedrock-runtime",
        region_name=helpers.REGION,
        endpoint_url=fake.url,
        aws_access_key_id=helpers.KEY_ID,
        aws_secret_access_key=secret or helpers.SECRET,
        aws_session_token=helpers.TOKEN,
    )


def test_botocore_converse_is_accepted_and_parsed(fake: Any, helpers: Any) -> None:
    """botocore's signed Converse call passes the fake's signature check, and botocore parses the fake's answer."""
    fake.add(helpers.answer_reply(helpers.answer([{"text": "Hi from the fake"}])))
    result = _client(fake, helpers).converse(
        modelId="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        messages=[{"role": "user", "content": [{"text": "hello"}]}],
    )
    assert result["output"]["message"]["content"] == [{"text": "Hi from the fake"}]
    assert fake.accepted == [f"sigv4:{helpers.KEY_ID}"]
    # botocore sends the model id percent-encoded once in the path, as the plugin does.
    assert fake.requests[0].path == "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"


def test_botocore_reads_the_fakes_event_stream(fake: Any, helpers: Any) -> None:
    """botocore's event-stream parser reads the fake's frames (padding included) as the events they are."""
    frames = helpers.text_frames("Hel", "lo")
    frames[1:1] = helpers.tool_frames("tooluse_1", "lookup", ['{"ci', 'ty": "Oslo"}'], index=1)
    fake.add(helpers.stream_reply(frames))
    result = _client(fake, helpers).converse_stream(
        modelId=helpers.MODEL, messages=[{"role": "user", "content": [{"text": "hello"}]}]
    )
    events = list(result["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds == [
        "messageStart",
        "contentBlockStart",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert events[-1]["metadata"]["usage"] == helpers.USAGE
    assert events[1]["contentBlockStart"] == {
        "contentBlockIndex": 1,
        "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "lookup"}},
    }


def test_botocore_sees_an_in_stream_exception(fake: Any, helpers: Any) -> None:
    """An exception frame from the fake is what botocore raises as the modeled exception."""
    fake.add(
        helpers.stream_reply(
            [
                helpers.frame("messageStart", {"role": "assistant"}),
                helpers.exception_frame("throttlingException", "slow down"),
            ]
        )
    )
    result = _client(fake, helpers).converse_stream(
        modelId=helpers.MODEL, messages=[{"role": "user", "content": [{"text": "hello"}]}]
    )
    with pytest.raises(botocore.exceptions.EventStreamError, match="slow down"):
        list(result["stream"])


def test_a_wrong_secret_is_refused_like_aws(fake: Any, helpers: Any) -> None:
    """A signature made with another secret gets AWS's InvalidSignatureException (which botocore reads as such)."""
    fake.add(helpers.answer_reply(helpers.answer()))
    client = _client(fake, helpers, secret="not-the-secret-0123456789")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.converse(modelId=helpers.MODEL, messages=[{"role": "user", "content": [{"text": "hello"}]}])
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert fake.accepted == []
