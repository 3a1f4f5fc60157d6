"""The tool loop: the model asks for tools, the application's Python functions answer, until it is done.

:meth:`Clawdesk.chat_with_tools` and :meth:`Clawdesk.stream_with_tools`
run it. Each step is one chat (or stream) through the fallback engine with
the tools declared; when the answer asks for tool calls, each call runs the
matching function and its result goes back as a ``tool`` message, and the
next step begins. It ends with the first answer that asks for no tool, or
raises :class:`~clawdesk.ToolStepsExceeded` when ``max_steps`` answers all asked for
more.

Tools are plain functions (sync or async) or :class:`FunctionTool` values
made with :func:`function_tool`. A function's declaration comes from its
signature: the name, the docstring's first paragraph as the description,
and a JSON schema of its parameters from their type hints
(``Annotated[str, "what it is"]`` describes one; see
:func:`clawdesk._schema.schema_for` for the types understood).

Who is told about what goes wrong:

- the model's mistakes go back to the model, as the tool's result, so it can
  correct itself: a call of a tool that does not exist, or arguments that do
  not match the parameters' schema;
- the application's own errors reach the application: an exception raised
  inside a tool function propagates out of the loop unchanged.

A function's return value is sent as is when it is a string, else as JSON
(attrs instances through clawdesk's converter); anything that is not JSON
raises ``TypeError``. A sync function runs in the event loop's thread:
make a slow one ``async`` (or hand it to a worker thread yourself).
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias, overload

import attrs
from attrs import field, frozen

from ._errors import ToolStepsExceeded
from ._schema import check, schema_for
from ._types import ChatOptions, ChatResponse, Message, StreamEvent, Tool, ToolCall

if TYPE_CHECKING:
    import cattrs

    from ._fallback import Attempt, Models
    from ._stream import ChatStream, Target

__all__ = [
    "DEFAULT_MAX_STEPS",
    "FunctionTool",
    "ToolResultEvent",
    "ToolRun",
    "ToolStream",
    "function_tool",
]

#: Model answers a tool loop waits for at most, unless told otherwise.
DEFAULT_MAX_STEPS = 8


@frozen
class FunctionTool:
    """A tool the model may call (its :class:`~clawdesk.Tool` declaration) and the function that answers it."""

    tool: Tool
    function: Callable[..., Any] = field(eq=False)

    @property
    def name(self) -> str:
        return self.tool.name


#: What a tool loop takes as a tool: a :class:`FunctionTool` or a plain function.
ToolLike: TypeAlias = FunctionTool | Callable[..., Any]


@overload
def function_tool(function: Callable[..., Any], /) -> FunctionTool: ...


@overload
def function_tool(
    *, name: str | None = None, description: str | None = None, parameters: Mapping[str, Any] | None = None
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


@overload
def function_tool(
    function: Callable[..., Any],
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> FunctionTool: ...


def function_tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """A :class:`FunctionTool` for ``function``; also a decorator (``@function_tool`` or ``@function_tool(name=...)``).

    ``name`` defaults to the function's name, ``description`` to the first
    paragraph of its docstring, ``parameters`` to a JSON schema of its
    parameters made from their type hints (parameters with a default are
    optional). Raises ``TypeError`` for ``*args``/``**kwargs`` or a hint that
    has no JSON schema, unless ``parameters`` is given.
    """

    def make(fn: Callable[..., Any]) -> FunctionTool:
        if not callable(fn):
            raise TypeError(f"a tool is a function, got {type(fn).__name__}")
        tool_name = name or getattr(fn, "__name__", None)
        if not tool_name or tool_name == "<lambda>":
            raise TypeError("a tool needs a name: give name= for a lambda or a callable object")
        doc = inspect.getdoc(fn) or ""
        text = description if description is not None else doc.split("\n\n")[0].replace("\n", " ").strip()
        schema = dict(parameters) if parameters is not None else _parameters(fn, tool_name)
        return FunctionTool(Tool(tool_name, text, schema), fn)

    if function is not None:
        return make(function)
    return make


def _parameters(fn: Callable[..., Any], name: str) -> dict[str, Any]:
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read the hints is the function's problem to fix
        raise TypeError(f"tool {name!r}: its type hints cannot be read: {exc}") from None
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"tool {name!r}: *args and **kwargs have no schema; give parameters=")
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise TypeError(f"tool {name!r}: {parameter.name!r} is positional-only; the model names every argument")
        try:
            schema = schema_for(hints.get(parameter.name, Any))
        except TypeError as exc:
            raise TypeError(f"tool {name!r}, parameter {parameter.name!r}: {exc}; give parameters=") from None
        if parameter.default is parameter.empty:
            required.append(parameter.name)
        else:
            try:
                json.dumps(parameter.default)
            except (TypeError, ValueError):
                pass
            else:
                schema = {**schema, "default": parameter.default}
        properties[parameter.name] = schema
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def as_function_tools(tools: Iterable[ToolLike]) -> dict[str, FunctionTool]:
    """``tools`` by name, each a :class:`FunctionTool`; ``ValueError`` for two tools with one name or none at all."""
    found: dict[str, FunctionTool] = {}
    for item in tools:
        tool = item if isinstance(item, FunctionTool) else function_tool(item)
        if tool.name in found:
            raise ValueError(f"two tools are named {tool.name!r}")
        found[tool.name] = tool
    if not found:
        raise ValueError("a tool loop needs at least one tool")
    return found


@frozen
class ToolResultEvent:
    """What a tool loop sent back to the model for one call (``stream_with_tools`` yields it between steps).

    ``content`` is the text sent; ``is_error`` is true when it tells the model
    about its own mistake (a tool that does not exist, arguments that do not fit).
    """

    call: ToolCall
    content: str
    is_error: bool = False


@frozen
class ToolRun:
    """A finished tool loop.

    ``response`` is the last answer (the one that asked for no tool);
    ``steps`` every answer in order, the last one included; ``messages`` the
    whole conversation (the messages given, then each answer and each tool
    result), ready to continue it.
    """

    response: ChatResponse
    steps: tuple[ChatResponse, ...]
    messages: tuple[Message, ...]

    @property
    def text(self) -> str:
        """The last answer's text."""
        return self.response.message.text


