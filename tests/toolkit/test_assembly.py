"""The toolkit's assembly helpers: tool calls from deltas, stable ids, tool names, the stream tail."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import (
    ApiError,
    Finish,
    FinishReason,
    Message,
    ToolCall,
    ToolCallEvent,
    Usage,
    UsageEvent,
)
from clawdesk.provider import StreamTail, ToolCallAssembler, parse_arguments, stable_call_id, tool_call_names

_names = st.from_regex(r"[a-z_]{1,8}", fullmatch=True)
_args = st.dictionaries(_names, st.integers() | st.text(max_size=5) | st.none(), max_size=3)


@given(calls=st.lists(st.tuples(_names, _args), min_size=1, max_size=3), data=st.data())
def test_pieces_by_index_any_split(calls: list[tuple[str, dict[str, Any]]], data: st.DataObject) -> None:
    """Arguments cut anywhere over deltas that share an index come back whole and parsed."""
    assembler = ToolCallAssembler("acme")
    for index, (name, args) in enumerate(calls):
        text = json.dumps(args)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=4)))
        pieces = [text[a:b] for a, b in itertools.pairwise([0, *cuts, len(text)])]
        assembler.add(index, call_id=f"id{index}", name=name, arguments=pieces[0])
        for piece in pieces[1:]:
            assembler.add(index, arguments=piece)
    assert assembler.complete() == [ToolCall(f"id{i}", n, a) for i, (n, a) in enumerate(calls)]


def test_new_id_at_a_used_index_starts_a_new_call() -> None:
    """Some servers send every call at index 0: a new non-empty id there is a new call."""
    assembler = ToolCallAssembler("acme")
    assembler.add(0, call_id="a", name="f", arguments='{"x":1}')
    assembler.add(0, call_id="b", name="f", arguments='{"x":2}')
    assembler.add(0, arguments="")  # an empty piece adds nothing
    assert assembler.complete() == [ToolCall("a", "f", {"x": 1}), ToolCall("b", "f", {"x": 2})]


def test_keyed_by_id_and_whole_calls() -> None:
    """index None: pieces join the call with their id; a mapping is a whole call's arguments."""
    assembler = ToolCallAssembler("acme")
    assembler.add(None, call_id="a", name="f", arguments='{"x":')
    assembler.add(None, call_id="b", name="g", arguments={"y": 2})
    assembler.add(None, call_id="a", arguments="1}")
    assert assembler.complete() == [ToolCall("a", "f", {"x": 1}), ToolCall("b", "g", {"y": 2})]
    assert not assembler


def test_empty_arguments_are_an_empty_object_and_ids_are_made() -> None:
    first = ToolCallAssembler("acme", id_seed="t1")
    first.add(0, name="now", arguments="")
    second = ToolCallAssembler("acme", id_seed="t1")
    second.add(0, name="now", arguments="  ")
    [a], [b] = first.complete(), second.complete()
    assert a == b
    assert a.arguments == {}
    assert a.id.startswith("call_")
    assert len(a.id) == len("call_") + 24


@pytest.mark.parametrize(
    ("raw", "match"),
    [('{"x": ', "not valid JSON"), ("[1, 2]", "not a JSON object"), (3, "not a JSON object")],
)
def test_bad_arguments_are_a_typed_error(raw: Any, match: str) -> None:
    with pytest.raises(ApiError, match=match) as info:
        parse_arguments(raw, name="f", provider="acme")
    assert info.value.provider == "acme"
    assert not info.value.retryable


def test_call_without_a_name_is_an_error() -> None:
    assembler = ToolCallAssembler("acme")
    assembler.add(0, arguments="{}")
    with pytest.raises(ApiError, match="no function name"):
        assembler.complete()


@given(name=_names, args=_args, stamp=st.text(max_size=10))
def test_stable_ids_are_stable_and_positional(name: str, args: dict[str, Any], stamp: str) -> None:
    assert stable_call_id(stamp, 0, name, args) == stable_call_id(stamp, 0, name, dict(reversed(list(args.items()))))
    assert stable_call_id(stamp, 0, name, args) != stable_call_id(stamp, 1, name, args)


def test_tool_call_names_over_the_history() -> None:
    history = [
        Message.user("q"),
        Message.assistant(tool_calls=[ToolCall("c1", "lookup"), ToolCall("c2", "fetch")]),
        Message.tool_result("c1", "r1"),
        Message.assistant(tool_calls=[ToolCall("c3", "lookup")]),
    ]
    assert tool_call_names(history) == {"c1": "lookup", "c2": "fetch", "c3": "lookup"}


def test_stream_tail_one_finish_last_usage() -> None:
    """Exactly one Finish, at most one usage (the last reported), tool calls first, the request id on Finish."""
    tail = StreamTail()
    tail.usage(Usage(1, 1))
    tail.usage(None)
    tail.usage(Usage(5, 7))
    tail.finish(FinishReason.LENGTH, "length")
    call = ToolCall("a", "f")
    assert tail.events([call], request_id="r1") == [
        ToolCallEvent(call),
        UsageEvent(Usage(5, 7)),
        Finish(FinishReason.LENGTH, "length", request_id="r1"),
    ]
    assert StreamTail().events() == [Finish(FinishReason.STOP, None)]
    assert StreamTail().events(default=FinishReason.OTHER) == [Finish(FinishReason.OTHER, None)]
