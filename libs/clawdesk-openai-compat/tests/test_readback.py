"""The kit's read-back of the chat completions wire: strict on shapes, and a round trip with the encoder."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from clawdesk import ProviderError, ToolChoiceMode
from clawdesk.provider import encode_json
from clawdesk.testing import RecordedRequest, strategies
from clawdesk.testing._readback import compare_messages, compare_options
from clawdesk_openai_compat import DIALECTS, encode_chat
from clawdesk_openai_compat.testing import read_chat_request


def _sent(body: Any) -> RecordedRequest:
    return RecordedRequest("POST", "/v1/chat/completions", {}, json.dumps(body).encode())


BASE = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("tool_choice", "lookup_weather", "tool_choice 'lookup_weather'"),
        ("tool_choice", {"type": "tool", "name": "x"}, "tool_choice"),
        ("response_format", {"type": "json"}, "response_format"),
        ("tools", [{"name": "x"}], "tools[0]"),
        ("messages", [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}], "image_url"),
        ("messages", [{"role": "robot", "content": "hi"}], "messages[0]"),
    ],
)
def test_a_shape_the_wire_does_not_take_is_named(field: str, value: Any, named: str) -> None:
    """A field in a shape chat completions servers refuse raises ValueError naming it, never reads as valid."""
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("]", r"\]")):
        read_chat_request(_sent({**BASE, field: value}))


def test_unknown_fields_are_the_provider_options() -> None:
    """Fields of no chat completions meaning come back as the provider's own options; the known ones do not."""
    view = read_chat_request(_sent({**BASE, "safe_prompt": True, "random_seed": 7, "stream": True}))
    assert view.provider_options == {"safe_prompt": True}
    assert view.options == {"seed": 7}
    assert view.stream is True


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.chat_requests(model="gpt-test"))
def test_what_the_encoder_sends_reads_back_as_asked(request: Any) -> None:
    """Any request OpenAI's dialect encodes reads back with every message, option and tool as asked."""
    try:
        body = encode_chat(request, dialect=DIALECTS["openai"], provider="openai", stream=False)
        # What the wire does before sending: a value JSON cannot carry is InvalidRequest.
        raw = encode_json(body, provider="openai")
    except ProviderError:
        return  # refused before sending: what the kit allows
    view = read_chat_request(RecordedRequest("POST", "/v1/chat/completions", {}, raw))
    assert view.model == "gpt-test"
    assert compare_messages(request.messages, view.messages, reasoning=False) == []
    options = request.options
    asked = {
        name: getattr(options, name)
        for name in ("temperature", "top_p", "max_tokens", "seed")
        if getattr(options, name) is not None
    }
    if options.stop:
        asked["stop"] = options.stop
    assert compare_options(asked, view.options) == []
    assert [t.name for t in view.tools] == [t.name for t in options.tools]
    choice = options.tool_choice
    if options.tools and choice is not None:
        assert view.tool_choice == choice
    elif choice is not None and choice.mode is ToolChoiceMode.FUNCTION:
        raise AssertionError("a forced function without tools was sent")
