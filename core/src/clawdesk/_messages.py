"""Messages given as dicts: the OpenAI chat shape, and clawdesk's own JSON shape.

Everywhere a call takes messages it also takes plain dicts, as an
application holding an OpenAI-style history has them::

    {"role": "system", "content": "Be brief."}
    {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                 {"type": "image_url", "image_url": {"url": "https://..."}}]}
    {"role": "assistant", "content": None,
     "tool_calls": [{"id": "call_1", "type": "function",
                     "function": {"name": "weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}]}
    {"role": "tool", "tool_call_id": "call_1", "content": "18 C"}

and the shape :func:`clawdesk.make_converter` writes (``{"type": "text"}``,
``"image"``, ``"document"``, ``"reasoning"`` parts, tool calls with parsed
``arguments``), so a conversation saved as JSON comes back unchanged.

What each OpenAI field becomes: ``developer`` is a system message; a
``text`` or ``refusal`` part is a :class:`~clawdesk.TextPart`; an
``image_url`` part (an ``https:`` or ``data:`` URL) an
:class:`~clawdesk.ImagePart`; a ``file`` part with ``file_data`` (a base64
``data:`` URL) a :class:`~clawdesk.DocumentPart`; ``reasoning_content`` (as
some OpenAI-compatible servers send it) a :class:`~clawdesk.ReasoningPart`
before the text; a tool call's ``arguments`` (a JSON string) is parsed into
an object. What has no place in a :class:`~clawdesk.Message` is refused, never
dropped: audio parts, uploaded ``file_id`` references, the deprecated
``function_call`` and unknown keys raise ``ValueError`` naming the key path
(``messages[2].content[0].image_url.url: expected a string, got 42``).
``None`` values (``"refusal": None``, ``"audio": None``, as the OpenAI SDK
writes them) mean absent.

The final step goes through clawdesk's converter (never cattrs' global one),
with strict strings and numbers: ``{"text": 5}`` is an error, not ``"5"``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._types import Message

if TYPE_CHECKING:
    import cattrs

__all__ = ["MessageLike", "message_from_dict"]

MessageLike = Message | Mapping[str, Any]

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
_MESSAGE_KEYS = frozenset({"role", "content", "tool_calls", "tool_call_id", "name", "reasoning_content"})
# Keys the OpenAI SDK writes with null when unused; a null value is absent, anything else is refused.
_NULLABLE_KEYS = frozenset({"refusal", "audio", "function_call", "annotations"})
_OUR_PART_TYPES = frozenset({"text", "image", "document", "reasoning"})
_PART_KINDS = "text, image_url, file, refusal (chat completions) or image, document, reasoning (clawdesk)"

_converter: cattrs.Converter | None = None


def _conv() -> cattrs.Converter:
    global _converter
    if _converter is None:
        from ._converter import make_converter

        _converter = make_converter()
    return _converter


# The fields of clawdesk's own part shapes and whether each is required. Their
# types are checked here, not left to cattrs: it would turn 5 into "5".
_PART_FIELDS: dict[str, dict[str, bool]] = {
    "text": {"text": True, "signature": False},
    "image": {"url": False, "data": False, "media_type": False},
    "document": {"url": False, "data": False, "media_type": False, "name": False},
    "reasoning": {"text": False, "signature": False, "redacted": False, "source": False},
}


def _describe(value: object) -> str:
    kinds = {
        type(None): "null",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }
    kind = kinds.get(type(value), type(value).__name__)
    if isinstance(value, (bool, int, float)) or value is None:
        return f"{kind} ({value!r})" if value is not None else kind
    if isinstance(value, str):
        shown = repr(value) if len(value) <= 30 else repr(value[:27] + "...")
        return f"{kind} ({shown})"
    return kind


def _fail(path: str, message: str) -> ValueError:
    return ValueError(f"{path}: {message}")


def message_from_dict(data: object, path: str = "message") -> Message:
    """A :class:`~clawdesk.Message` from an OpenAI-style or clawdesk-style dict (see the module docstring).

    ``path`` prefixes every error (``messages[1]``). Raises ``ValueError``
    (or ``TypeError`` for a value that is not a mapping at all) with the key
    path and what was expected.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"{path}: expected a Message or a dict, got {_describe(data)}")
    for key in data:
        if not isinstance(key, str):
            raise _fail(path, f"keys are strings, got {_describe(key)}")
        if key in _NULLABLE_KEYS:
            if data[key] is not None:
                raise _fail(f"{path}.{key}", _unsupported_key(key))
        elif key not in _MESSAGE_KEYS:
            raise _fail(f"{path}.{key}", f"unknown key (expected: {', '.join(sorted(_MESSAGE_KEYS))})")
    role = data.get("role")
    if role is None:
        raise _fail(f"{path}.role", "missing (one of: system, developer, user, assistant, tool)")
    if not isinstance(role, str) or role not in _ROLES:
        raise _fail(f"{path}.role", f"expected one of: system, developer, user, assistant, tool; got {_describe(role)}")
    normal: dict[str, Any] = {"role": _ROLES[role]}
    parts = _content(data.get("content"), f"{path}.content")
    reasoning = data.get("reasoning_content")
    if reasoning is not None:
        if not isinstance(reasoning, str):
            raise _fail(f"{path}.reasoning_content", f"expected a string, got {_describe(reasoning)}")
        if reasoning:
            parts.insert(0, {"type": "reasoning", "text": reasoning})
    normal["content"] = parts
    calls = data.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise _fail(f"{path}.tool_calls", f"expected an array, got {_describe(calls)}")
        normal["tool_calls"] = [_tool_call(call, f"{path}.tool_calls[{i}]") for i, call in enumerate(calls)]
    for key in ("tool_call_id", "name"):
        if data.get(key) is not None:
            normal[key] = _string(data[key], f"{path}.{key}")
    return _structure(normal, path)


