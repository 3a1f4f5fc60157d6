"""A small provider for CLI cases no first-party plugin produces (an answer a content filter stopped).

It speaks a minimal NDJSON wire over real HTTP, on the wire toolkit like any
plugin: ``POST {base_url}/chat`` with ``{"model", "messages"}``; the answer is
lines of ``{"text": "..."}`` and a last ``{"finish": "<reason>"}`` whose
reason is one of :class:`~clawdesk.FinishReason`'s values.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from clawdesk import ChatRequest, ChatResponse, Finish, FinishReason, Message, StreamEvent, TextDelta
from clawdesk.provider import hookimpl
from clawdesk.testing import Reply

CLAWDESK_CONTRACT = 2


class FilterProvider:
    """The ``filtered`` provider (a plugin object registered at run time)."""

    CLAWDESK_CONTRACT = 2

    @hookimpl
    def provider_name(self) -> str:
        return "filtered"

    @hookimpl
    async def provider_models(self) -> list[Any]:
        return []

    @hookimpl
    def provider_capabilities(self, model: str) -> None:
        return None

    @staticmethod
    def reply(pieces: list[str], *, finish: str) -> Reply:
        lines = [json.dumps({"text": p}).encode() + b"\n" for p in pieces]
        lines.append(json.dumps({"finish": finish}).encode() + b"\n")
        return Reply.stream(lines, content_type="application/x-ndjson")

    @hookimpl
    async def provider_chat(self, config: Any, http: Any, request: ChatRequest) -> ChatResponse:
        events = [event async for event in self._stream(config, http, request)]
        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        finish = next(e for e in events if isinstance(e, Finish))
        return ChatResponse(
            message=Message.assistant(text),
            finish_reason=finish.reason,
            finish_reason_raw=finish.raw,
            provider=config.name,
            model=request.model,
        )

    @hookimpl
    def provider_stream(self, config: Any, http: Any, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(config, http, request)

    async def _stream(self, config: Any, http: Any, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        from clawdesk.provider import NDJSONDecoder, Wire

        wire = Wire(config, http)
        body = wire.encode({"model": request.model, "messages": [m.text for m in request.messages]})
        decoder = NDJSONDecoder()
        finish: Finish | None = None
        async with wire.stream("POST", "/chat", body, model=request.model, end_marker='{"finish": ...}') as reply:
            async for chunk in reply.chunks():
                for line in decoder.feed(chunk):
                    data = json.loads(line)
                    if "finish" in data:
                        finish = Finish(FinishReason(data["finish"]), data["finish"])
                        reply.end()
                        break
                    yield TextDelta(data["text"])
                if reply.ended:
                    break
        assert finish is not None
        yield finish
