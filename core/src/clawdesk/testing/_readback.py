"""What a captured request asked for, in the request's own terms, and how the kit compares it.

A provider author's kit adapter reads a request the scripted server captured
back into a :class:`SentRequest` (``read_request``); the kit sends requests
that use every option, part, tool choice and response format, and compares
what was asked with what was read back, field by field. Pure data and pure
functions: no I/O, no pytest.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from attrs import field, frozen

from .._types import (
    ContentPart,
    DocumentPart,
    ImagePart,
    Message,
    Reasoning,
    ReasoningPart,
    ResponseFormat,
    Role,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)

__all__ = ["SentMessage", "SentRequest", "compare_messages", "compare_options", "data_url_bytes"]


def _parts(value: str | Iterable[ContentPart | str]) -> tuple[ContentPart, ...]:
    if isinstance(value, str):
        return (TextPart(value),) if value else ()
    return tuple(TextPart(item) if isinstance(item, str) else item for item in value)


def _calls(value: Iterable[ToolCall]) -> tuple[ToolCall, ...]:
    return tuple(value)


def _messages(value: Iterable[SentMessage]) -> tuple[SentMessage, ...]:
    return tuple(value)


def _tools(value: Iterable[Tool]) -> tuple[Tool, ...]:
    return tuple(value)


def _mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return {} if value is None else dict(value)


@frozen(kw_only=True)
class SentMessage:
    """One message as the wire carried it, in the request's terms.

    ``parts`` as :class:`~clawdesk.Message` content (a string is one text
    part); an image or document sent inline may come back as ``data`` with its
    ``media_type`` or as a ``data:`` URL, both compare equal to the bytes asked.
    ``tool_call_id`` is ``None`` when the wire does not carry one (tool results
    matched by name or position); a :class:`~clawdesk.ToolCall` read back with
    the id ``""`` means the wire carries no call ids.
    """

    role: Role = field(converter=Role)
    parts: tuple[ContentPart, ...] = field(default=(), converter=_parts)
    tool_calls: tuple[ToolCall, ...] = field(default=(), converter=_calls)
    tool_call_id: str | None = None


@frozen(kw_only=True)
class SentRequest:
    """What one captured request asks for, read back by the kit adapter's ``read_request``.

    - ``model``: the model id as sent (``None``: the wire carries it nowhere
      the adapter can read);
    - ``messages``: every message in order (a system prompt sent apart from
      the messages comes back as a first ``system`` message);
    - ``options``: core option names (``temperature``, ``top_p``, ``top_k``,
      ``max_tokens``, ``stop`` as a tuple, ``seed``) to the values sent, under
      whatever field the wire names them;
    - ``tools``, ``tool_choice``, ``response_format``, ``reasoning``: as
      :class:`~clawdesk.ChatOptions` says them (``None``: not sent);
    - ``provider_options``: the provider's own options found in the request;
    - ``stream``: whether the request asked for a stream (``None``: the wire
      does not say, e.g. the path does).
    """

    model: str | None = None
    messages: tuple[SentMessage, ...] = field(default=(), converter=_messages)
    options: Mapping[str, Any] = field(factory=dict, converter=_mapping)
    tools: tuple[Tool, ...] = field(default=(), converter=_tools)
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    reasoning: Reasoning | None = None
    provider_options: Mapping[str, Any] = field(factory=dict, converter=_mapping)
    stream: bool | None = None


def data_url_bytes(url: str) -> bytes | None:
    """The bytes of a base64 ``data:`` URL, ``None`` for any other URL."""
    if not url.startswith("data:"):
        return None
    header, comma, payload = url[5:].partition(",")
    if not comma or not header.endswith(";base64"):
        return None
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None


def _source(part: ImagePart | DocumentPart) -> object:
    if part.data is not None:
        return bytes(part.data)
    url = part.url or ""
    inline = data_url_bytes(url)
    return inline if inline is not None else url


def _shown(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _words(text: str) -> str:
    return " ".join(text.split())


def _media(parts: Sequence[ContentPart], *, reasoning: bool) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for part in parts:
        if isinstance(part, ImagePart):
            out.append(("image", _source(part)))
        elif isinstance(part, DocumentPart):
            out.append(("document", _source(part)))
        elif isinstance(part, ReasoningPart) and reasoning:
            out.append(("reasoning", _words(part.text), part.signature, part.redacted))
    return out


def _text(parts: Sequence[ContentPart]) -> str:
    # Texts compared without their whitespace: a wire may join a message's text parts (with "", " " or
    # "\n"), and Ollama's puts images apart from the text; what matters is that no text is lost or changed.
    return "".join("".join(p.text for p in parts if type(p) is TextPart).split())


def _describe(kind: tuple[object, ...]) -> str:
    if kind[0] == "reasoning":
        return f"a reasoning part {kind[1]!r} (signature {kind[2]!r})"
    source = kind[1]
    shown = f"{len(source)} bytes" if isinstance(source, bytes) else repr(source)
    return f"an {kind[0]} ({shown})" if kind[0] == "image" else f"a {kind[0]} ({shown})"


def compare_messages(asked: Sequence[Message], sent: Sequence[SentMessage], *, reasoning: bool = True) -> list[str]:
    """What differs between the messages ``asked`` and those read back (``sent``), one line each.

    ``reasoning=False`` leaves reasoning parts out of the comparison (a wire
    with no place for them).
    """
    if len(sent) != len(asked):
        roles = [m.role.value for m in asked]
        sent_roles = [m.role.value for m in sent]
        return [f"messages: the request asked {len(asked)} messages {roles}, the wire carries {len(sent)} {sent_roles}"]
    problems: list[str] = []
    for index, (want, got) in enumerate(zip(asked, sent, strict=True)):
        where = f"messages[{index}]"
        if got.role is not want.role:
            problems.append(f"{where} sent with role {got.role.value!r} but the request asked {want.role.value!r}")
            continue
        if _text(want.content) != _text(got.parts):
            want_text = " ".join(p.text for p in want.content if type(p) is TextPart)
            got_text = " ".join(p.text for p in got.parts if type(p) is TextPart)
            problems.append(f"{where}: text sent as {_shown(got_text)} but the request asked {_shown(want_text)}")
        want_media, got_media = _media(want.content, reasoning=reasoning), _media(got.parts, reasoning=reasoning)
        if want_media != got_media:
            missing = [_describe(k) for k in want_media if k not in got_media]
            if missing:
                problems.append(f"{where}: {', '.join(missing)} asked by the request is not in what was sent")
            else:
                wanted = ", ".join(_describe(k) for k in want_media) or "nothing"
                problems.append(
                    f"{where}: parts sent as {', '.join(_describe(k) for k in got_media) or 'nothing'} "
                    f"but the request asked {wanted}"
                )
        problems += _compare_calls(where, want.tool_calls, got.tool_calls)
        if want.role is Role.TOOL and got.tool_call_id is not None and got.tool_call_id != want.tool_call_id:
            problems.append(
                f"{where}: the tool result's call id sent as {got.tool_call_id!r} "
                f"but the request asked {want.tool_call_id!r}"
            )
    return problems


def _compare_calls(where: str, asked: Sequence[ToolCall], sent: Sequence[ToolCall]) -> list[str]:
    if len(asked) != len(sent):
        return [f"{where}: {len(sent)} tool calls sent but the request asked {len(asked)}"]
    problems = []
    for i, (want, got) in enumerate(zip(asked, sent, strict=True)):
        if got.name != want.name:
            problems.append(f"{where}.tool_calls[{i}]: name sent as {got.name!r} but the request asked {want.name!r}")
        if dict(got.arguments) != dict(want.arguments):
            problems.append(
                f"{where}.tool_calls[{i}]: arguments sent as {_shown(dict(got.arguments))} "
                f"but the request asked {_shown(dict(want.arguments))}"
            )
        if got.id and got.id != want.id:
            problems.append(f"{where}.tool_calls[{i}]: id sent as {got.id!r} but the request asked {want.id!r}")
    return problems


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, (int, float))
            and isinstance(b, (int, float))
            and not isinstance(a, bool)
            and not isinstance(b, bool)
            and math.isclose(a, b, rel_tol=1e-6)
        )
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def compare_options(asked: Mapping[str, Any], sent: Mapping[str, Any]) -> list[str]:
    """What differs between the options ``asked`` and those read back, one line each."""
    problems = []
    for name, value in asked.items():
        if name not in sent:
            problems.append(f"{name} ({_shown(value)}) asked by the request is not in what was sent")
        elif not _same(sent[name], value):
            problems.append(f"{name} sent as {_shown(sent[name])} but the request asked {_shown(value)}")
    return problems
