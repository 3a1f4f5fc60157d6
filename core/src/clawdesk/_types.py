"""The data every provider and every caller exchange.

Everything here is frozen attrs data with no I/O: building a value never touches
the network, a file or the environment. Values are turned into JSON (and back)
only through the converter from :func:`clawdesk.make_converter`.

Shapes are the common ground of the chat APIs clawdesk speaks (chat
completions, messages, generate-content, converse), so a plugin maps fields
instead of inventing them. What only one backend understands travels in
:attr:`ChatOptions.provider_options`, namespaced by provider.
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
    "DocumentPart",
    "Finish",
    "FinishReason",
    "ImagePart",
    "Message",
    "ModelInfo",
    "Reasoning",
    "ReasoningDelta",
    "ReasoningEffort",
    "ReasoningPart",
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
    DOCUMENTS = "documents"
    REASONING = "reasoning"
    EMBEDDING = "embedding"


class FinishReason(enum.StrEnum):
    """Why a model stopped, normalised across providers.

    The provider's own spelling is always kept next to it (``finish_reason_raw``
    / :attr:`Finish.raw`), so nothing a backend said is lost by normalising.
    ``CONTENT_FILTER`` is an answer a safety filter stopped (what came before
    the cut is kept); a prompt blocked before any answer is the error
    :class:`~clawdesk.ContentFiltered` instead.
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
    """A piece of text inside a message.

    ``signature`` is an opaque token some backends attach to a part of the
    model's answer (Gemini's ``thoughtSignature``) and want back unchanged
    with it on the next turn; plugins that have no use for it ignore it.
    """

    text: str
    signature: str | None = field(default=None, kw_only=True)


def _check_source(part: ImagePart | DocumentPart, kind: str) -> None:
    if (part.url is None) == (part.data is None):
        raise ValueError(f"{kind} needs exactly one of url= or data=")
    if part.data is not None and not part.media_type:
        raise ValueError(f"{kind}(data=...) needs media_type=")


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
        _check_source(self, "ImagePart")


@frozen
class DocumentPart:
    """A document for the model to read (a PDF, a text file): a URL or inline bytes.

    ``media_type`` is required with ``data`` (``application/pdf``,
    ``text/plain``, ...); ``name`` is the file name some backends show the
    model. A model that cannot read documents refuses the request
    (:class:`~clawdesk.CapabilityMissing`, capability ``documents``).
    """

    url: str | None = field(default=None, kw_only=True)
    data: bytes | None = field(default=None, kw_only=True)
    media_type: str | None = field(default=None, kw_only=True)
    name: str | None = field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        _check_source(self, "DocumentPart")


@frozen
class ReasoningPart:
    """The model's reasoning ("thinking") as part of an assistant message.

    Backends that verify their own reasoning when it comes back need it
    unchanged: ``signature`` (Anthropic's thinking ``signature``, Bedrock's
    reasoning signature, Gemini's ``thoughtSignature``) and ``redacted`` (the
    opaque data of a redacted thinking block, as the backend sent it) are kept
    byte for byte. ``source`` names the plugin that made them; a plugin sends
    signed or redacted reasoning back only when it made it, since no backend
    accepts another's signatures, and sends unsigned reasoning where its wire
    has a place for it.
    """

    text: str = ""
    signature: str | None = field(default=None, kw_only=True)
    redacted: str | None = field(default=None, kw_only=True)
    source: str | None = field(default=None, kw_only=True)


ContentPart = TextPart | ImagePart | DocumentPart | ReasoningPart


