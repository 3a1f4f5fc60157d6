"""The Messages API's wire format: request bodies out, answers and errors in. Pure functions, no I/O.

Encoding follows ``CreateMessageParams`` of Anthropic's OpenAPI document (and
the fields added since: adaptive thinking, ``output_config``). Whatever the
API cannot be told exactly is refused here, before anything is sent:
:class:`~clawdesk.CapabilityMissing` when another provider or model may
honour it (a fallback chain moves on), :class:`~clawdesk.InvalidRequest` when
the request is wrong for anyone.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from clawdesk import (
    ApiError,
    AuthFailed,
    Capability,
    CapabilityMissing,
    ChatRequest,
    ChatResponse,
    ContextLengthExceeded,
    DocumentPart,
    FinishReason,
    ImagePart,
    InvalidRequest,
    Message,
    ModelNotFound,
    PermissionDenied,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    Reasoning,
    ReasoningEffort,
    ReasoningPart,
    ResponseFormatKind,
    Role,
    TextPart,
    ToolCall,
    ToolChoiceMode,
    Usage,
)

from ._config import PLUGIN, AnthropicConfig, AnthropicOptions, samples
from ._models import ADAPTIVE, DISABLED, ENABLED, FALLBACK_MAX_TOKENS, ModelSpec, spec_for

__all__ = [
    "classify_body",
    "decode_message",
    "encode_request",
    "error_from_event",
    "finish_reason",
    "ratelimit_wait",
    "usage_from",
]

_DEFAULT_OPTIONS = AnthropicOptions()
# What the API accepts as a tool name and as a tool_use id.
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_PDF = "application/pdf"
_PLAIN = "text/plain"
#: The default ``max_tokens`` of a whole (non-streamed) answer at most: the official SDK's limit for
#: requests without streaming (an hour of output per 128,000 tokens, ten minutes at most).
NONSTREAM_MAX_TOKENS = 21_333
#: The smallest thinking budget the API takes.
MIN_BUDGET = 1024
# A thinking budget for an effort, on models that take a budget but no adaptive thinking.
_BUDGET = {
    None: 8192,
    ReasoningEffort.MINIMAL: MIN_BUDGET,
    ReasoningEffort.LOW: 2048,
    ReasoningEffort.MEDIUM: 8192,
    ReasoningEffort.HIGH: 16384,
    ReasoningEffort.MAX: 32768,
}
# ``output_config.effort`` for each effort (the API has no "minimal").
_EFFORT = {
    ReasoningEffort.MINIMAL: "low",
    ReasoningEffort.LOW: "low",
    ReasoningEffort.MEDIUM: "medium",
    ReasoningEffort.HIGH: "high",
    ReasoningEffort.MAX: "max",
}
_FINISH = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "refusal": FinishReason.CONTENT_FILTER,
}
# Blocks a cache_control breakpoint may sit on (thinking blocks take none).
_CACHEABLE = frozenset({"text", "image", "document", "tool_use", "tool_result"})


def _invalid(message: str, provider: str) -> InvalidRequest:
    return InvalidRequest(message, provider=provider)


def _missing(
    message: str, provider: str, *, option: str | None = None, capability: Capability | None = None
) -> CapabilityMissing:
    return CapabilityMissing(message, option=option, capability=capability, provider=provider)


# -- content ---------------------------------------------------------------------


def _data_url(url: str, where: str, provider: str) -> tuple[str, str]:
    """``(media_type, base64 data)`` of a ``data:`` URL (only base64 ones carry binary data)."""
    head, comma, data = url.partition(",")
    params = head[5:].split(";")
    if not comma or "base64" not in params[1:]:
        raise _invalid(f"{where}: only base64 data: URLs can be sent (data:<type>;base64,...)", provider)
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(f"{where}: the data: URL holds no valid base64", provider) from None
    return params[0].strip().lower(), data


def _remote(url: str, where: str, provider: str) -> str:
    scheme = url.partition(":")[0].lower()
    if scheme not in ("http", "https"):
        raise _invalid(f"{where}: Anthropic fetches http(s) URLs only, not {scheme or url!r}", provider)
    return url


def _image(part: ImagePart, where: str, spec: ModelSpec | None, provider: str) -> dict[str, Any]:
    if spec is not None and not spec.vision:
        raise _missing(f"{where}: {spec.id} takes no images", provider, capability=Capability.VISION)
    if part.data is not None:
        media_type, data = (part.media_type or "").lower(), base64.b64encode(part.data).decode("ascii")
    elif (part.url or "").lower().startswith("data:"):
        media_type, data = _data_url(part.url or "", where, provider)
    else:
        return {"type": "image", "source": {"type": "url", "url": _remote(part.url or "", where, provider)}}
    if media_type not in _IMAGE_TYPES:
        raise _missing(
            f"{where}: Anthropic takes JPEG, PNG, GIF and WebP images, not {media_type!r}",
            provider,
            capability=Capability.VISION,
        )
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _document(part: DocumentPart, where: str, spec: ModelSpec | None, provider: str) -> dict[str, Any]:
    if spec is not None and not spec.pdf:
        raise _missing(f"{where}: {spec.id} takes no documents", provider, capability=Capability.DOCUMENTS)
    if part.data is not None:
        media_type, data = (part.media_type or "").lower(), part.data
    elif (part.url or "").lower().startswith("data:"):
        media_type, encoded = _data_url(part.url or "", where, provider)
        data = base64.b64decode(encoded)
    else:
        source: dict[str, Any] = {"type": "url", "url": _remote(part.url or "", where, provider)}
        return _titled({"type": "document", "source": source}, part, where, provider)
    if media_type == _PDF:
        source = {"type": "base64", "media_type": _PDF, "data": base64.b64encode(data).decode("ascii")}
    elif media_type == _PLAIN:
        try:
            source = {"type": "text", "media_type": _PLAIN, "data": data.decode("utf-8")}
        except UnicodeDecodeError:
            raise _invalid(f"{where}: a text/plain document must be UTF-8", provider) from None
    else:
        raise _missing(
            f"{where}: Anthropic reads PDF (application/pdf) and plain text documents, not {media_type!r}",
            provider,
            capability=Capability.DOCUMENTS,
        )
    return _titled({"type": "document", "source": source}, part, where, provider)


def _titled(block: dict[str, Any], part: DocumentPart, where: str, provider: str) -> dict[str, Any]:
    if part.name:
        if len(part.name) > 500:
            raise _invalid(f"{where}: a document's name (its title) is at most 500 characters", provider)
        block["title"] = part.name
    return block


def _tool_id(call_id: str) -> str:
    """A tool call id as the API accepts it: characters other than letters, digits, ``_`` and ``-`` become ``_``.

    Applied alike to ``tool_use.id`` and ``tool_result.tool_use_id``, so calls
    made by another provider (with ids Anthropic would refuse) still pair up.
    """
    return call_id if not _NOT_ID.search(call_id) else _NOT_ID.sub("_", call_id)


def _reasoning(part: ReasoningPart) -> dict[str, Any] | None:
    """The thinking block for a reasoning part, or ``None`` when it cannot go back.

    Only reasoning this plugin made (``source == "anthropic"``) is sent back,
    unchanged: a ``thinking`` block with its signature, or a
    ``redacted_thinking`` block with its data. The API verifies signatures, so
    it refuses other providers' reasoning, and a thinking block without one:
    such reasoning stays out.
    """
    if part.source != PLUGIN:
        return None
    if part.redacted is not None:
        return {"type": "redacted_thinking", "data": part.redacted}
    if part.signature is not None:
        return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    return None


def _blocks(message: Message, where: str, spec: ModelSpec | None, provider: str) -> list[dict[str, Any]]:
    """The content blocks of a user, assistant or tool message."""
    assistant = message.role is Role.ASSISTANT
    blocks: list[dict[str, Any]] = []
    for i, part in enumerate(message.content):
        at = f"{where}.content[{i}]"
        kind = type(part)
        if kind is TextPart:
            if part.text:  # type: ignore[union-attr]
                blocks.append({"type": "text", "text": part.text})  # type: ignore[union-attr]
        elif kind is ReasoningPart:
            block = _reasoning(part)  # type: ignore[arg-type]
            if block is not None:
                blocks.append(block)
        elif assistant:
            raise _invalid(
                f"{at}: Claude's own turns hold text, thinking and tool calls, not images or documents", provider
            )
        elif kind is ImagePart:
            blocks.append(_image(part, at, spec, provider))  # type: ignore[arg-type]
        else:
            blocks.append(_document(part, at, spec, provider))  # type: ignore[arg-type]
    for call in message.tool_calls:
        if not call.name or len(call.name) > 200:
            raise _invalid(f"{where}: a tool call's name must be 1 to 200 characters, got {call.name!r}", provider)
        blocks.append({"type": "tool_use", "id": _tool_id(call.id), "name": call.name, "input": dict(call.arguments)})
    return blocks


def _tool_result(message: Message, where: str, spec: ModelSpec | None, provider: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": _tool_id(message.tool_call_id or "")}
    content = _blocks(message, where, spec, provider)
    if len(content) == 1 and content[0]["type"] == "text":
        block["content"] = content[0]["text"]
    elif content:
        block["content"] = content
    return block


def _system(message: Message, where: str, provider: str) -> list[dict[str, Any]]:
    blocks = []
    for i, part in enumerate(message.content):
        if type(part) is not TextPart:
            raise _invalid(f"{where}.content[{i}]: Anthropic's system prompt holds text only", provider)
        if part.text:
            blocks.append({"type": "text", "text": part.text})
    return blocks


def _conversation(
    messages: Sequence[Message], spec: ModelSpec | None, provider: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(system blocks, turns)``: system text lifted to the top, other messages as alternating turns.

    Tool results become ``tool_result`` blocks of a user turn; consecutive
    messages of one side are merged into one turn (tool results first, as the
    API wants them).
    """
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        role = message.role
        if role is Role.SYSTEM:
            if turns:
                raise _missing(
                    f"{where}: Anthropic has one system prompt, before the conversation; "
                    "a system message after other messages has no place",
                    provider,
                    option="messages",
                )
            system += _system(message, where, provider)
            continue
        if message.name is not None and role is not Role.TOOL:
            raise _missing(f"{where}: Anthropic has no name for {role.value} messages", provider, option="messages")
        if role is Role.TOOL:
            blocks = [_tool_result(message, where, spec, provider)]
        else:
            blocks = _blocks(message, where, spec, provider)
            if not blocks:
                what = "text or tool calls Anthropic can take" if role is Role.ASSISTANT else "content"
                raise _invalid(f"{where}: the message has no {what}", provider)
        side = "assistant" if role is Role.ASSISTANT else "user"
        if turns and turns[-1]["role"] == side:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": side, "content": blocks})
    if not turns:
        raise _invalid("messages: at least one user message is needed besides the system prompt", provider)
    for turn in turns:
        blocks = turn["content"]
        if turn["role"] == "user" and len(blocks) > 1:
            # The API wants a user turn's tool results before anything else in it.
            blocks.sort(key=lambda block: block["type"] != "tool_result")
    return system, turns


