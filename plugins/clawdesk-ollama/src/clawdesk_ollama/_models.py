"""Model listing: ``GET /api/tags``, then ``POST /api/show`` where tags say too little.

This module imports httpx; the hooks import it on first use.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx

from clawdesk import ApiError, Capability, ConnectionFailed, ModelInfo, ProviderError, TimedOut

from ._chat import wire_for
from ._config import OllamaConfig
from ._state import ModelFacts
from ._wire import capabilities_from, context_length_from

__all__ = ["list_models"]

# /api/show reads files on the server; a few at a time keeps a long list fast
# without flooding a small machine.
_SHOW_CONCURRENCY = 4


async def _request_json(
    config: OllamaConfig, http: httpx.AsyncClient, method: str, path: str, payload: Any = None
) -> Any:
    model = payload.get("model") if isinstance(payload, dict) else None
    reply = await wire_for(config, http, first_byte=False).json(method, path, payload, model=model)
    return reply.data


async def _show(config: OllamaConfig, http: httpx.AsyncClient, name: str) -> ModelFacts:
    data = await _request_json(config, http, "POST", "/api/show", {"model": name})
    if not isinstance(data, dict):
        raise ApiError(f"/api/show for {name!r} did not answer a JSON object", provider=config.name or "ollama")
    return capabilities_from(data.get("capabilities")), context_length_from(data.get("model_info"))


def _description(entry: dict[str, Any]) -> str | None:
    details = entry.get("details")
    if not isinstance(details, dict):
        return None
    words = [details.get(k) for k in ("family", "parameter_size", "quantization_level")]
    text = " ".join(w for w in words if isinstance(w, str) and w)
    return text or None


async def list_models(config: OllamaConfig, http: httpx.AsyncClient, *, refresh: bool) -> list[ModelInfo]:
    """The models the server has, with capabilities and (where learnt) context length.

    Capabilities come from ``/api/tags`` when the server includes them, else
    from ``/api/show``, whose answers are cached per model digest for the life
    of ``config``. A digest names the model's exact content, so the cache is
    never stale and ``refresh`` does not drop it: a changed model has a new
    digest. Ollama is local and cheap to ask, so ``/api/tags`` is asked every
    time. Raises :class:`~clawdesk.ConnectionFailed` or
    :class:`~clawdesk.TimedOut` when the server cannot be asked; a model whose
    ``/api/show`` fails otherwise is listed without capabilities.
    """
    del refresh  # see the docstring: tags are always asked, digests never go stale
    cache = config.model_cache
    data = await _request_json(config, http, "GET", "/api/tags")
    entries = data.get("models") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ApiError("/api/tags did not answer a list of models", provider=config.name or "ollama")

    rows: list[tuple[str, str | None, dict[str, Any]]] = []
    facts: dict[str, ModelFacts] = {}
    to_show: list[tuple[str, str | None]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name = entry.get("name") or entry.get("model")
        if not isinstance(name, str) or not name:
            continue
        digest = entry.get("digest")
        digest = digest if isinstance(digest, str) and digest else None
        rows.append((name, digest, entry))
        known = cache.facts(digest) if digest is not None else None
        if known is not None:
            facts[name] = known
        elif isinstance(entry.get("capabilities"), list):
            facts[name] = (capabilities_from(entry["capabilities"]), None)
        else:
            to_show.append((name, digest))

    failures: list[ProviderError] = []
    if to_show:
        limiter = anyio.CapacityLimiter(_SHOW_CONCURRENCY)

        async def show(name: str, digest: str | None) -> None:
            async with limiter:
                try:
                    found = await _show(config, http, name)
                except ProviderError as exc:
                    failures.append(exc)
                    return
            facts[name] = found
            if digest is not None:
                cache.remember(digest, found)

        async with anyio.create_task_group() as group:
            for name, digest in to_show:
                group.start_soon(show, name, digest)
    fatal = next((e for e in failures if isinstance(e, (ConnectionFailed, TimedOut))), None)
    if fatal is not None:
        raise fatal

    models: list[ModelInfo] = []
    names: dict[str, frozenset[Capability]] = {}
    for name, _digest, entry in rows:
        caps, context_length = facts.get(name, (frozenset(), None))
        if name in facts:
            names[name] = caps
        models.append(ModelInfo(name, caps, context_length=context_length, description=_description(entry)))
    cache.replace_names(names)
    return models