def _unsupported_key(key: str) -> str:
    if key == "function_call":
        return "the deprecated function_call is not supported; use tool_calls"
    if key == "audio":
        return "audio is not supported"
    return f"{key} is not supported (only null is accepted)"


def _content(content: object, path: str) -> list[Any]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise _fail(path, f"expected a string or an array of parts, got {_describe(content)}")
    return [_part(part, f"{path}[{i}]") for i, part in enumerate(content)]


def _part(part: object, path: str) -> Any:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if not isinstance(part, Mapping):
        raise _fail(path, f"expected a string or an object with a type, got {_describe(part)}")
    kind = part.get("type")
    if not isinstance(kind, str):
        raise _fail(f"{path}.type", f"expected one of: {_PART_KINDS}; got {_describe(kind)}")
    if kind == "refusal":
        _only(part, {"type", "refusal"}, path)
        return {"type": "text", "text": _string(part.get("refusal"), f"{path}.refusal")}
    if kind == "image_url":
        _only(part, {"type", "image_url"}, path)
        image = part.get("image_url")
        if isinstance(image, Mapping):
            _only(image, {"url", "detail"}, f"{path}.image_url")
            url = _string(image.get("url"), f"{path}.image_url.url")
        else:
            url = _string(image, f"{path}.image_url")
        return {"type": "image", "url": url}
    if kind == "file":
        _only(part, {"type", "file"}, path)
        return _file(part.get("file"), f"{path}.file")
    if kind in ("input_audio", "audio"):
        raise _fail(f"{path}.type", "audio parts are not supported")
    if kind not in _OUR_PART_TYPES:
        raise _fail(f"{path}.type", f"expected one of: {_PART_KINDS}; got {_describe(kind)}")
    fields = _PART_FIELDS[kind]
    _only(part, {"type", *fields}, path)
    for name, required in fields.items():
        value = part.get(name)
        if value is None and not required:
            continue
        _string(value, f"{path}.{name}")
    return dict(part)