def _mark(blocks: list[dict[str, Any]], cache: dict[str, Any]) -> bool:
    for block in reversed(blocks):
        if block["type"] in _CACHEABLE:
            block["cache_control"] = cache
            return True
    return False


def _compact(turn: dict[str, Any]) -> dict[str, Any]:
    # One plain text block is sent as a string, as the API's own examples do.
    blocks = turn["content"]
    if len(blocks) == 1 and blocks[0]["type"] == "text" and len(blocks[0]) == 2:
        return {"role": turn["role"], "content": blocks[0]["text"]}
    return turn


# -- options ---------------------------------------------------------------------


def _finite(name: str, value: Any, provider: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise _invalid(f"options.{name}: expected a finite number >= 0, got {value!r}", provider)
    return value


def _sampling(request: ChatRequest, config: AnthropicConfig, body: dict[str, Any], provider: str) -> None:
    options = request.options
    given = {
        name: value
        for name, value in (("temperature", options.temperature), ("top_p", options.top_p), ("top_k", options.top_k))
        if value is not None
    }
    if not given:
        return
    if not samples(config.api_version):
        name = next(iter(given))
        raise _missing(
            f"options.{name}: anthropic-version {config.api_version} has no sampling settings "
            "(temperature, top_p, top_k); use api_version = '2023-06-01' to send them",
            provider,
            option=name,
        )
    if "temperature" in given:
        temperature = _finite("temperature", given["temperature"], provider)
        if temperature > 1:
            raise _missing(
                f"options.temperature: Anthropic takes 0 to 1, got {temperature!r}", provider, option="temperature"
            )
        body["temperature"] = temperature
    if "top_p" in given:
        top_p = _finite("top_p", given["top_p"], provider)
        if top_p > 1:
            raise _invalid(f"options.top_p: expected 0 to 1, got {top_p!r}", provider)
        body["top_p"] = top_p
    if "top_k" in given:
        top_k = given["top_k"]
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
            raise _invalid(f"options.top_k: expected an integer >= 0, got {top_k!r}", provider)
        body["top_k"] = top_k


def _max_tokens(
    request: ChatRequest, config: AnthropicConfig, spec: ModelSpec | None, provider: str, *, stream: bool
) -> int:
    """What ``max_tokens`` carries: the request's, else the config's (within the model's limit), else the limit.

    The model's limit as a default is cut to :data:`NONSTREAM_MAX_TOKENS` for
    a whole answer, which arrives only once it is complete.
    """
    asked = request.options.max_tokens
    limit = spec.max_output if spec is not None else None
    if asked is None:
        default = config.max_tokens
        if default is None:
            default = limit or FALLBACK_MAX_TOKENS
            return default if stream else min(default, NONSTREAM_MAX_TOKENS)
        return min(default, limit) if limit else default
    if isinstance(asked, bool) or not isinstance(asked, int) or asked < 1:
        raise _invalid(f"options.max_tokens: expected an integer >= 1, got {asked!r}", provider)
    if limit is not None and asked > limit:
        raise _missing(
            f"options.max_tokens: {spec.id if spec else request.model} writes at most {limit} tokens, {asked} asked",
            provider,
            option="max_tokens",
        )
    return asked


def _thinking(
    reasoning: Reasoning | None, spec: ModelSpec | None, max_tokens: int, provider: str
) -> tuple[dict[str, Any] | None, str | None]:
    """``(thinking, effort)`` for :attr:`~clawdesk.ChatOptions.reasoning` on this model.

    - none asked: nothing is sent (the model's default);
    - turned off (effort ``none`` or a budget of 0): ``{"type": "disabled"}``,
      refused on a model that always thinks;
    - a budget: ``{"type": "enabled", "budget_tokens": n}`` (at least 1024 and
      below ``max_tokens``), refused on a model that thinks only adaptively;
      an effort given with it goes to ``output_config.effort`` where the model
      takes one;
    - an effort, or ``Reasoning()``: adaptive thinking (``{"type": "adaptive"}``
      with ``output_config.effort``) where the model has it, else a budget
      for the effort (1024 for minimal, 2048 low, 8192 medium or none given,
      16384 high, 32768 max; kept below ``max_tokens``).

    A model the catalogue and refreshes do not know is asked as a current
    model: adaptive thinking.
    """
    if reasoning is None:
        return None, None
    types = spec.thinking if spec is not None else frozenset({ADAPTIVE, ENABLED, DISABLED})
    name = spec.id if spec is not None else "this model"
    if not reasoning.enabled:
        if not types:
            return None, None  # a model that never thinks is already not thinking
        if DISABLED not in types:
            raise _missing(
                f"options.reasoning: {name} always thinks; it cannot be turned off", provider, option="reasoning"
            )
        return {"type": DISABLED}, None
    if not types - {DISABLED}:
        raise _missing(f"options.reasoning: {name} has no thinking", provider, capability=Capability.REASONING)
    effort = reasoning.effort
    takes_effort = spec.effort if spec is not None else True
    budget = reasoning.budget_tokens
    if budget is not None:
        if ENABLED not in types:
            raise _missing(
                f"options.reasoning.budget_tokens: {name} thinks adaptively and takes no budget; "
                "give an effort instead",
                provider,
                option="reasoning.budget_tokens",
            )
        if budget < MIN_BUDGET:
            raise _missing(
                f"options.reasoning.budget_tokens: Anthropic's smallest thinking budget is {MIN_BUDGET} tokens, "
                f"got {budget}",
                provider,
                option="reasoning.budget_tokens",
            )
        if budget >= max_tokens:
            raise _missing(
                f"options.reasoning.budget_tokens: the budget ({budget}) must be below max_tokens ({max_tokens}), "
                "which counts thinking too",
                provider,
                option="reasoning.budget_tokens",
            )
        return {"type": ENABLED, "budget_tokens": budget}, _EFFORT[effort] if effort and takes_effort else None
    if ADAPTIVE in types:
        if effort is not None and not takes_effort:
            raise _missing(
                f"options.reasoning.effort: {name} takes no effort level", provider, option="reasoning.effort"
            )
        return {"type": ADAPTIVE}, _EFFORT[effort] if effort is not None else None
    if max_tokens <= MIN_BUDGET:
        raise _missing(
            f"options.max_tokens: thinking on {name} needs max_tokens above {MIN_BUDGET}, got {max_tokens}",
            provider,
            option="max_tokens",
        )
    budget = min(_BUDGET[effort], max_tokens - 1)
    return {"type": ENABLED, "budget_tokens": budget}, _EFFORT[effort] if effort and takes_effort else None


def _tools(request: ChatRequest, cache: dict[str, Any] | None, provider: str) -> tuple[list[dict[str, Any]], set[str]]:
    tools: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, tool in enumerate(request.options.tools):
        where = f"options.tools[{i}]"
        if not _TOOL_NAME.fullmatch(tool.name):
            raise _invalid(
                f"{where}.name: Anthropic wants 1-128 letters, digits, '_' or '-', got {tool.name!r}", provider
            )
        if tool.name in names:
            raise _invalid(f"{where}.name: {tool.name!r} is given twice", provider)
        names.add(tool.name)
        schema = dict(tool.parameters)
        if schema.get("type") != "object":
            raise _invalid(f"{where}.parameters: a tool's input schema must have type 'object'", provider)
        out: dict[str, Any] = {"name": tool.name}
        if tool.description:
            out["description"] = tool.description
        out["input_schema"] = schema
        tools.append(out)
    if cache is not None and tools:
        tools[-1]["cache_control"] = cache
    return tools, names


def _tool_choice(
    request: ChatRequest, names: set[str], own: AnthropicOptions, thinking: bool, provider: str
) -> dict[str, Any] | None:
    choice = request.options.tool_choice
    out: dict[str, Any] | None = None
    if choice is not None:
        if choice.mode is ToolChoiceMode.FUNCTION:
            if choice.name not in names:
                raise _invalid(f"options.tool_choice: the tool {choice.name!r} is not in options.tools", provider)
            out = {"type": "tool", "name": choice.name}
        elif choice.mode is ToolChoiceMode.REQUIRED:
            if not names:
                raise _invalid("options.tool_choice: 'required' needs options.tools", provider)
            out = {"type": "any"}
        elif names:
            out = {"type": choice.mode.value}  # "auto" / "none"
    if out is not None and out["type"] in ("any", "tool") and thinking:
        raise _missing(
            "options.tool_choice: Claude cannot be forced to call a tool while it thinks "
            "(only 'auto' and 'none' are allowed with thinking on)",
            provider,
            option="tool_choice",
        )
    if own.disable_parallel_tool_use is not None and names:
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = own.disable_parallel_tool_use
    return out


def _thinking_guard(body: dict[str, Any], provider: str) -> None:
    """Refuse the sampling settings the API refuses while the model thinks."""
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        raise _missing(
            "options.temperature: with thinking on Anthropic takes temperature 1 only", provider, option="temperature"
        )
    if "top_k" in body:
        raise _missing("options.top_k: Anthropic takes no top_k with thinking on", provider, option="top_k")
    top_p = body.get("top_p")
    if top_p is not None and not 0.95 <= top_p <= 1:
        raise _missing("options.top_p: with thinking on Anthropic takes top_p from 0.95 to 1", provider, option="top_p")


def encode_request(config: AnthropicConfig, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The JSON body of ``POST /v1/messages`` for ``request``.

    ``max_tokens`` is always sent (see :class:`~clawdesk_anthropic._config.AnthropicConfig`:
    the request's, the config's, or the model's limit, cut for a whole answer).
    Refused before sending, with :class:`~clawdesk.CapabilityMissing`:
    ``seed`` (the API has none), JSON mode without a schema, sampling
    settings under API version 2026-10-21 or beyond the API's ranges,
    what the model lacks (images, documents, thinking, structured output,
    a thinking mode), forced tool use while thinking, a system message
    after the conversation began. With :class:`~clawdesk.InvalidRequest`:
    broken values (NaN, negative counts, bad tool names or schemas, a forced
    tool that is not offered, an empty message, non-http(s) URLs).
    """
    provider = config.name or PLUGIN
    options = request.options
    own = request.provider_options if isinstance(request.provider_options, AnthropicOptions) else _DEFAULT_OPTIONS
    if not request.messages:
        raise _invalid("messages: at least one message is needed", provider)
    if options.seed is not None:
        raise _missing("options.seed: Anthropic's Messages API has no seed", provider, option="seed")
    spec = spec_for(config.base_url, request.model)
    cache: dict[str, Any] | None = None
    if own.cache_system or own.cache_tools or own.cache_messages:
        cache = {"type": "ephemeral", "ttl": own.cache_ttl} if own.cache_ttl else {"type": "ephemeral"}
    system, turns = _conversation(request.messages, spec, provider)
    max_tokens = _max_tokens(request, config, spec, provider, stream=stream)
    body: dict[str, Any] = {"model": request.model, "max_tokens": max_tokens}
    if system:
        if own.cache_system:
            system[-1]["cache_control"] = cache
            body["system"] = system
        else:
            body["system"] = system[0]["text"] if len(system) == 1 else system
    if own.cache_messages and cache is not None:
        _mark(turns[-1]["content"], cache)
    body["messages"] = [_compact(turn) for turn in turns]
    tools, names = _tools(request, cache if own.cache_tools else None, provider)
    if tools:
        body["tools"] = tools
    thinking, effort = _thinking(options.reasoning, spec, max_tokens, provider)
    thinks = (thinking is not None and thinking["type"] != DISABLED) or (
        thinking is None and spec is not None and spec.always_thinks
    )
    choice = _tool_choice(request, names, own, thinks, provider)
    if choice is not None:
        body["tool_choice"] = choice
    if thinking is not None:
        body["thinking"] = thinking
    output: dict[str, Any] = {}
    if effort is not None:
        output["effort"] = effort
    fmt = options.response_format
    if fmt is not None and fmt.kind is not ResponseFormatKind.TEXT:
        if fmt.kind is ResponseFormatKind.JSON:
            raise _missing(
                "options.response_format: Anthropic has no JSON mode without a schema; "
                "give ResponseFormat.json_schema(...)",
                provider,
                option="response_format",
                capability=Capability.JSON_MODE,
            )
        if spec is not None and not spec.structured:
            raise _missing(
                f"options.response_format: {spec.id} has no structured outputs",
                provider,
                option="response_format",
                capability=Capability.JSON_SCHEMA,
            )
        output["format"] = {"type": "json_schema", "schema": dict(fmt.schema or {})}
    if output:
        body["output_config"] = output
    _sampling(request, config, body, provider)
    if thinks:
        _thinking_guard(body, provider)
    if options.stop:
        for stop in options.stop:
            if not stop.strip():
                raise _invalid("options.stop: Anthropic's stop sequences must hold more than whitespace", provider)
        body["stop_sequences"] = list(options.stop)
    if own.user_id is not None:
        body["metadata"] = {"user_id": own.user_id}
    if own.service_tier is not None:
        body["service_tier"] = own.service_tier
    if stream:
        body["stream"] = True
    return body


# -- answers ---------------------------------------------------------------------


def finish_reason(raw: str | None) -> FinishReason:
    """The normalised ``stop_reason``; values the API adds later (and ``pause_turn``) are ``OTHER``."""
    return _FINISH.get(raw or "", FinishReason.OTHER)


def _int(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


def usage_from(data: Any) -> Usage:
    """Token counts from a ``usage`` object (missing or odd values are ``None``).

    The API's ``input_tokens`` leaves out cached tokens; clawdesk's counts
    every prompt token, so the cache writes and reads are added to it (and
    reported on their own as ``cache_write_tokens`` and ``cache_read_tokens``).
    ``output_tokens_details.thinking_tokens``, where sent, is the reasoning
    part of the output.
    """
    if not isinstance(data, Mapping):
        return Usage()
    fresh = _int(data.get("input_tokens"))
    written = _int(data.get("cache_creation_input_tokens"))
    read = _int(data.get("cache_read_input_tokens"))
    details = data.get("output_tokens_details")
    return Usage(
        None if fresh is None else fresh + (written or 0) + (read or 0),
        _int(data.get("output_tokens")),
        cache_read_tokens=read,
        cache_write_tokens=written,
        reasoning_tokens=_int(details.get("thinking_tokens")) if isinstance(details, Mapping) else None,
        raw=data,
    )


def decode_message(data: Any, *, model: str, provider: str, request_id: str | None = None) -> ChatResponse:
    """A :class:`~clawdesk.ChatResponse` from a ``Message`` object.

    Text blocks become text parts, ``thinking`` and ``redacted_thinking``
    blocks reasoning parts (signature or data kept byte for byte, ``source``
    ``"anthropic"``), ``tool_use`` blocks tool calls; other blocks (server
    tools' results, block types added later) carry nothing for clawdesk and
    are skipped. ``metadata`` holds the message ``id`` and, when the API sent
    them, ``stop_sequence`` and ``stop_details``.
    """
    if not isinstance(data, Mapping):
        raise ApiError("the answer is not a JSON object", provider=provider, request_id=request_id)
    if data.get("type") == "error":
        raise error_from_event(data, provider=provider, model=model, request_id=request_id)
    content = data.get("content")
    if not isinstance(content, list):
        raise ApiError("the answer has no content list", provider=provider, request_id=request_id)
    parts: list[TextPart | ReasoningPart] = []
    calls: list[ToolCall] = []
    for block in content:
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            parts.append(TextPart(block["text"]))
        elif kind == "thinking":
            parts.append(
                ReasoningPart(
                    _str(block.get("thinking")),
                    signature=block.get("signature") if isinstance(block.get("signature"), str) else None,
                    source=PLUGIN,
                )
            )
        elif kind == "redacted_thinking" and isinstance(block.get("data"), str):
            parts.append(ReasoningPart("", redacted=block["data"], source=PLUGIN))
        elif kind == "tool_use":
            call_id, name, arguments = block.get("id"), block.get("name"), block.get("input")
            if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
                raise ApiError("the answer has a tool_use block without an id or a name", provider=provider)
            if not isinstance(arguments, Mapping):
                raise ApiError(f"the input of tool call {name!r} is not a JSON object", provider=provider)
            calls.append(ToolCall(call_id, name, dict(arguments)))
    raw = data.get("stop_reason")
    raw = raw if isinstance(raw, str) else None
    metadata = {key: data[key] for key in ("id", "stop_sequence", "stop_details") if data.get(key) is not None}
    answered = data.get("model")
    return ChatResponse(
        message=Message(Role.ASSISTANT, parts, tool_calls=calls),
        finish_reason=finish_reason(raw),
        finish_reason_raw=raw,
        usage=usage_from(data.get("usage")),
        provider=provider,
        model=answered if isinstance(answered, str) and answered else model,
        request_id=request_id,
        metadata=metadata,
    )


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


# -- errors ----------------------------------------------------------------------

# The API's error types, and the HTTP status each goes with.
_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
# The API reports an over-long prompt as a plain invalid_request_error; only its wording tells.
_CONTEXT = re.compile(r"prompt is too long|exceeds? (the )?context (limit|window)|context window", re.I)
_LIMITS = ("requests", "tokens", "input-tokens", "output-tokens")


def _error_parts(data: Any) -> tuple[str | None, str]:
    """``(error.type, error.message)`` of an Anthropic error body (``(None, "")`` for another shape)."""
    error = data.get("error") if isinstance(data, Mapping) else None
    if not isinstance(error, Mapping):
        return None, ""
    kind, message = error.get("type"), error.get("message")
    return (kind if isinstance(kind, str) else None), (" ".join(message.split()) if isinstance(message, str) else "")


def _rfc3339(value: str) -> float | None:
    try:
        when = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()


def ratelimit_wait(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds until a rate limit resets, from the ``anthropic-ratelimit-*-reset`` headers (RFC 3339 times).

    For a 429 without ``Retry-After``: the latest reset among the limits whose
    ``remaining`` is ``0`` (all of them must reset before a retry can pass);
    when none says ``0`` (the acceleration limit, or rounded token counts),
    the earliest reset. ``None`` when no reset header can be read; a reset in
    the past gives ``0.0``.
    """
    reference = time.time() if now is None else now
    spent: list[float] = []
    every: list[float] = []
    for limit in _LIMITS:
        value = headers.get(f"anthropic-ratelimit-{limit}-reset")
        when = _rfc3339(value) if value else None
        if when is None or not math.isfinite(when):
            continue
        wait = max(0.0, when - reference)
        every.append(wait)
        if (headers.get(f"anthropic-ratelimit-{limit}-remaining") or "").strip() == "0":
            spent.append(wait)
    if spent:
        return max(spent)
    return min(every) if every else None


def _error(
    kind: str | None,
    message: str,
    status: int | None,
    *,
    provider: str,
    model: str | None,
    kw: dict[str, Any],
) -> ProviderError:
    """The error for an Anthropic error ``kind`` (with the HTTP ``status`` when there was one)."""
    nominal = status if status is not None else _STATUS.get(kind or "")
    text = f"{kind}: {message}" if kind and message else message or kind or ""
    if nominal == 400 and _CONTEXT.search(message):
        return ContextLengthExceeded(text, **kw)
    if nominal in (400, 413, 422):
        return InvalidRequest(text, **kw)
    if nominal == 401:
        # The key's table is the provider's own: a named instance has its own key.
        return AuthFailed(
            f"{text or 'the API key was refused'} (check ANTHROPIC_API_KEY or providers.{provider}.api_key)", **kw
        )
    if nominal == 402:
        return QuotaExceeded(text or "out of credit", **kw)
    if nominal == 403:
        return PermissionDenied(text or "not allowed", **kw)
    if nominal == 404:
        where = f"model {model!r} not found" if model else "not found"
        return ModelNotFound(f"{where}: {text}" if text else where, model=model, **kw)
    if nominal == 429:
        return RateLimited(text or "rate limited", **kw)
    retryable = kw.pop("retryable", None)
    if retryable is None:
        retryable = nominal is not None and (nominal in (408, 409) or nominal >= 500)
    return ApiError(text or f"HTTP {status}", retryable=retryable, **kw)


def classify_body(
    status: int,
    data: Any,
    headers: Mapping[str, str],
    *,
    provider: str,
    model: str | None,
    url: str | None,
    request_id: str | None,
    retry_after: float | None,
    now: float | None = None,
) -> ProviderError | None:
    """The error for an HTTP error answer with an Anthropic error body, or ``None`` for another body.

    By status first (the API's own table: 400, 401, 402, 403, 404, 413, 429,
    500, 504, 529 overloaded), keeping the body's ``error.type`` in the
    message; a 400 whose message says the prompt is too long is
    :class:`~clawdesk.ContextLengthExceeded`. A 429 without ``Retry-After``
    waits for the rate-limit reset headers (see :func:`ratelimit_wait`). The
    request id comes from the ``request-id`` header, else from the body.
    """
    kind, message = _error_parts(data)
    if kind is None:
        return None
    body_id = data.get("request_id") if isinstance(data, Mapping) else None
    if status == 429 and retry_after is None:
        retry_after = ratelimit_wait(headers, now=now)
    kw: dict[str, Any] = {
        "provider": provider,
        "status": status,
        "url": url,
        "request_id": request_id or (body_id if isinstance(body_id, str) else None),
        "retry_after": retry_after,
    }
    return _error(kind, message, status, provider=provider, model=model, kw=kw)


def error_from_event(data: Any, *, provider: str, model: str | None, request_id: str | None = None) -> ProviderError:
    """The typed error for an ``error`` event inside a stream (or an error object in a 200 answer).

    There is no HTTP status (the answer began with 200), so the error's
    ``status`` is ``None`` and its kind follows ``error.type``:
    ``overloaded_error``, ``api_error`` and ``timeout_error`` are retryable
    :class:`~clawdesk.ApiError`, ``rate_limit_error`` is
    :class:`~clawdesk.RateLimited`, the others map as their statuses do;
    an unknown type is a non-retryable ``ApiError``.
    """
    kind, message = _error_parts(data)
    body_id = data.get("request_id") if isinstance(data, Mapping) else None
    kw: dict[str, Any] = {
        "provider": provider,
        "request_id": request_id or (body_id if isinstance(body_id, str) else None),
    }
    if kind not in _STATUS:
        kw["retryable"] = False
    text = message or "no message"
    return _error(kind or "error", f"{text} (sent inside the stream)", None, provider=provider, model=model, kw=kw)
