"""The Messages API's stream, event by event: from the data of each SSE event to clawdesk's stream events.

Pure code (no httpx, no I/O): :class:`EventReader` is fed the JSON payload of
each server-sent event in order and answers with at most one clawdesk event
per payload, so that every rule below is testable without a server.

- ``message_start``: the message id, the model and the first usage counts;
- ``content_block_start`` / ``content_block_delta`` / ``content_block_stop``:
  ``text_delta`` gives :class:`~clawdesk.TextDelta`; ``thinking_delta`` a
  :class:`~clawdesk.ReasoningDelta`; ``signature_delta`` a reasoning delta
  carrying the signature (it closes the thinking block); a
  ``redacted_thinking`` block one carrying its data; ``input_json_delta``
  pieces are joined per block and parsed when the stream ends (a tool with
  no arguments sends only ``""``: ``{}``); ``citations_delta`` and block or
  delta types added later carry nothing for clawdesk;
- ``message_delta``: the stop reason, and usage that replaces what came
  before (the API sends running totals);
- ``message_stop``: the end marker (:attr:`EventReader.done`);
- ``ping`` and unknown event types: ignored;
- ``error``: raised as its typed error (see
  :func:`~clawdesk_anthropic._wire.error_from_event`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clawdesk import ApiError, FinishReason, ReasoningDelta, StreamEvent, TextDelta, Truncated
from clawdesk.provider import StreamTail, ToolCallAssembler, loads_json, short_text

from ._config import PLUGIN
from ._wire import error_from_event, finish_reason, usage_from

__all__ = ["EventReader"]

_loads = loads_json  # json.loads's results, about 4x faster per event


class EventReader:
    """One streamed answer's state; feed it each event's data with :meth:`feed`, then call :meth:`close`."""

    __slots__ = ("_calls", "_model", "_provider", "_tail", "_usage", "done", "message_id")

    def __init__(self, provider: str, model: str) -> None:
        self._provider = provider
        self._model = model
        self._calls = ToolCallAssembler(provider)
        self._tail = StreamTail()
        self._usage: dict[str, Any] = {}
        #: Whether ``message_stop`` came: the answer is whole.
        self.done = False
        #: The ``msg_...`` id from ``message_start``.
        self.message_id: str | None = None

    def feed(self, data: str) -> StreamEvent | None:
        """The clawdesk event for one SSE payload (often none); raises the typed error of an ``error`` event."""
        try:
            event = _loads(data)
            kind = event["type"]
        except (ValueError, RecursionError, LookupError, TypeError):
            raise ApiError(
                f"a stream event is not a JSON object with a type: {short_text(data, 60)!r}", provider=self._provider
            ) from None
        if kind == "content_block_delta":
            delta = event.get("delta")
            if type(delta) is not dict and not isinstance(delta, Mapping):  # the exact type first: cheaper
                return None
            what = delta.get("type")
            if what == "text_delta":
                text = delta.get("text")
                return TextDelta(text) if isinstance(text, str) and text else None
            if what == "input_json_delta":
                piece = delta.get("partial_json")
                if isinstance(piece, str):
                    self._calls.add(_index(event), arguments=piece)
                return None
            if what == "thinking_delta":
                text = delta.get("thinking")
                return ReasoningDelta(text, source=PLUGIN) if isinstance(text, str) and text else None
            if what == "signature_delta":
                signature = delta.get("signature")
                return ReasoningDelta("", signature=signature, source=PLUGIN) if isinstance(signature, str) else None
            return None  # citations_delta and delta types added later
        if kind == "content_block_start":
            return self._start(event)
        if kind == "message_delta":
            delta = event.get("delta")
            if isinstance(delta, Mapping) and isinstance(delta.get("stop_reason"), str):
                raw = delta["stop_reason"]
                self._tail.finish(finish_reason(raw), raw)
            self._merge_usage(event.get("usage"))
            return None
        if kind == "message_start":
            message = event.get("message")
            if isinstance(message, Mapping):
                if isinstance(message.get("id"), str):
                    self.message_id = message["id"]
                self._merge_usage(message.get("usage"))
            return None
        if kind == "message_stop":
            self.done = True
            return None
        if kind == "error":
            raise error_from_event(event, provider=self._provider, model=self._model)
        return None  # ping, content_block_stop, and event types added later

    def _start(self, event: Mapping[str, Any]) -> StreamEvent | None:
        block = event.get("content_block")
        if not isinstance(block, Mapping):
            return None
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            return TextDelta(text) if isinstance(text, str) and text else None
        if kind == "thinking":
            text = block.get("thinking")
            return ReasoningDelta(text, source=PLUGIN) if isinstance(text, str) and text else None
        if kind == "redacted_thinking":
            data = block.get("data")
            return ReasoningDelta("", redacted=data, source=PLUGIN) if isinstance(data, str) else None
        if kind == "tool_use":
            call_id, name, arguments = block.get("id"), block.get("name"), block.get("input")
            self._calls.add(
                _index(event),
                call_id=call_id if isinstance(call_id, str) else None,
                name=name if isinstance(name, str) else None,
                # The start carries {} and the arguments follow as pieces; a whole input is taken as it is.
                arguments=arguments if isinstance(arguments, Mapping) and arguments else None,
            )
        return None

    def _merge_usage(self, usage: Any) -> None:
        # Running totals: a later figure replaces an earlier one, key by key.
        if isinstance(usage, Mapping):
            self._usage.update(usage)

    def close(self, request_id: str | None) -> list[StreamEvent]:
        """The closing events once ``message_stop`` came: tool calls, usage, then one Finish.

        A tool call whose arguments are not JSON raises
        :class:`~clawdesk.Truncated` (not retryable: the same request stops at
        the same place) when the answer stopped at ``max_tokens``, the
        arguments being cut there, and :class:`~clawdesk.ApiError` otherwise.
        """
        try:
            calls = self._calls.complete()
        except ApiError as exc:
            if self._tail.reason is FinishReason.LENGTH:
                raise Truncated(
                    f"the answer reached max_tokens inside a tool call's arguments ({exc.detail}); "
                    "raise max_tokens to get the whole call",
                    provider=self._provider,
                    retryable=False,
                    request_id=request_id,
                ) from None
            raise
        if self._usage:
            self._tail.usage(usage_from(self._usage))
        return self._tail.events(calls, request_id=request_id, default=FinishReason.OTHER)


def _index(event: Mapping[str, Any]) -> int | None:
    index = event.get("index")
    return index if type(index) is int else None
