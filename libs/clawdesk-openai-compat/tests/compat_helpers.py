"""Helpers for the library's tests: a provider config, and calls of the shared wire against a scripted server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from clawdesk import ChatOptions, ChatRequest, ChatResponse, Message, Secret, StreamEvent
from clawdesk.provider import ProviderConfig
from clawdesk_openai_compat import DIALECTS, Dialect, chat, encode_chat, make_wire, stream

KEY = "sk-compat-test-0123456789"


def config(url: str, **kw: Any) -> ProviderConfig:
    """A provider named ``acme`` pointed at ``url``."""
    kw.setdefault("api_key", Secret(KEY))
    kw.setdefault("api_key_env", "ACME_API_KEY")
    return ProviderConfig(base_url=url, name="acme", timeout_secs=5.0, **kw)


def request(*messages: Message, **options: Any) -> ChatRequest:
    return ChatRequest("acme-1", messages or (Message.user("hi"),), ChatOptions(**options))


async def call_chat(url: str, req: ChatRequest | None = None, dialect: Dialect | None = None) -> ChatResponse:
    """One chat through the shared wire (openai-compatible dialect unless given)."""
    dialect = dialect or DIALECTS["openai-compatible"]
    req = req or request()
    cfg = config(url)
    async with httpx.AsyncClient() as http:
        wire = make_wire(cfg, http, dialect=dialect)
        body = encode_chat(req, dialect=dialect, provider=wire.provider, stream=False)
        return await chat(wire, body, model=req.model)


async def call_stream(
    url: str, req: ChatRequest | None = None, dialect: Dialect | None = None
) -> Sequence[StreamEvent]:
    """Every event of one stream through the shared wire."""
    dialect = dialect or DIALECTS["openai-compatible"]
    req = req or request()
    cfg = config(url)
    async with httpx.AsyncClient() as http:
        wire = make_wire(cfg, http, dialect=dialect, streaming=True)
        body = encode_chat(req, dialect=dialect, provider=wire.provider, stream=True)
        return [event async for event in stream(wire, body, model=req.model)]
