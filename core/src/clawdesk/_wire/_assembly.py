"""Putting answers together: tool calls from deltas, stable call ids, and the end of a stream.

Pure code over clawdesk's types and parsed JSON (no httpx, no I/O), the same
for every backend, so that each plugin maps fields and nothing more:

- :class:`ToolCallAssembler` builds complete :class:`~clawdesk.ToolCall`
  objects from what a stream sends: argument pieces keyed by index or by id,
  or calls that arrive whole;
- :func:`parse_arguments` turns a call's arguments (a JSON string, an object,
  nothing) into a mapping, or a typed error;
- :func:`stable_call_id` makes an id for a backend that sends none, the same
  for the same answer every time; :func:`tool_call_names` finds, over a
  conversation, the tool name each ``tool_call_id`` belongs to (for backends
  that match results to calls by name);
- :class:`StreamTail` collects what a stream reports along the way (usage,
  the finish reason) and gives the last events: the tool calls, at most one
  :class:`~clawdesk.UsageEvent` and exactly one :class:`~clawdesk.Finish`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from .._errors import ApiError
from .._types import Finish, FinishReason, Message, Role, StreamEvent, ToolCall, ToolCallEvent, Usage, UsageEvent

__all__ = ["StreamTail", "ToolCallAssembler", "parse_arguments", "stable_call_id", "tool_call_names"]

_loads = json.loads


def _shown(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def parse_arguments(raw: Any, *, name: str, provider: str) -> dict[str, Any]:
    """A tool call's arguments as a dict.

    A mapping is taken as it is; ``None``, ``""`` and whitespace are no
    arguments (``{}``: OpenAI-style servers send ``""`` for a function without
    parameters); a string must be a JSON object. Anything else, or JSON that
    is broken or not an object, raises :class:`~clawdesk.ApiError` (not
    retryable: the backend produced it) naming the call.
    """
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw is None:
        return {}
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        try:
            value = _loads(raw)
        except (ValueError, RecursionError):
            raise ApiError(
                f"the arguments of tool call {name!r} are not valid JSON: {_shown(raw)}", provider=provider
            ) from None
        if isinstance(value, dict):
            return value
    raise ApiError(f"the arguments of tool call {name!r} are not a JSON object", provider=provider)


def stable_call_id(*parts: object) -> str:
    """An id for a tool call the backend sent without one: ``call_`` and 24 hex digits.

    Made from ``parts`` (say the answer's timestamp, the call's position in
    the answer, its name and its arguments; mappings are serialised with
    sorted keys), so the same answer always gives the same id, and two calls
    of one answer differ by position.
    """
    seed = "\x00".join(
        json.dumps(part, sort_keys=True, default=str) if isinstance(part, (Mapping, list)) else str(part)
        for part in parts
    )
    return "call_" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def tool_call_names(messages: Iterable[Message]) -> dict[str, str]:
    """``tool_call_id -> tool name`` for every call assistant turns in ``messages`` made.

    For backends that match a tool result to its call by the tool's name
    (Ollama's ``tool_name``, Gemini's ``functionResponse.name``): a result
    message without ``name`` gets the name of the call it answers.
    """
    names: dict[str, str] = {}
    for message in messages:
        if message.role is Role.ASSISTANT:
            for call in message.tool_calls:
                names[call.id] = call.name
    return names


class _Call:
    __slots__ = ("id", "name", "pieces", "signature", "whole")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.pieces: list[str] = []
        self.whole: Mapping[str, Any] | None = None
        self.signature: str | None = None


class ToolCallAssembler:
    """Tool calls of one streamed answer, put together from what the backend sends.

    Call :meth:`add` for each piece: OpenAI-style servers send a call's
    arguments in string pieces that share an ``index`` (the first piece
    carries the id and name); others send each call whole (``arguments`` a
    mapping, or a whole JSON string); some key pieces by ``id`` instead of
    index. The rules:

    - ``index`` ``None`` means "keyed by id": a piece with a known id adds to
      that call; a piece with a new id (or no id) starts a new call;
    - at a used index, a piece with a new non-empty id, or a different name,
      starts a new call (some servers reuse index 0 for every call);
    - string pieces are joined; a mapping replaces what came before;
    - a call's id is its first non-empty id; without one it gets
      :func:`stable_call_id` of (``id_seed``, its position, name, arguments).

    :meth:`complete` returns the calls in the order they began, with parsed
    arguments (see :func:`parse_arguments`; broken JSON raises
    :class:`~clawdesk.ApiError`), and starts afresh.
    """

    __slots__ = ("_by_id", "_by_index", "_calls", "_provider", "id_seed")

    def __init__(self, provider: str, *, id_seed: str = "") -> None:
        self._provider = provider
        self._calls: list[_Call] = []
        self._by_index: dict[int, _Call] = {}
        self._by_id: dict[str, _Call] = {}
        #: Mixed into made-up ids (a timestamp of the answer, say) so that two answers differ.
        self.id_seed = id_seed

    def __bool__(self) -> bool:
        return bool(self._calls)

    def __len__(self) -> int:
        return len(self._calls)

    def add(
        self,
        index: int | None,
        *,
        call_id: str | None = None,
        name: str | None = None,
        arguments: str | Mapping[str, Any] | None = None,
        signature: str | None = None,
    ) -> None:
        """Add one piece of a call (see the class docstring for how pieces become calls)."""
        call_id = call_id or None
        if index is None:
            call = self._by_id.get(call_id) if call_id is not None else None
        else:
            call = self._by_index.get(index)
            if call is not None and (
                (call_id is not None and call.id is not None and call_id != call.id)
                or (name and call.name and name != call.name)
            ):
                call = None
        if call is None:
            call = _Call()
            self._calls.append(call)
            if index is not None:
                self._by_index[index] = call
        if call_id is not None and call.id is None:
            call.id = call_id
            self._by_id[call_id] = call
        if name:
            call.name = name
        if isinstance(arguments, str):
            if arguments:
                call.pieces.append(arguments)
        elif arguments is not None:
            call.whole = arguments
            call.pieces.clear()
        if signature:
            call.signature = signature

    def complete(self) -> list[ToolCall]:
        """Every call, in the order they began, with parsed arguments; then starts afresh.

        Raises :class:`~clawdesk.ApiError` for a call that never got a name or
        whose arguments are not a JSON object.
        """
        calls, self._calls, self._by_index, self._by_id = self._calls, [], {}, {}
        out: list[ToolCall] = []
        for position, call in enumerate(calls):
            name = call.name
            if not name:
                raise ApiError("a streamed tool call has no function name", provider=self._provider)
            raw = call.whole if call.whole is not None else "".join(call.pieces)
            arguments = parse_arguments(raw, name=name, provider=self._provider)
            call_id = call.id or stable_call_id(self.id_seed, position, name, arguments)
            out.append(ToolCall(call_id, name, arguments, signature=call.signature))
        return out


class StreamTail:
    """The end of a stream: what it reported along the way, and the events that close it.

    Feed it as the stream goes (:meth:`usage`, :meth:`finish`); when the end
    marker has come, :meth:`events` gives, in order: one
    :class:`~clawdesk.ToolCallEvent` per call, at most one
    :class:`~clawdesk.UsageEvent` (the last usage reported wins: backends
    that send running totals send the final one last) and exactly one
    :class:`~clawdesk.Finish`. A stream that never said why it stopped ends
    with ``default`` (:attr:`~clawdesk.FinishReason.STOP` unless given).
    """

    __slots__ = ("_raw", "_reason", "_usage")

    def __init__(self) -> None:
        self._usage: Usage | None = None
        self._reason: FinishReason | None = None
        self._raw: str | None = None

    def usage(self, usage: Usage | None) -> None:
        """Record token counts (``None`` is ignored; a later report replaces an earlier one)."""
        if usage is not None:
            self._usage = usage

    def finish(self, reason: FinishReason, raw: str | None = None) -> None:
        """Record why the model stopped (a later report replaces an earlier one)."""
        self._reason = reason
        self._raw = raw

    @property
    def reason(self) -> FinishReason | None:
        return self._reason

    def events(
        self,
        calls: Iterable[ToolCall] = (),
        *,
        request_id: str | None = None,
        default: FinishReason = FinishReason.STOP,
    ) -> list[StreamEvent]:
        """The closing events: tool calls, then usage (if any), then one Finish carrying ``request_id``."""
        out: list[StreamEvent] = [ToolCallEvent(call) for call in calls]
        if self._usage is not None:
            out.append(UsageEvent(self._usage))
        reason = self._reason if self._reason is not None else default
        out.append(Finish(reason, self._raw, request_id=request_id))
        return out
