"""Where the fallback engine keeps what it learns about providers' health.

The engine asks a state store before each candidate ("is it cooling down?")
and tells it how each try went. :class:`LocalState`, the default, keeps it in
this process. A store shared between processes implements the same three
coroutines (see ``docs/scaling.md``).

Cooldown: ``cooldown_failures`` failures of one provider within
``cooldown_window_secs`` put it in cooldown for ``cooldown_secs``. Failures
that say something about the request or the model rather than the provider's
health never count (:data:`NOT_HEALTH`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

from ._config import FallbackConfig

__all__ = ["NOT_HEALTH", "LocalState", "StateStore"]

#: Error kinds about the request or the model, not about the provider's health.
NOT_HEALTH = frozenset(
    {"invalid_request", "capability_missing", "model_not_found", "context_length_exceeded", "content_filtered"}
)


class StateStore(Protocol):
    """What the engine needs from a state store (all names are provider or instance names, never secrets)."""

    async def cooldown_remaining(self, provider: str) -> float:
        """Seconds ``provider`` is still cooling down for (0.0: not cooling down)."""
        ...

    async def note_failure(self, provider: str, kind: str) -> None:
        """One try of ``provider`` failed with an error of ``kind``."""
        ...

    async def note_success(self, provider: str) -> None:
        """One try of ``provider`` succeeded."""
        ...


class LocalState:
    """Cooldown state in this process (the default store). ``clock`` is monotonic seconds."""

    def __init__(self, config: FallbackConfig, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._cooldown_until: dict[str, float] = {}

    def remaining(self, provider: str) -> float:
        """:meth:`cooldown_remaining`, without a coroutine."""
        until = self._cooldown_until.get(provider)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._cooldown_until[provider]
            return 0.0
        return left

    async def cooldown_remaining(self, provider: str) -> float:
        return self.remaining(provider)

    async def note_failure(self, provider: str, kind: str) -> None:
        cfg = self._config
        if kind in NOT_HEALTH or cfg.cooldown_failures <= 0 or cfg.cooldown_secs <= 0:
            return
        now = self._clock()
        recent = self._failures.setdefault(provider, deque())
        recent.append(now)
        while recent and now - recent[0] > cfg.cooldown_window_secs:
            recent.popleft()
        if len(recent) >= cfg.cooldown_failures:
            self._cooldown_until[provider] = now + cfg.cooldown_secs
            recent.clear()

    async def note_success(self, provider: str) -> None:
        self._failures.pop(provider, None)
