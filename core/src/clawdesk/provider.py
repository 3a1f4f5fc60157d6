"""Everything a provider plugin is written with: the contract's markers and the wire toolkit.

Applications use :mod:`clawdesk`; plugin authors use this module (and
:mod:`clawdesk.testing` for their tests)::

    from clawdesk.provider import ProviderConfig, hookimpl

    CLAWDESK_CONTRACT = 2  # the contract this plugin was written for


    @hookimpl
    def provider_name() -> str:
        return "acme"

Importing it is cheap: the contract's markers and the config base load at
once; the wire toolkit (which imports httpx) loads on first use of one of its
names, inside a hook.

**The contract:** :data:`hookimpl`, :data:`CONTRACT_VERSION`,
:class:`ProviderConfig` and its validators (:func:`check_http_url`,
:func:`check_timeout`, :func:`check_non_negative`).

**The wire toolkit** (vendor-neutral; it imports httpx, so it loads on first
use of one of its names, inside a hook):

- sending and reading: :class:`Wire` (one per call) with its replies
  :class:`JsonReply` and :class:`StreamReply`; auth by :func:`bearer`,
  :func:`api_key_header` or a :data:`Signer`; a plugin's error reading
  :data:`Classify` over an :class:`ErrorResponse`; :func:`encode_json`;
  :data:`MAX_BODY_BYTES`, :data:`DRAIN_SECS`;
- the one classification of statuses and transport failures, which
  :class:`Wire` uses and plugins may too: :func:`error_for_status`,
  :func:`map_transport_error`, :func:`raise_for_response`,
  :func:`parse_retry_after`, :func:`retry_after_from`,
  :func:`message_from_body`, :func:`short_text`, :func:`parse_json`,
  :func:`read_error_body`, :func:`safe_url`,
  :func:`client_timeout`, :func:`request_timeout`, :data:`ERROR_BODY_LIMIT`;
- framing decoders, each fed bytes and giving frames: :class:`SSEDecoder`
  (with :data:`DONE`, :class:`ServerSentEvent`), :class:`NDJSONDecoder`,
  :class:`EventStreamDecoder` (the AWS binary event stream, with
  :class:`EventStreamMessage`, :class:`EventStreamTimestamp`,
  :data:`HeaderValue` and :func:`encode_event_stream_message`);
  their errors :class:`FramingError`, :class:`FrameTooLarge` and the cap
  :data:`DEFAULT_MAX_FRAME_BYTES`;
- decoding JSON: :func:`loads_json` (``json.loads``'s results, several times
  faster on the small objects a stream is made of);
- assembling answers: :class:`ToolCallAssembler`, :func:`parse_arguments`,
  :func:`stable_call_id`, :func:`tool_call_names`, :class:`StreamTail`.

See ``docs/contract.md`` and the tutorial for how a provider uses them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._hookspecs import CONTRACT_VERSION, hookimpl
from ._provider_config import ProviderConfig, check_http_url, check_non_negative, check_timeout

if TYPE_CHECKING:
    from ._wire._assembly import StreamTail, ToolCallAssembler, parse_arguments, stable_call_id, tool_call_names
    from ._wire._eventstream import (
        EventStreamDecoder,
        EventStreamMessage,
        EventStreamTimestamp,
        HeaderValue,
        encode_event_stream_message,
    )
    from ._wire._framing import DEFAULT_MAX_FRAME_BYTES, FrameTooLarge, FramingError
    from ._wire._http import (
        ERROR_BODY_LIMIT,
        client_timeout,
        error_for_status,
        map_transport_error,
        message_from_body,
        parse_json,
        parse_retry_after,
        raise_for_response,
        read_error_body,
        request_timeout,
        retry_after_from,
        safe_url,
        short_text,
    )
    from ._wire._json import loads_json
    from ._wire._ndjson import NDJSONDecoder
    from ._wire._send import (
        DRAIN_SECS,
        MAX_BODY_BYTES,
        Auth,
        Classify,
        ErrorResponse,
        HeaderAuth,
        JsonReply,
        Signer,
        StreamReply,
        Wire,
        api_key_header,
        bearer,
        encode_json,
    )
    from .sse import DONE, ServerSentEvent, SSEDecoder

# Names whose modules import httpx (or are only needed inside hooks): loaded on first access.
_LAZY = {
    **dict.fromkeys(
        ("StreamTail", "ToolCallAssembler", "parse_arguments", "stable_call_id", "tool_call_names"),
        "._wire._assembly",
    ),
    **dict.fromkeys(
        (
            "EventStreamDecoder",
            "EventStreamMessage",
            "EventStreamTimestamp",
            "HeaderValue",
            "encode_event_stream_message",
        ),
        "._wire._eventstream",
    ),
    **dict.fromkeys(("DEFAULT_MAX_FRAME_BYTES", "FramingError", "FrameTooLarge"), "._wire._framing"),
    **dict.fromkeys(
        (
            "ERROR_BODY_LIMIT",
            "client_timeout",
            "error_for_status",
            "map_transport_error",
            "message_from_body",
            "parse_json",
            "parse_retry_after",
            "raise_for_response",
            "read_error_body",
            "request_timeout",
            "retry_after_from",
            "safe_url",
            "short_text",
        ),
        "._wire._http",
    ),
    "NDJSONDecoder": "._wire._ndjson",
    "loads_json": "._wire._json",
    **dict.fromkeys(
        (
            "DRAIN_SECS",
            "MAX_BODY_BYTES",
            "Auth",
            "Classify",
            "ErrorResponse",
            "HeaderAuth",
            "JsonReply",
            "Signer",
            "StreamReply",
            "Wire",
            "api_key_header",
            "bearer",
            "encode_json",
        ),
        "._wire._send",
    ),
    **dict.fromkeys(("DONE", "SSEDecoder", "ServerSentEvent"), ".sse"),
}

__all__ = [
    "CONTRACT_VERSION",
    "DEFAULT_MAX_FRAME_BYTES",
    "DONE",
    "DRAIN_SECS",
    "ERROR_BODY_LIMIT",
    "MAX_BODY_BYTES",
    "Auth",
    "Classify",
    "ErrorResponse",
    "EventStreamDecoder",
    "EventStreamMessage",
    "EventStreamTimestamp",
    "FrameTooLarge",
    "FramingError",
    "HeaderAuth",
    "HeaderValue",
    "JsonReply",
    "NDJSONDecoder",
    "ProviderConfig",
    "SSEDecoder",
    "ServerSentEvent",
    "Signer",
    "StreamReply",
    "StreamTail",
    "ToolCallAssembler",
    "Wire",
    "api_key_header",
    "bearer",
    "check_http_url",
    "check_non_negative",
    "check_timeout",
    "client_timeout",
    "encode_event_stream_message",
    "encode_json",
    "error_for_status",
    "hookimpl",
    "loads_json",
    "map_transport_error",
    "message_from_body",
    "parse_arguments",
    "parse_json",
    "parse_retry_after",
    "raise_for_response",
    "read_error_body",
    "request_timeout",
    "retry_after_from",
    "safe_url",
    "short_text",
    "stable_call_id",
    "tool_call_names",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'clawdesk.provider' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, "clawdesk"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