class _Loop:
    """What both loops share: the tools, the options with the tools declared, running one call."""

    def __init__(self, tools: Iterable[ToolLike], options: ChatOptions | None, max_steps: int) -> None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps is an integer >= 1, got {max_steps!r}")
        self.tools = as_function_tools(tools)
        base = options if options is not None else ChatOptions()
        if base.tools:
            raise ValueError("give the tools to the tool loop, not in options.tools (it declares them itself)")
        self.options = attrs.evolve(base, tools=tuple(t.tool for t in self.tools.values()))
        self.max_steps = max_steps

    async def answer(self, call: ToolCall) -> ToolResultEvent:
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self.tools))
            return ToolResultEvent(call, f"error: there is no tool named {call.name!r}; the tools are: {known}", True)
        arguments = dict(call.arguments)
        problems = check(arguments, tool.tool.parameters)
        if problems:
            return ToolResultEvent(call, f"error: the arguments do not fit the tool: {'; '.join(problems)}", True)
        result = tool.function(**_typed(tool.function, arguments))
        if inspect.isawaitable(result):
            result = await result
        return ToolResultEvent(call, _as_text(result, call.name))

    def results(self, events: Sequence[ToolResultEvent]) -> list[Message]:
        return [Message.tool_result(e.call.id, e.content, name=e.call.name) for e in events]


