"""Provider options: each provider's share of :attr:`ChatOptions.provider_options`, typed.

A caller writes ``provider_options={"ollama": {"think": True}, "mistral": {...}}``
once for a whole chain. When a candidate is called, its tables are picked
(the plugin's name first, then a named instance's own name on top: ``gpu2``
served by the ``ollama`` plugin reads ``ollama`` and then ``gpu2``) and
structured into the class its ``provider_options_type`` hook names. Tables
for other providers are none of its business and are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._config import structure_fields
from ._errors import ConfigError, InvalidRequest
from ._registry import Provider
from ._types import ChatOptions

__all__ = ["provider_options_for"]


def provider_options_for(provider: Provider, name: str, options: ChatOptions) -> Any:
    """The typed options for ``provider`` serving under ``name``, or ``None`` when it has no options class.

    Raises :class:`~clawdesk.InvalidRequest` (naming the key path, e.g.
    ``provider_options.ollama.think``) for an unknown key or a wrong type, and
    for a table given to a provider that takes no options.
    """
    given = options.provider_options
    namespaces = [provider.name] if name == provider.name else [provider.name, name]
    tables = [(ns, given[ns]) for ns in namespaces if ns in given] if given else []
    options_type = provider.options_type
    if options_type is None:
        if tables:
            ns = tables[0][0]
            raise InvalidRequest(
                f"provider_options.{ns}: the {provider.name} provider takes no provider options", provider=name
            )
        return None
    if not tables:
        return _default(provider)
    merged: dict[str, Any] = {}
    for ns, table in tables:
        if not isinstance(table, Mapping):  # pragma: no cover - ChatOptions checks this already
            raise InvalidRequest(f"provider_options.{ns}: expected a mapping", provider=name)
        # Each table on its own first, so an error names the table it is in.
        _structure(options_type, table, f"provider_options.{ns}", name)
        merged.update(table)
    return _structure(options_type, merged, f"provider_options.{namespaces[-1]}", name)


def _structure(options_type: type, table: Mapping[str, Any], path: str, name: str) -> Any:
    try:
        return structure_fields(options_type, table, path=path)
    except ConfigError as exc:
        raise InvalidRequest(exc.message, provider=name) from None


def _default(provider: Provider) -> Any:
    # One default instance per options class: most calls give no options at all.
    options_type = provider.options_type
    assert options_type is not None
    cached = _defaults.get(options_type)
    if cached is None:
        cached = _defaults[options_type] = options_type()
    return cached


_defaults: dict[type, Any] = {}