def _file(file: object, path: str) -> dict[str, Any]:
    if not isinstance(file, Mapping):
        raise _fail(path, f"expected an object with file_data, got {_describe(file)}")
    if file.get("file_id") is not None:
        raise _fail(f"{path}.file_id", "an uploaded file's id is the uploader's own; send the data (file_data)")
    _only(file, {"file_data", "filename", "file_id"}, path)
    data_url = _string(file.get("file_data"), f"{path}.file_data")
    media_type, data = _data_url(data_url, f"{path}.file_data")
    document: dict[str, Any] = {"type": "document", "data": data, "media_type": media_type}
    name = file.get("filename")
    if name is not None:
        document["name"] = _string(name, f"{path}.filename")
    return document


def _data_url(url: str, path: str) -> tuple[str, bytes]:
    head, sep, payload = url.partition(",")
    if not (sep and head.startswith("data:") and head.endswith(";base64")):
        raise _fail(path, "expected a base64 data: URL (data:application/pdf;base64,...)")
    media_type = head[len("data:") : -len(";base64")]
    if not media_type:
        raise _fail(path, "the data: URL names no media type")
    try:
        return media_type, base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(path, "the data: URL's payload is not base64") from None


def _tool_call(call: object, path: str) -> dict[str, Any]:
    if not isinstance(call, Mapping):
        raise _fail(path, f"expected an object, got {_describe(call)}")
    if "function" not in call:  # clawdesk's own shape
        _only(call, {"id", "name", "arguments", "signature"}, path)
        arguments = call.get("arguments", {})
        if not isinstance(arguments, Mapping):
            raise _fail(f"{path}.arguments", f"expected an object, got {_describe(arguments)}")
        own: dict[str, Any] = {"id": _string(call.get("id"), f"{path}.id")}
        own["name"] = _string(call.get("name"), f"{path}.name")
        own["arguments"] = dict(arguments)
        if call.get("signature") is not None:
            own["signature"] = _string(call["signature"], f"{path}.signature")
        return own
    _only(call, {"id", "type", "function"}, path)
    kind = call.get("type", "function")
    if kind != "function":
        raise _fail(f"{path}.type", f"expected 'function', got {_describe(kind)}")
    function = call["function"]
    if not isinstance(function, Mapping):
        raise _fail(f"{path}.function", f"expected an object, got {_describe(function)}")
    _only(function, {"name", "arguments"}, f"{path}.function")
    name = _string(function.get("name"), f"{path}.function.name")
    arguments = function.get("arguments", "{}")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            raise _fail(f"{path}.function.arguments", "not valid JSON") from None
    if not isinstance(arguments, Mapping):
        raise _fail(f"{path}.function.arguments", f"expected a JSON object, got {_describe(arguments)}")
    return {"id": _string(call.get("id"), f"{path}.id"), "name": name, "arguments": dict(arguments)}


def _only(data: Mapping[str, Any], allowed: set[str], path: str) -> None:
    for key in data:
        if key not in allowed:
            raise _fail(f"{path}.{key}", f"unknown key (expected: {', '.join(sorted(allowed))})")


def _string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"expected a string, got {_describe(value)}")
    return value


def _structure(normal: dict[str, Any], path: str) -> Message:
    import cattrs

    try:
        return _conv().structure(normal, Message)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        raise ValueError(_first_error(exc, path)) from None


def _first_error(exc: BaseException, path: str) -> str:
    """The first leaf error of a cattrs error tree, as ``key.path: message``."""
    import cattrs
    from cattrs.errors import AttributeValidationNote, IterableValidationNote

    where = path
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):
            where = f"{path}.{note.name}"
        elif isinstance(note, IterableValidationNote):
            where = f"{path}[{note.index}]"
    if isinstance(exc, cattrs.BaseValidationError) and exc.exceptions:
        return _first_error(exc.exceptions[0], where)
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"{where}: unknown key {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, KeyError):
        return f"{where}: missing {exc.args[0] if exc.args else 'a required key'}"
    return f"{where}: {exc}"
