"""``clawdesk chat``: stream or fetch one answer and print it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._client import Clawdesk
from ._errors import ConfigError
from ._types import (
    ChatResponse,
    Finish,
    Message,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
    UsageEvent,
)

__all__ = ["default_candidates", "run_chat"]


def default_candidates(client: Clawdesk) -> list[str]:
    """What ``chat`` tries when no ``-m`` is given.

    The ``[fallback] chain`` if set; else ``default_model``; else the providers
    that have a ``[providers.*]`` table; else every loaded provider that needs
    no key (Ollama, the local default) followed by those whose key is set.
    """
    config = client.config
    if config.fallback.chain:
        return list(config.fallback.chain)
    if config.default_model:
        return [config.default_model]
    loaded = client.providers()
    configured = [name for name in config.providers if name in loaded]
    if configured:
        return configured
    keyless, keyed = [], []
    for name in loaded:
        provider = client.registry.provider(name)
        if not provider.config_type.requires_api_key:
            keyless.append(name)
        elif client.provider_config(name).api_key:
            keyed.append(name)
    candidates = keyless + keyed
    if not candidates:
        raise ConfigError(
            "no provider to use: install clawdesk-ollama and start Ollama, or configure a provider "
            "(e.g. set MISTRAL_API_KEY) and pass -m PROVIDER/MODEL"
        )
    return candidates


def _messages(args: argparse.Namespace, prompt: str) -> list[Message]:
    messages = [Message.system(args.system)] if args.system else []
    messages.append(Message.user(prompt))
    return messages


async def run_chat(client: Clawdesk, args: argparse.Namespace, prompt: str) -> int:
    candidates = [args.model] if args.model else default_candidates(client)
    target = client.resolve(candidates[0])
    messages = _messages(args, prompt)
    request = client._request(target, messages, None)
    if args.no_stream:
        response = await client.chat_target(target, request)
        if not args.json:
            sys.stdout.write(response.message.text)
            sys.stdout.write("\n")
        else:
            _print_result(
                response.provider,
                response.model,
                response.message.text,
                response.message.tool_calls,
                response.finish_reason_raw or response.finish_reason.value,
                response.usage,
                [],
            )
        return 0
    text: list[str] = []
    calls: list[ToolCall] = []
    usage = Usage()
    finish = None
    async with client.stream_target(target, request) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                text.append(event.text)
                if not args.json:
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
            elif isinstance(event, ReasoningDelta):
                pass
            elif isinstance(event, ToolCallEvent):
                calls.append(event.call)
            elif isinstance(event, UsageEvent):
                usage = event.usage
            elif isinstance(event, Finish):
                finish = event
    if args.json:
        _print_result(
            target.provider, target.model, "".join(text), calls, finish.reason.value if finish else None, usage, []
        )
    else:
        sys.stdout.write("\n")
    return 0


def _print_result(
    provider: str, model: str, content: str, calls: Any, finish: str | None, usage: Usage, attempts: list[Any]
) -> None:
    data = {
        "provider": provider,
        "model": model,
        "content": content,
        "tool_calls": [{"id": c.id, "name": c.name, "arguments": dict(c.arguments)} for c in calls],
        "finish_reason": finish,
        "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
        "attempts": attempts,
    }
    json.dump(data, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


_ = ChatResponse
