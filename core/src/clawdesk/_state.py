"""Where the fallback engine keeps what it learns about providers' health, and their rate budgets.

The engine asks a state store before each candidate ("is it cooling down?"),
before each try of a provider that has a rate budget ("may I send now, or
when?"), and tells it how each try went and how many tokens an answer used.
:class:`LocalState`, the default, keeps all of it in this process;
:class:`~clawdesk.RedisState` (``[state] backend = "redis"``) keeps it in Redis,
shared by every process that uses the same server and key prefix (see
``docs/scaling.md``).

Cooldown: ``cooldown_failures`` failures of one provider within
``cooldown_window_secs`` put it in cooldown for ``cooldown_secs``. Failures
that say something about the request or the model rather than the provider's
health never count (:data:`NOT_HEALTH`).

Rate budgets (:class:`~clawdesk.RateLimit`), the same rules in every store:

- requests: a generic cell rate algorithm. Each provider has a *theoretical
  arrival time* ``tat``; with ``T = 60 / requests_per_minute`` and
  ``tau = (burst - 1) * T``, a request may go at ``max(tat - tau, now)``, and
  taking that slot moves ``tat`` to ``max(tat, slot) + T``. Over any span of
  ``d`` seconds at most ``floor(d / T) + burst`` requests go.
- tokens: each answer's input + output tokens push the provider's token
  ``tat`` forward by ``tokens * 60 / tokens_per_minute`` seconds (from
  ``now`` when it lies in the past); a request may go once ``tat - 60 <= now``,
  that is while at most a minute's budget is outstanding (so the answer that
  fills the budget can overshoot it by its own size).
- a slot later than ``max_wait`` from now is refused and nothing is taken.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Protocol

from attrs import frozen

from ._config import FallbackConfig, RateLimit, StateConfig

__all__ = ["NOT_HEALTH", "Admission", "LocalState", "StateStore", "make_state"]

#: Error kinds about the request or the model, not about the provider's health.
NOT_HEALTH = frozenset(
    {"invalid_request", "capability_missing", "model_not_found", "context_length_exceeded", "content_filtered"}
)


@frozen
class Admission:
    """A store's answer to "may this provider get a request?".

    ``granted``: a slot was taken, and the request may go after ``wait``
    seconds (0.0: now). Not granted: the next slot is ``wait`` seconds away,
    more than the caller would wait, and nothing was taken.
    """

    granted: bool
    wait: float = 0.0


GRANTED_NOW = Admission(True, 0.0)


class StateStore(Protocol):
    """What the engine needs from a state store (all names are provider or instance names, never secrets).

    A store must never fail a call because of itself: a shared store that
    cannot reach its server answers from local state instead.
    """

    async def cooldown_remaining(self, provider: str) -> float:
        """Seconds ``provider`` is still cooling down for (0.0: not cooling down)."""
        ...

    async def note_failure(self, provider: str, kind: str) -> None:
        """One try of ``provider`` failed with an error of ``kind``."""
        ...

    async def note_success(self, provider: str) -> None:
        """One try of ``provider`` succeeded."""
        ...

    async def acquire(self, provider: str, limit: RateLimit, max_wait: float) -> Admission:
        """Take a request slot of ``provider``'s budget no more than ``max_wait`` seconds away (see the module)."""
        ...

    async def note_usage(self, provider: str, limit: RateLimit, tokens: int) -> None:
        """Charge ``tokens`` (input + output) to ``provider``'s token budget."""
        ...

    async def aclose(self) -> None:
        """Release connections (idempotent; the store stays usable and reconnects when used again)."""
        ...


class LocalState:
    """Cooldowns and rate budgets in this process (the default store). ``clock`` is monotonic seconds."""

    def __init__(self, config: FallbackConfig, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._cooldown_until: dict[str, float] = {}
        self._request_tat: dict[str, float] = {}
        self._token_tat: dict[str, float] = {}

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

    def take(self, provider: str, limit: RateLimit, max_wait: float) -> Admission:
        """:meth:`acquire`, without a coroutine."""
        now = self._clock()
        wait = 0.0
        tat = now
        rpm = limit.requests_per_minute
        if rpm:
            interval = 60.0 / rpm
            tat = max(self._request_tat.get(provider, now), now)
            wait = max(wait, tat - (limit.burst - 1) * interval - now)
        if limit.tokens_per_minute:
            wait = max(wait, self._token_tat.get(provider, now) - 60.0 - now)
        if wait > max_wait:
            return Admission(False, wait)
        if rpm:
            self._request_tat[provider] = max(tat, now + wait) + 60.0 / rpm
        return GRANTED_NOW if wait <= 0 else Admission(True, wait)

    async def acquire(self, provider: str, limit: RateLimit, max_wait: float) -> Admission:
        return self.take(provider, limit, max_wait)

    def charge(self, provider: str, limit: RateLimit, tokens: int) -> None:
        """:meth:`note_usage`, without a coroutine."""
        tpm = limit.tokens_per_minute
        if not tpm or tokens <= 0:
            return
        now = self._clock()
        self._token_tat[provider] = max(self._token_tat.get(provider, now), now) + tokens * 60.0 / tpm

    async def note_usage(self, provider: str, limit: RateLimit, tokens: int) -> None:
        self.charge(provider, limit, tokens)

    async def aclose(self) -> None:
        return None


def make_state(
    state: StateConfig,
    fallback: FallbackConfig,
    clock: Callable[[], float],
    *,
    env: Mapping[str, str] | None = None,
) -> StateStore:
    """The store ``[state]`` asks for: a :class:`LocalState`, or a Redis store over one.

    Raises :class:`~clawdesk.ConfigError` when the Redis backend is asked for
    without a usable URL. The Redis module is imported only here, and only
    for that backend.
    """
    resolved = state.resolve(env)
    if resolved.backend != "redis":
        return LocalState(fallback, clock)
    from ._redis import RedisState

    assert resolved.url is not None  # resolve() refuses redis without a URL
    return RedisState(resolved, fallback, clock=clock)