def _typed(function: Callable[..., Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments as the function's hints want them: attrs instances, enums, tuples (JSON types stay)."""
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - the hints were read when the tool was made; a function without is fine
        return arguments
    plain = (str, int, float, bool, type(None), Any)
    convert = {k: v for k, v in arguments.items() if k in hints and hints[k] not in plain}
    if not convert:
        return arguments
    converter = _conv()
    for key, value in convert.items():
        arguments[key] = converter.structure(value, hints[key])
    return arguments


_converter: cattrs.Converter | None = None


def _conv() -> cattrs.Converter:
    global _converter
    if _converter is None:
        from ._converter import make_converter

        _converter = make_converter()
    return _converter


def _as_text(result: object, name: str) -> str:
    if isinstance(result, str):
        return result
    if attrs.has(type(result)):
        result = _conv().unstructure(result)
    try:
        return json.dumps(result, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"tool {name!r} returned {type(result).__name__}, which is not JSON: {exc}") from None


class _Chat(typing.Protocol):
    async def chat(
        self, model: Models, messages: Sequence[Message], options: ChatOptions | None, *, fallbacks: Sequence[str]
    ) -> ChatResponse: ...

    def stream(
        self, model: Models, messages: Sequence[Message], options: ChatOptions | None, *, fallbacks: Sequence[str]
    ) -> ChatStream: ...


async def run_tools(
    client: _Chat,
    model: Models,
    messages: Sequence[Message],
    tools: Iterable[ToolLike],
    options: ChatOptions | None,
    *,
    max_steps: int,
    fallbacks: Sequence[str],
) -> ToolRun:
    """The loop of :meth:`Clawdesk.chat_with_tools` (see the module docstring)."""
    loop = _Loop(tools, options, max_steps)
    history = list(messages)
    steps: list[ChatResponse] = []
    while True:
        response = await client.chat(model, history, loop.options, fallbacks=fallbacks)
        steps.append(response)
        history.append(response.message)
        calls = response.message.tool_calls
        if not calls:
            return ToolRun(response, tuple(steps), tuple(history))
        if len(steps) >= loop.max_steps:
            raise ToolStepsExceeded(ToolRun(response, tuple(steps), tuple(history)), loop.max_steps)
        answers = [await loop.answer(call) for call in calls]
        history += loop.results(answers)


class ToolStream:
    """The events of a streamed tool loop: every step's stream events, and a :class:`ToolResultEvent` per call.

    Each step's events end with that step's own :class:`~clawdesk.Finish`
    (``tool_calls`` for a step that asked for tools), followed by the tool
    results; the last step's ``Finish`` ends it all. Use it like a
    :class:`~clawdesk.ChatStream` (``async with``, ``async for``); once it is
    over :attr:`run` is the :class:`ToolRun`, and :meth:`collect` reads what
    is left and returns it. ``target`` and ``attempts`` are those of the
    current step.
    """

    def __init__(
        self,
        client: _Chat,
        model: Models,
        messages: Sequence[Message],
        tools: Iterable[ToolLike],
        options: ChatOptions | None,
        *,
        max_steps: int,
        fallbacks: Sequence[str],
    ) -> None:
        self._client = client
        self._loop = _Loop(tools, options, max_steps)
        self._model = model
        self._fallbacks = fallbacks
        self._history = list(messages)
        self._steps: list[ChatResponse] = []
        self._current: ChatStream | None = None
        self._run: ToolRun | None = None
        self._events = self._generate()

    @property
    def target(self) -> Target | None:
        """Who answers the current step (``None`` before the first one starts)."""
        return self._current.target if self._current is not None else None

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        """The current step's attempts."""
        return self._current.attempts if self._current is not None else ()

    @property
    def run(self) -> ToolRun:
        """The finished loop; ``RuntimeError`` until the last step's events were read."""
        if self._run is None:
            raise RuntimeError("the tool loop is not finished: read it to the end, or await stream.collect()")
        return self._run

    async def _generate(self) -> AsyncIterator[StreamEvent | ToolResultEvent]:
        loop = self._loop
        while True:
            stream = self._client.stream(self._model, self._history, loop.options, fallbacks=self._fallbacks)
            self._current = stream
            try:
                async for event in stream:
                    yield event
            finally:
                await stream.aclose()
            response = stream.response
            self._steps.append(response)
            self._history.append(response.message)
            run = ToolRun(response, tuple(self._steps), tuple(self._history))
            calls = response.message.tool_calls
            if not calls:
                self._run = run
                return
            if len(self._steps) >= loop.max_steps:
                raise ToolStepsExceeded(run, loop.max_steps)
            answers = []
            for call in calls:
                answer = await loop.answer(call)
                answers.append(answer)
                yield answer
            self._history += loop.results(answers)

    def __aiter__(self) -> AsyncIterator[StreamEvent | ToolResultEvent]:
        return self._events

    async def __anext__(self) -> StreamEvent | ToolResultEvent:
        return await self._events.__anext__()

    async def collect(self) -> ToolRun:
        """Read the rest and return the :class:`ToolRun`; errors are the loop's own."""
        try:
            async for _ in self._events:
                pass
        finally:
            await self.aclose()
        return self.run

    async def aclose(self) -> None:
        """Stop the loop and release the current step's connection (idempotent)."""
        await self._events.aclose()  # type: ignore[attr-defined]
        if self._current is not None:
            await self._current.aclose()

    async def __aenter__(self) -> ToolStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
