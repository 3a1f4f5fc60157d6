"""Mistral's dialect of the chat completions wire, and Mistral's own request fields. Pure functions, no I/O.

The wire itself (messages, tools, response formats, answers, streams) is
:mod:`clawdesk_openai_compat`'s; Mistral differs in details, written down
here as a :class:`~clawdesk_openai_compat.Dialect`: ``random_seed`` for the
seed, a temperature of at most 1.5, one reasoning level (``"high"``),
``thinking`` chunks for earlier reasoning, image URLs as plain strings and
in any non-system turn, a ``name`` on tool results but on no other message,
and no ``stream_options`` on La Plateforme, which refuses unknown fields
(422 ``extra_forbidden``): a request that cannot be expressed exactly raises
:class:`~clawdesk.InvalidRequest` before anything is sent.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import attrs

from clawdesk import ChatRequest
from clawdesk.provider import ProviderConfig
from clawdesk_openai_compat import Dialect

from ._config import MistralOptions

__all__ = ["COMPATIBLE", "LA_PLATEFORME", "dialect_for", "encode_chat"]

#: La Plateforme (api.mistral.ai).
LA_PLATEFORME = Dialect(
    name="mistral",
    label="Mistral",
    seed_field="random_seed",
    seed_min=0,
    stream_usage=False,
    temperature_max=1.5,
    reasoning="high-or-none",
    request_id_header="mistral-correlation-id",
    media_in_all_turns=True,
    image_url_string=True,
    reasoning_parts="thinking",
    tool_result_name=True,
    message_names=False,
)
#: Mistral's wire to any other server (a self-hosted one, a compatible one): the same, and streams
#: ask for their usage with stream_options, which such servers take (and send usage only then).
COMPATIBLE = attrs.evolve(LA_PLATEFORME, name="mistral-compatible", stream_usage=True)

_DEFAULT_OPTIONS = MistralOptions()


def dialect_for(config: ProviderConfig) -> Dialect:
    """:data:`LA_PLATEFORME` or :data:`COMPATIBLE`, as ``stream_usage`` says (unset: by ``base_url``'s host)."""
    chosen = getattr(config, "stream_usage", None)
    if chosen is None:
        try:
            host = (urlsplit(config.base_url).hostname or "").lower()
        except ValueError:
            host = ""
        chosen = not (host == "mistral.ai" or host.endswith(".mistral.ai"))
    return COMPATIBLE if chosen else LA_PLATEFORME


def _encode_options(options: MistralOptions, body: dict[str, Any]) -> None:
    """Mistral's own request fields from ``provider_options.mistral`` (already typed and checked by core)."""
    for key in ("safe_prompt", "parallel_tool_calls", "presence_penalty", "frequency_penalty", "prompt_cache_key"):
        value = getattr(options, key)
        if value is not None:
            body[key] = value
    if options.prompt_mode is not None:
        body["prompt_mode"] = None if options.prompt_mode == "none" else options.prompt_mode
    if options.metadata is not None:
        body["metadata"] = dict(options.metadata)
    prediction = options.prediction
    if prediction is not None:
        content = prediction if isinstance(prediction, str) else prediction.get("content", "")
        body["prediction"] = {"type": "content", "content": content}


def encode_chat(
    request: ChatRequest, *, stream: bool, provider: str, dialect: Dialect = LA_PLATEFORME
) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for ``request``: the shared wire in Mistral's dialect,
    plus Mistral's own fields.

    Raises :class:`~clawdesk.InvalidRequest` for what Mistral cannot take and
    no one could (out-of-range numbers, images in system messages, names on
    non-tool messages, a forced tool that was not given, ...), and
    :class:`~clawdesk.CapabilityMissing` for what another provider may
    honour: ``top_k``, documents, a reasoning budget.
    """
    from clawdesk_openai_compat import encode_chat as encode

    body = encode(request, dialect=dialect, provider=provider, stream=stream)
    own = request.provider_options
    _encode_options(own if isinstance(own, MistralOptions) else _DEFAULT_OPTIONS, body)
    return body
