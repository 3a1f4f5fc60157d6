"""The kit's comparison of what a request asked with what its read-back says reached the wire."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from clawdesk import ImagePart, Message, ReasoningPart, Role, ToolCall
from clawdesk.testing import SentMessage, strategies
from clawdesk.testing._readback import compare_messages, compare_options, data_url_bytes

PNG = b"\x89PNG\r\n\x1a\n-image-"


@given(st.binary(max_size=64), st.sampled_from(["image/png", "application/pdf", "text/plain"]))
def test_a_base64_data_url_gives_back_its_bytes(data: bytes, media_type: str) -> None:
    """Any bytes sent as a base64 data: URL read back as the same bytes."""
    assert data_url_bytes(f"data:{media_type};base64,{base64.b64encode(data).decode()}") == data


def test_other_urls_give_no_bytes() -> None:
    """An https URL, a data: URL without base64 and broken base64 are not inline bytes."""
    assert data_url_bytes("https://example.com/a.png") is None
    assert data_url_bytes("data:text/plain,hello") is None
    assert data_url_bytes("data:image/png;base64,%%%") is None


def test_inline_image_as_data_url_equals_its_bytes() -> None:
    """An image asked as bytes and sent as a data: URL compares equal; text joined with other spacing too."""
    asked = [Message.user(["Look:", ImagePart(data=PNG, media_type="image/png"), "What is it?"])]
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    sent = [SentMessage(role=Role.USER, parts=["Look:\nWhat is it?", ImagePart(url=url)])]
    assert compare_messages(asked, sent) == []


def test_a_dropped_image_and_dropped_text_are_named() -> None:
    """A message that lost its image, or its text, is reported with the index and what is missing."""
    asked = [Message.user(["Look:", ImagePart(data=PNG, media_type="image/png")])]
    assert compare_messages(asked, [SentMessage(role=Role.USER, parts="Look:")]) == [
        f"messages[0]: an image ({len(PNG)} bytes) asked by the request is not in what was sent"
    ]
    problems = compare_messages(asked, [SentMessage(role=Role.USER, parts=[ImagePart(data=PNG, media_type="x")])])
    assert problems == ["messages[0]: text sent as '' but the request asked 'Look:'"]


def test_roles_counts_calls_and_result_ids_are_compared() -> None:
    """A wrong role, a missing message, changed call arguments and a wrong result id each give a line."""
    call = ToolCall("c1", "f", {"a": 1})
    asked = [Message.assistant("x", tool_calls=[call]), Message.tool_result("c1", "ok")]
    sent = [
        SentMessage(role=Role.ASSISTANT, parts="x", tool_calls=[ToolCall("c1", "f", {"a": 2})]),
        SentMessage(role=Role.TOOL, parts="ok", tool_call_id="c2"),
    ]
    assert compare_messages(asked, sent) == [
        "messages[0].tool_calls[0]: arguments sent as {'a': 2} but the request asked {'a': 1}",
        "messages[1]: the tool result's call id sent as 'c2' but the request asked 'c1'",
    ]
    assert compare_messages(asked, sent[:1])[0].startswith("messages: the request asked 2 messages")
    wrong_role = [SentMessage(role=Role.USER, parts="x", tool_calls=[call]), sent[1]]
    assert (
        compare_messages(asked, wrong_role)[0] == "messages[0] sent with role 'user' but the request asked 'assistant'"
    )


def test_no_ids_on_the_wire_are_not_a_difference() -> None:
    """A call read back with id '' and a result with tool_call_id None match any id (wires without ids)."""
    asked = [Message.assistant(tool_calls=[ToolCall("c1", "f", {})]), Message.tool_result("c1", "ok")]
    sent = [
        SentMessage(role=Role.ASSISTANT, tool_calls=[ToolCall("", "f", {})]),
        SentMessage(role=Role.TOOL, parts="ok"),
    ]
    assert compare_messages(asked, sent) == []


def test_reasoning_is_compared_unless_the_wire_has_no_place() -> None:
    """A signature lost on the way is named; with reasoning=False reasoning parts are left out."""
    asked = [Message.assistant([ReasoningPart("think", signature="s1"), "hi"])]
    sent = [SentMessage(role=Role.ASSISTANT, parts=[ReasoningPart("think"), "hi"])]
    assert "a reasoning part 'think' (signature 's1')" in compare_messages(asked, sent)[0]
    assert compare_messages(asked, sent, reasoning=False) == []


def test_options_compare_values_not_spellings() -> None:
    """Floats compare closely, a stop tuple equals a list, a bool is not the number 1, a missing one is named."""
    assert (
        compare_options({"temperature": 0.37, "stop": ("a", "b")}, {"temperature": 0.37000000001, "stop": ["a", "b"]})
        == []
    )
    assert compare_options({"seed": 1}, {"seed": True}) == ["seed sent as True but the request asked 1"]
    assert compare_options({"top_k": 17}, {}) == ["top_k (17) asked by the request is not in what was sent"]
    assert compare_options({"top_k": 17}, {"top_k": "17"}) == ["top_k sent as '17' but the request asked 17"]


@given(st.lists(strategies.messages(source="lark"), min_size=1, max_size=4))
def test_messages_sent_as_asked_compare_equal(messages: list[Message]) -> None:
    """Any conversation read back exactly as asked shows no difference; dropping any part of it does."""
    sent = [
        SentMessage(role=m.role, parts=m.content, tool_calls=m.tool_calls, tool_call_id=m.tool_call_id)
        for m in messages
    ]
    assert compare_messages(messages, sent) == []
    assert compare_messages(messages, sent[1:]) != []
