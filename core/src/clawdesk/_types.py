"""The data every provider and every caller exchange.

Everything here is frozen attrs data with no I/O: building a value never touches
the network, a file or the environment. Values are turned into JSON (and back)
only through the converter from :func:`clawdesk.make_converter`.

Shapes follow what both first backends (Mistral's chat completions and Ollama's
``/api/chat``) can express, so a plugin maps fields instead of inventing them.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import field, frozen

__all__ = [
    "Capability",
    "ChatOptions",
    "ChatRequest",
    "ChatResponse",
    "ContentPart",
    "Finish",
    "FinishReason",
    "ImagePart",
    "Message",
    "ModelInfo",
    "ReasoningDelta",
    "ResponseFormat",
    "ResponseFormatKind",
    "Role",
    "StreamEvent",
    "TextDelta",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallEvent",
    "ToolChoice",
    "ToolChoiceMode",
    "Usage",
    "UsageEvent",
]


class Role(enum.StrEnum):
    """Who wrote a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class Capability(enum.StrEnum):
    """What a model can do; the negotiator matches requests against these."""

    CHAT = "chat"
    STREAMING = "streaming"
    FUNCTION_CALLING = "function_calling"
    JSON_MODE = "json_mode"
    JSON_SCHEMA = "json_schema"
    VISION = "vision"
    REASONING = "reasoning"
    EMBEDDING = "embedding"


class FinishReason(enum.StrEnum):
    """Why a model stopped, normalised across providers.

    The provider's own spelling is always kept next to it (``finish_reason_raw``
    / :attr:`Finish.raw`), so nothing a backend said is lost by normalising.
    """

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"
    ERROR = "error"
    OTHER = "other"


# --- content -----------------------------------------------------------------


@frozen
class TextPart:
    """A piece of text inside a message."""

    text: str


@frozen
class ImagePart:
    """An image: either a URL (``https:`` or ``data:``) or inline bytes.

    Inline bytes need ``media_type`` (``image/png``, ``image/jpeg``, ...); a
    ``data:`` URL carries its own. Plugins convert to whatever their wire wants.
    """

    url: str | None = field(default=None, kw_only=True)
    data: bytes | None = field(default=None, kw_only=True)
    media_type: str | None = field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise ValueError("ImagePart needs exactly one of url= or data=")
        if self.data is not None and not self.media_type:
            raise ValueError("ImagePart(data=...) needs media_type=, e.g. 'image/png'")


ContentPart = TextPart | ImagePart


def _to_parts(value: str | tuple[ContentPart, ...] | list[ContentPart]) -> tuple[ContentPart, ...]:
    if isinstance(value, str):
        return (TextPart(value),) if value else ()
    return tuple(value)


def _calls(value: Iterable[ToolCall]) -> tuple[ToolCall, ...]:
    return tuple(value)


def _messages(value: Iterable[Message]) -> tuple[Message, ...]:
    return tuple(value)


def _tools(value: Iterable[Tool]) -> tuple[Tool, ...]:
    return tuple(value)


# --- tools -------------------------------------------------------------------


