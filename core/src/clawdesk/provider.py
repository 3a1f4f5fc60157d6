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

**The wire toolkit** (vendor-neutral): sending a request and reading its JSON
answer or its stream, with one place that classifies statuses and transport
failures (:func:`error_for_status`, :func:`map_transport_error`,
:func:`raise_for_response`, :func:`parse_retry_after`,
:func:`message_from_body`, :func:`safe_url`), framing decoders
(:class:`SSEDecoder`), and what every stream needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._hookspecs import CONTRACT_VERSION, hookimpl
from ._provider_config import ProviderConfig, check_http_url, check_non_negative, check_timeout

if TYPE_CHECKING:
    from ._wire._http import (
        ERROR_BODY_LIMIT,
        client_timeout,
        error_for_status,
        map_transport_error,
        message_from_body,
        parse_retry_after,
        raise_for_response,
        read_error_body,
        safe_url,
    )
    from .sse import DONE, ServerSentEvent, SSEDecoder

__all__ = [
    "CONTRACT_VERSION",
    "DONE",
    "ERROR_BODY_LIMIT",
    "ProviderConfig",
    "SSEDecoder",
    "ServerSentEvent",
    "check_http_url",
    "check_non_negative",
    "check_timeout",
    "client_timeout",
    "error_for_status",
    "hookimpl",
    "map_transport_error",
    "message_from_body",
    "parse_retry_after",
    "raise_for_response",
    "read_error_body",
    "safe_url",
]

# Names whose modules import httpx: loaded on first access, inside a hook.
_LAZY = {
    "ERROR_BODY_LIMIT": "._wire._http",
    "client_timeout": "._wire._http",
    "error_for_status": "._wire._http",
    "map_transport_error": "._wire._http",
    "message_from_body": "._wire._http",
    "parse_retry_after": "._wire._http",
    "raise_for_response": "._wire._http",
    "read_error_body": "._wire._http",
    "safe_url": "._wire._http",
    "DONE": ".sse",
    "SSEDecoder": ".sse",
    "ServerSentEvent": ".sse",
}


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
