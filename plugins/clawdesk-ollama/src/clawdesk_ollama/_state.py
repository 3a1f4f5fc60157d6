"""What model listings learn, kept for the life of one provider config."""

from __future__ import annotations

import threading

from clawdesk import Capability

__all__ = ["ModelCache", "ModelFacts", "normalise_model_name"]

ModelFacts = tuple[frozenset[Capability], int | None]
"""A model's capabilities and context length (``None`` when unknown)."""


def normalise_model_name(name: str) -> str:
    """``llama3.2`` -> ``llama3.2:latest``, as Ollama resolves a name without a tag.

    The tag is the part after a ``:`` in the last path segment, so a registry
    host with a port (``host:5000/model``) is not mistaken for one.
    """
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


class ModelCache:
    """Capabilities per model digest and per model name.

    A digest names a model's exact content (weights, template, parameters),
    and capabilities follow from that content, so facts cached per digest
    never go stale: a re-pulled or changed model has a new digest. The name
    map is replaced by each listing so that :func:`provider_capabilities`
    answers for what the server had at the last listing.
    """

    __slots__ = ("_by_digest", "_by_name", "_lock")

    def __init__(self) -> None:
        self._by_digest: dict[str, ModelFacts] = {}
        self._by_name: dict[str, frozenset[Capability]] = {}
        self._lock = threading.Lock()

    def facts(self, digest: str) -> ModelFacts | None:
        """What is known about the model with this digest, or ``None``."""
        return self._by_digest.get(digest)

    def remember(self, digest: str, facts: ModelFacts) -> None:
        with self._lock:
            self._by_digest[digest] = facts

    def replace_names(self, names: dict[str, frozenset[Capability]]) -> None:
        """Record the capabilities of every model of one listing (names as Ollama lists them)."""
        table = {normalise_model_name(name): caps for name, caps in names.items()}
        with self._lock:
            self._by_name = table

    def capabilities(self, model: str) -> frozenset[Capability] | None:
        """The capabilities the last listing found for ``model``, or ``None``."""
        return self._by_name.get(normalise_model_name(model))
