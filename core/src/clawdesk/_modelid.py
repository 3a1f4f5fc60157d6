"""Model ids: ``provider/model``."""

from __future__ import annotations

import re

from ._errors import InvalidModelId

__all__ = ["PROVIDER_NAME_RE", "parse_model_id"]

#: What a provider name may look like (also checked when a plugin loads).
PROVIDER_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")


def parse_model_id(model_id: str) -> tuple[str, str | None]:
    """Split ``provider/model`` at the first ``/``.

    The model part keeps any further ``/`` and ``:`` (Ollama's
    ``library/llama3.2:3b``). A bare ``provider`` gives ``(provider, None)``:
    the provider's ``default_model`` then applies. Raises
    :class:`~clawdesk.InvalidModelId` for an empty id, an empty model after
    ``/``, or a provider part that is not a valid provider name.
    """
    text = model_id.strip()
    provider, sep, model = text.partition("/")
    if not provider or not PROVIDER_NAME_RE.fullmatch(provider):
        raise InvalidModelId(f"invalid model id {_shown(model_id)}: expected 'provider/model', e.g. 'acme/model-1'")
    if sep and not model.strip():
        raise InvalidModelId(f"invalid model id {_shown(model_id)}: no model after '{provider}/'")
    return provider, (model if sep else None)


def _shown(model_id: str) -> str:
    # An id can come from anywhere (a 1 MiB argument, a config value): keep the message short.
    text = repr(model_id)
    return text if len(text) <= 80 else text[:76] + "...'"