@frozen
class Tool:
    """A function the model may call; ``parameters`` is a JSON schema object."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(factory=lambda: {"type": "object", "properties": {}})


@frozen
class ToolCall:
    """A call the model asked for, with its arguments already parsed from JSON.

    ``id`` is what a tool result refers back to; providers that send no id get
    a stable one made by the plugin.
    """

    id: str
    name: str
    arguments: Mapping[str, Any] = field(factory=dict)


class ToolChoiceMode(enum.StrEnum):
    """How the model may use the tools it was given."""

    AUTO = "auto"
    NONE = "none"
    REQUIRED = "required"
    FUNCTION = "function"


@frozen
class ToolChoice:
    """``auto``, ``none``, ``required``, or one named function (mode ``function``)."""

    mode: ToolChoiceMode = ToolChoiceMode.AUTO
    name: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.mode is ToolChoiceMode.FUNCTION) != (self.name is not None):
            raise ValueError("ToolChoice: name= is given exactly when mode is 'function'")

    @classmethod
    def function(cls, name: str) -> ToolChoice:
        """Force a call of the function ``name``."""
        return cls(ToolChoiceMode.FUNCTION, name)


# --- messages ----------------------------------------------------------------


@frozen
class Message:
    """One turn of a conversation.

    ``content`` accepts a plain string (kept as one :class:`TextPart`).
    Assistant turns may carry ``tool_calls``; a ``tool`` turn is a tool result and
    carries ``tool_call_id`` (and the tool's ``name`` where known). ``reasoning``
    holds a model's thinking text when a provider returns it.
    """

    role: Role = field(converter=Role)
    content: tuple[ContentPart, ...] = field(default=(), converter=_to_parts)
    tool_calls: tuple[ToolCall, ...] = field(default=(), converter=_calls, kw_only=True)
    tool_call_id: str | None = field(default=None, kw_only=True)
    name: str | None = field(default=None, kw_only=True)
    reasoning: str | None = field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.role is Role.TOOL and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id= (the id of the call it answers)")
        if self.tool_calls and self.role is not Role.ASSISTANT:
            raise ValueError("only assistant messages carry tool_calls")

    @property
    def text(self) -> str:
        """All text parts joined; images are left out."""
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @classmethod
    def system(cls, text: str) -> Message:
        return cls(Role.SYSTEM, text)

    @classmethod
    def user(cls, content: str | tuple[ContentPart, ...] | list[ContentPart]) -> Message:
        return cls(Role.USER, _to_parts(content))

    @classmethod
    def assistant(cls, text: str = "", *, tool_calls: tuple[ToolCall, ...] = ()) -> Message:
        return cls(Role.ASSISTANT, text, tool_calls=tool_calls)

    @classmethod
    def tool_result(cls, tool_call_id: str, content: str, *, name: str | None = None) -> Message:
        """The result of running the tool call ``tool_call_id``."""
        return cls(Role.TOOL, content, tool_call_id=tool_call_id, name=name)


# --- options -----------------------------------------------------------------


class ResponseFormatKind(enum.StrEnum):
    TEXT = "text"
    JSON = "json"
    JSON_SCHEMA = "json_schema"


@frozen
class ResponseFormat:
    """Plain text, any JSON object, or JSON that follows ``schema``."""

    kind: ResponseFormatKind = field(default=ResponseFormatKind.TEXT, converter=ResponseFormatKind)
    schema: Mapping[str, Any] | None = None
    name: str = "response"
    strict: bool = True

    def __attrs_post_init__(self) -> None:
        if (self.kind is ResponseFormatKind.JSON_SCHEMA) != (self.schema is not None):
            raise ValueError("ResponseFormat: schema= is given exactly when kind is 'json_schema'")

    @classmethod
    def json(cls) -> ResponseFormat:
        return cls(ResponseFormatKind.JSON)

    @classmethod
    def json_schema(cls, schema: Mapping[str, Any], *, name: str = "response", strict: bool = True) -> ResponseFormat:
        return cls(ResponseFormatKind.JSON_SCHEMA, schema, name, strict)


def _opt_stop(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _opt_timeout(_inst: object, _attr: object, value: float | None) -> None:
    # NaN would make the deadline never expire, and 0 or less would fail every call at once.
    if value is not None and not (isinstance(value, (int, float)) and 0 < value < math.inf):
        raise ValueError(f"ChatOptions: timeout is seconds > 0, got {value!r}")


@frozen(kw_only=True)
class ChatOptions:
    """How to generate. ``None`` everywhere means "the provider's default".

    ``timeout`` (seconds) bounds the whole call; without it the provider's
    configured ``timeout_secs`` applies to each network wait. ``extra`` holds
    provider-specific settings (e.g. Ollama's ``num_ctx``); a plugin rejects
    extras it does not know with :class:`~clawdesk.InvalidRequest` rather than
    dropping them.
    """

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = field(default=(), converter=_opt_stop)
    seed: int | None = None
    tools: tuple[Tool, ...] = field(default=(), converter=_tools)
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    timeout: float | None = field(default=None, validator=_opt_timeout)
    extra: Mapping[str, Any] = field(factory=dict)


@frozen
class ChatRequest:
    """What a provider hook receives: the provider-local model id, the messages, the options."""

    model: str
    messages: tuple[Message, ...] = field(converter=_messages)
    options: ChatOptions = field(factory=ChatOptions)


# --- results -----------------------------------------------------------------


@frozen
class Usage:
    """Token counts as the provider reported them (``None`` when it did not)."""

    input_tokens: int | None = None
    output_tokens: int | None = None

    @property
    def total_tokens(self) -> int | None:
        if self.input_tokens is None or self.output_tokens is None:
            return None
        return self.input_tokens + self.output_tokens


@frozen(kw_only=True)
class ChatResponse:
    """A complete answer and who gave it."""

    message: Message
    finish_reason: FinishReason
    finish_reason_raw: str | None = None
    usage: Usage = field(factory=Usage)
    provider: str
    model: str


def _to_capabilities(value: Iterable[Capability]) -> frozenset[Capability]:
    # A typed converter: with the generic ``frozenset`` mypy cannot type the argument.
    return frozenset(value)


@frozen
class ModelInfo:
    """A model a provider offers. ``context_length`` is ``None`` when unknown."""

    id: str
    capabilities: frozenset[Capability] = field(factory=frozenset, converter=_to_capabilities)
    context_length: int | None = field(default=None, kw_only=True)
    description: str | None = field(default=None, kw_only=True)


# --- stream events -----------------------------------------------------------
# A closed set: a stream yields any number of TextDelta / ReasoningDelta /
# ToolCallEvent, at most one UsageEvent, and ends with exactly one Finish.
# A stream that ends without Finish is an error (the plugin raises), never a
# silent success.


@frozen
class TextDelta:
    """The next piece of the answer's text."""

    text: str


@frozen
class ReasoningDelta:
    """The next piece of the model's reasoning ("thinking") text."""

    text: str


@frozen
class ToolCallEvent:
    """A complete tool call, emitted once its arguments are whole and parsed."""

    call: ToolCall


@frozen
class UsageEvent:
    """Token counts for the whole stream."""

    usage: Usage


@frozen
class Finish:
    """The last event of every successful stream."""

    reason: FinishReason
    raw: str | None = None


StreamEvent = TextDelta | ReasoningDelta | ToolCallEvent | UsageEvent | Finish
