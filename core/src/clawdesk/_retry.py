"""The retry policy: given one failed try, retry it (after a wait), move on, or stop.

Kept apart from walking the chain (:mod:`clawdesk._fallback`), so that the
rules can be read, tested and replaced on their own. The table, per error:

====================================  =========================================
error                                 decision
====================================  =========================================
a stream broken after its first event stop (never restarted: events were out)
invalid request                       stop (``stop_on_invalid_request``), else next
not retryable (auth, quota, model     next
not found, capability, context
length, content filtered, plugin)
retryable, tries left                 retry after ``retry_after`` when the
                                      backend gave one (next when that is over
                                      ``max_retry_after_secs``), else after
                                      exponential backoff with full jitter
retryable, no tries left              next
====================================  =========================================
"""

from __future__ import annotations

import random
from typing import Literal

from attrs import frozen

from ._errors import InvalidRequest, ProviderError, StreamInterrupted

__all__ = ["Decision", "RetryPolicy"]

Action = Literal["retry", "next", "stop"]


@frozen
class Decision:
    """What to do after a failed try: ``retry`` after ``wait`` seconds, go to the ``next`` candidate, or ``stop``."""

    action: Action
    wait: float = 0.0


@frozen(kw_only=True)
class RetryPolicy:
    """Decides, for one candidate, what follows a failed try.

    ``max_retries`` is how many times a candidate is asked again after its
    first try; ``backoff_base_secs`` and ``backoff_max_secs`` shape the
    jittered exponential backoff (try ``n`` waits a uniform time in
    ``[0, min(max, base * 2**(n-1))]``); a server's ``retry_after`` is waited
    for exactly, unless it is longer than ``max_retry_after_secs``, when
    another candidate now is the better bet.
    """

    max_retries: int = 2
    backoff_base_secs: float = 0.5
    backoff_max_secs: float = 8.0
    max_retry_after_secs: float = 30.0
    stop_on_invalid_request: bool = True

    def decide(self, error: BaseException, attempt: int, rng: random.Random) -> Decision:
        """The decision after try number ``attempt`` (1 for the first) failed with ``error``."""
        if isinstance(error, StreamInterrupted):
            return Decision("stop")
        if isinstance(error, InvalidRequest):
            return Decision("stop" if self.stop_on_invalid_request else "next")
        if not (isinstance(error, ProviderError) and error.retryable) or attempt > self.max_retries:
            return Decision("next")
        if error.retry_after is not None:
            if error.retry_after > self.max_retry_after_secs:
                return Decision("next")
            return Decision("retry", max(0.0, error.retry_after))
        cap = min(self.backoff_max_secs, self.backoff_base_secs * 2 ** (attempt - 1))
        return Decision("retry", rng.uniform(0.0, cap))
