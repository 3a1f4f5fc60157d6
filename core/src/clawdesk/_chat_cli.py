"""``clawdesk chat``: one answer through the fallback engine, streamed or whole.

Without ``-m`` the configured chain is used (:func:`~clawdesk.default_candidates`);
``-m provider/model`` pins one model (retries still apply). ``--explain``
prints every attempt and skip on stderr as it happens; ``--json`` prints one
object at the end (also on failure: ``error``, the ``attempts`` and, for a
stream cut short, the ``content`` delivered before the cut).
Errors are raised to :mod:`clawdesk._cli`, which prints one line and sets the
exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ._errors import AllProvidersFailed, ClawdeskError, ProviderError, StreamInterrupted
from ._types import Finish, Message, TextDelta, ToolCall, ToolCallEvent, Usage, UsageEvent

if TYPE_CHECKING:
    from ._client import Clawdesk
    from ._fallback import Attempt

__all__ = ["run_chat"]


def _messages(args: argparse.Namespace, prompt: str) -> list[Message]:
    messages = [Message.system(args.system)] if args.system else []
    messages.append(Message.user(prompt))
    return messages


async def run_chat(client: Clawdesk, args: argparse.Namespace, prompt: str) -> int:
    """Run ``clawdesk chat`` with parsed ``args``; returns the exit status or raises a clawdesk error."""
    seen: list[Attempt] = []

    def on_attempt(attempt: Attempt) -> None:
        seen.append(attempt)
        if args.explain:
            print(f"clawdesk: {attempt}", file=sys.stderr, flush=True)

    messages = _messages(args, prompt)
    try:
        if args.no_stream:
            return await _whole(client, args, messages, on_attempt)
        return await _streamed(client, args, messages, on_attempt)
    except ClawdeskError as exc:
        if args.json and isinstance(exc, (ProviderError, AllProvidersFailed)):
            attempts = exc.attempts if isinstance(exc, AllProvidersFailed) else _latest(seen)
            kind = exc.kind if isinstance(exc, ProviderError) else "all_providers_failed"
            data: dict[str, Any] = {"error": {"kind": kind, "message": str(exc)}}
            if isinstance(exc, StreamInterrupted):
                data["content"] = "".join(e.text for e in exc.delivered if isinstance(e, TextDelta))
            data["attempts"] = [a.to_dict() for a in attempts]
            _dump(data)
        raise


async def _whole(client: Clawdesk, args: argparse.Namespace, messages: list[Message], on_attempt: Any) -> int:
    result = await client.engine.chat(args.model, messages, on_attempt=on_attempt)
    response = result.response
    if args.explain:
        print(f"clawdesk: answered by {result.target}", file=sys.stderr)
    if args.json:
        _print_result(
            provider=response.provider,
            model=response.model,
            content=response.message.text,
            calls=response.message.tool_calls,
            finish=response.finish_reason.value,
            usage=response.usage,
            attempts=result.attempts,
        )
    else:
        sys.stdout.write(response.message.text)
        sys.stdout.write("\n")
    return 0


async def _streamed(client: Clawdesk, args: argparse.Namespace, messages: list[Message], on_attempt: Any) -> int:
    text: list[str] = []
    calls: list[ToolCall] = []
    usage = Usage()
    finish: Finish | None = None
    open_line = False
    stream = client.engine.stream(args.model, messages, on_attempt=on_attempt)
    try:
        async with stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    text.append(event.text)
                    if not args.json and event.text:
                        sys.stdout.write(event.text)
                        sys.stdout.flush()
                        open_line = not event.text.endswith("\n")
                elif isinstance(event, ToolCallEvent):
                    calls.append(event.call)
                elif isinstance(event, UsageEvent):
                    usage = event.usage
                elif isinstance(event, Finish):
                    finish = event
    finally:
        if open_line:
            # What was printed stays; the error line (if any) goes on its own line.
            sys.stdout.write("\n")
            sys.stdout.flush()
            open_line = False
    target = stream.target
    assert target is not None  # set once the first event was delivered
    if args.explain:
        print(f"clawdesk: answered by {target}", file=sys.stderr)
    if args.json:
        _print_result(
            provider=target.provider,
            model=target.model,
            content="".join(text),
            calls=calls,
            finish=finish.reason.value if finish else None,
            usage=usage,
            attempts=stream.attempts,
        )
    elif calls:
        for call in calls:
            print(f"[tool call {call.name}({json.dumps(dict(call.arguments), ensure_ascii=False)})]")
    return 0


def _latest(seen: list[Attempt]) -> list[Attempt]:
    """The attempts as last reported (a started stream that failed reports its try twice)."""
    result: list[Attempt] = []
    for attempt in seen:
        if (
            result
            and attempt.outcome == "failed"
            and result[-1].outcome == "ok"
            and (result[-1].provider, result[-1].model, result[-1].number)
            == (attempt.provider, attempt.model, attempt.number)
        ):
            result[-1] = attempt
        else:
            result.append(attempt)
    return result


def _print_result(
    *,
    provider: str,
    model: str,
    content: str,
    calls: Any,
    finish: str | None,
    usage: Usage,
    attempts: Any,
) -> None:
    _dump(
        {
            "provider": provider,
            "model": model,
            "content": content,
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": dict(c.arguments)} for c in calls],
            "finish_reason": finish,
            "usage": _usage(usage),
            "attempts": [a.to_dict() for a in attempts],
        }
    )


def _usage(usage: Usage) -> dict[str, int | None]:
    """Input and output tokens, and the parts of them a provider reported (cached, cache writes, reasoning)."""
    out = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
    for name in ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
        value = getattr(usage, name)
        if value is not None:
            out[name] = value
    return out


def _dump(data: object) -> None:
    from ._cli import _utf8

    # Escapes where stdout cannot take the characters, so the output stays valid JSON.
    json.dump(data, sys.stdout, ensure_ascii=not _utf8(sys.stdout))
    sys.stdout.write("\n")
    sys.stdout.flush()