def _to_parts(value: str | Iterable[ContentPart | str]) -> tuple[ContentPart, ...]:
    if isinstance(value, str):
        return (TextPart(value),) if value else ()
    return tuple(TextPart(item) if isinstance(item, str) else item for item in value)


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
    a stable one made by the plugin. ``signature`` is an opaque token the
    backend attached to the call (Gemini's ``thoughtSignature``), sent back
    unchanged with it.
    """

    id: str
    name: str
    arguments: Mapping[str, Any] = field(factory=dict)
    signature: str | None = field(default=None, kw_only=True)


class ToolChoiceMode(enum.StrEnum):
    """How the model may use the tools it was given."""

    AUTO = "auto"
    NONE = "none"
    REQUIRED = "required"
    FUNCTION = "function"


@frozen
class ToolChoice:
    """``auto``, ``none``, ``required``, or one named function (mode ``function``)."""

    mode: ToolChoiceMode = field(default=ToolChoiceMode.AUTO, converter=ToolChoiceMode)
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

    ``content`` is a tuple of parts; a plain string becomes one
    :class:`TextPart`, and a list may mix strings and parts
    (``Message.user(["What is this?", ImagePart(url=...)])``). Assistant turns
    may carry ``tool_calls`` and :class:`ReasoningPart` content; a ``tool``
    turn is a tool result and carries ``tool_call_id`` (and the tool's
    ``name`` where known).
    """

    role: Role = field(converter=Role)
    content: tuple[ContentPart, ...] = field(default=(), converter=_to_parts)
    tool_calls: tuple[ToolCall, ...] = field(default=(), converter=_calls, kw_only=True)
    tool_call_id: str | None = field(default=None, kw_only=True)
    name: str | None = field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.role is Role.TOOL and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id= (the id of the call it answers)")
        if self.tool_calls and self.role is not Role.ASSISTANT:
            raise ValueError("only assistant messages carry tool_calls")
        for part in self.content:
            if not isinstance(part, (TextPart, ImagePart, DocumentPart, ReasoningPart)):
                raise TypeError(f"a message part must be text or a part object, got {type(part).__name__}")
            if type(part) is ReasoningPart and self.role is not Role.ASSISTANT:
                raise ValueError("only assistant messages carry reasoning parts")

    @property
    def text(self) -> str:
        """All text parts joined; images, documents and reasoning are left out."""
        return "".join(p.text for p in self.content if type(p) is TextPart)

    @property
    def reasoning(self) -> str | None:
        """The text of every reasoning part joined, or ``None`` when there is none."""
        texts = [p.text for p in self.content if type(p) is ReasoningPart]
        return "".join(texts) if texts else None

    @classmethod
    def system(cls, text: str) -> Message:
        return cls(Role.SYSTEM, text)

    @classmethod
    def user(cls, content: str | Iterable[ContentPart | str]) -> Message:
        return cls(Role.USER, _to_parts(content))

    @classmethod
    def assistant(
        cls,
        content: str | Iterable[ContentPart | str] = "",
        *,
        tool_calls: Iterable[ToolCall] = (),
        reasoning: str | None = None,
    ) -> Message:
        """An assistant turn; ``reasoning`` (unsigned thinking text) goes first in its content."""
        parts = _to_parts(content)
        if reasoning:
            parts = (ReasoningPart(reasoning), *parts)
        return cls(Role.ASSISTANT, parts, tool_calls=tuple(tool_calls))

    @classmethod
    def tool_result(
        cls, tool_call_id: str, content: str | Iterable[ContentPart | str], *, name: str | None = None
    ) -> Message:
        """The result of running the tool call ``tool_call_id``."""
        return cls(Role.TOOL, _to_parts(content), tool_call_id=tool_call_id, name=name)


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


class ReasoningEffort(enum.StrEnum):
    """How hard a reasoning model should think; ``none`` asks for no reasoning."""

    NONE = "none"
    MINIMAL = "minimal"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    MAX = "max"


def _optional_effort(value: ReasoningEffort | str | None) -> ReasoningEffort | None:
    return None if value is None else ReasoningEffort(value)


def _check_budget(_inst: object, _attr: object, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"Reasoning: budget_tokens is an integer >= 0, got {value!r}")


@frozen(kw_only=True)
class Reasoning:
    """Ask a model to reason before it answers.

    ``effort`` and ``budget_tokens`` may be given alone or together; each
    provider maps them to its own setting (Anthropic's thinking budget,
    OpenAI's ``reasoning_effort``, Gemini's thinking config, Ollama's
    ``think``) and documents how. ``Reasoning()`` asks for reasoning at the
    provider's default strength. ``effort="none"`` or ``budget_tokens=0`` asks
    for none: :attr:`enabled` is then false.
    """

    effort: ReasoningEffort | None = field(default=None, converter=_optional_effort)
    budget_tokens: int | None = field(default=None, validator=_check_budget)

    @property
    def enabled(self) -> bool:
        """Whether reasoning is asked for (not turned off by effort ``none`` or a budget of 0)."""
        return self.effort is not ReasoningEffort.NONE and self.budget_tokens != 0


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


def _provider_options(value: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    if not isinstance(value, Mapping):
        raise TypeError(f"ChatOptions: provider_options is a mapping of provider name to options, got {value!r}")
    for name, table in value.items():
        if not isinstance(name, str) or not isinstance(table, Mapping):
            raise TypeError(
                f"ChatOptions: provider_options[{name!r}] must be a mapping of option names to values, "
                f"e.g. provider_options={{'acme': {{'think': True}}}}"
            )
    return value


@frozen(kw_only=True)
class ChatOptions:
    """How to generate. ``None`` everywhere means "the provider's default".

    ``timeout`` (seconds) bounds the whole call; without it the provider's
    configured ``timeout_secs`` applies to each network wait.

    ``provider_options`` holds settings only some backends understand,
    namespaced by provider: ``{"ollama": {"num_ctx": 8192}, "anthropic":
    {"cache_system": True}}``. Each provider reads its own table (a named
    instance reads its plugin's table, then its own name's table on top),
    checked against its typed options class, and ignores the others' tables,
    so one set of options serves a whole fallback chain.

    An option a candidate cannot honour is never dropped: the provider
    refuses the request before sending, with
    :class:`~clawdesk.CapabilityMissing` when another candidate might honour
    it (the chain moves on) or :class:`~clawdesk.InvalidRequest` when the
    request is wrong for anyone (the chain stops).
    """

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = field(default=(), converter=_opt_stop)
    seed: int | None = None
    tools: tuple[Tool, ...] = field(default=(), converter=_tools)
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    reasoning: Reasoning | None = None
    timeout: float | None = field(default=None, validator=_opt_timeout)
    provider_options: Mapping[str, Mapping[str, Any]] = field(factory=dict, converter=_provider_options)


@frozen
class ChatRequest:
    """What a provider hook receives: the provider-local model id, the messages, the options.

    ``provider_options`` is this provider's share of
    :attr:`ChatOptions.provider_options`, structured into the class its
    ``provider_options_type`` hook names (``None`` for a provider without
    one). Core fills it in before calling the hook.
    """

    model: str
    messages: tuple[Message, ...] = field(converter=_messages)
    options: ChatOptions = field(factory=ChatOptions)
    provider_options: Any = field(default=None, kw_only=True)


# --- results -----------------------------------------------------------------


def _opt_raw(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return {} if value is None else value


@frozen
class Usage:
    """Token counts as the provider reported them (``None`` when it did not).

    - ``input_tokens``: every token of the prompt, cached ones included
      (``cache_read_tokens`` and ``cache_write_tokens`` are parts of it);
    - ``output_tokens``: every generated token, reasoning included
      (``reasoning_tokens`` is a part of it);
    - ``raw``: the provider's own figures, as it sent them.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = field(default=None, kw_only=True)
    cache_write_tokens: int | None = field(default=None, kw_only=True)
    reasoning_tokens: int | None = field(default=None, kw_only=True)
    raw: Mapping[str, Any] = field(factory=dict, kw_only=True, converter=_opt_raw)

    @property
    def total_tokens(self) -> int | None:
        if self.input_tokens is None or self.output_tokens is None:
            return None
        return self.input_tokens + self.output_tokens


@frozen(kw_only=True)
class ChatResponse:
    """A complete answer and who gave it.

    ``request_id`` is the backend's id for the request (for support tickets);
    ``metadata`` holds what else the provider reported that has no field here
    (documented per provider).
    """

    message: Message
    finish_reason: FinishReason
    finish_reason_raw: str | None = None
    usage: Usage = field(factory=Usage)
    provider: str
    model: str
    request_id: str | None = None
    metadata: Mapping[str, Any] = field(factory=dict)


def _to_capabilities(value: Iterable[Capability]) -> frozenset[Capability]:
    # A typed converter: with the generic ``frozenset`` mypy cannot type the argument.
    return frozenset(value)


@frozen
class ModelInfo:
    """A model a provider offers.

    ``context_length`` (input tokens) and ``max_output_tokens`` are ``None``
    when unknown.
    """

    id: str
    capabilities: frozenset[Capability] = field(factory=frozenset, converter=_to_capabilities)
    context_length: int | None = field(default=None, kw_only=True)
    description: str | None = field(default=None, kw_only=True)
    max_output_tokens: int | None = field(default=None, kw_only=True)


# --- stream events -----------------------------------------------------------
# A closed set: a stream yields any number of TextDelta / ReasoningDelta /
# ToolCallEvent, at most one UsageEvent, and ends with exactly one Finish.
# A stream that ends without Finish is an error (the plugin raises), never a
# silent success.


@frozen
class TextDelta:
    """The next piece of the answer's text (``signature``: see :attr:`TextPart.signature`)."""

    text: str
    signature: str | None = field(default=None, kw_only=True)


@frozen
class ReasoningDelta:
    """The next piece of the model's reasoning ("thinking").

    A delta with ``signature`` or ``redacted`` set closes the reasoning part
    it belongs to (see :class:`ReasoningPart`): collecting a stream joins the
    texts of the deltas before it and gives the part that signature.
    """

    text: str
    signature: str | None = field(default=None, kw_only=True)
    redacted: str | None = field(default=None, kw_only=True)
    source: str | None = field(default=None, kw_only=True)


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
    """The last event of every successful stream (``request_id`` as in :class:`ChatResponse`)."""

    reason: FinishReason
    raw: str | None = None
    request_id: str | None = field(default=None, kw_only=True)


StreamEvent = TextDelta | ReasoningDelta | ToolCallEvent | UsageEvent | Finish
