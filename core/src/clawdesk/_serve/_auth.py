"""Gateway keys: who is calling, which models they may use, and their rate budget.

Keys are kept only as SHA-256 digests: the config holds ``sha256:<hex>`` or
the name of a variable whose value is hashed at start-up and forgotten. A
presented bearer key is hashed and compared with every known digest in
constant time (:func:`hmac.compare_digest`, all of them, whatever matches),
so neither the answer nor its timing says how much of a key was right.

Budgets go through the fallback engine's state store (``[state]``): with
Redis, every worker and every gateway on the same Redis and ``key_prefix``
share them. A budget of ``requests`` per ``window_secs`` is a rate budget
of ``requests * 60 / window_secs`` requests a minute with a burst of
``requests``: a fresh key may spend the whole budget at once, then gets one
more request every ``window_secs / requests`` seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence

from attrs import field, frozen

from .._config import RateLimit, ServeConfig
from .._errors import ConfigError

__all__ = ["GatewayKey", "KeyRing", "budget_name", "hash_key"]


def hash_key(key: str) -> str:
    """``sha256:<hex>`` of ``key``: the form ``[serve.keys.<name>] hash`` takes."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def budget_name(key_name: str) -> str:
    """The name a key's rate budget has in the state store (beside the providers' names)."""
    return f"serve-key.{key_name}"


@frozen
class GatewayKey:
    """One configured key: its name, digest, allowed models (empty: all) and budget (``None``: none)."""

    name: str
    digest: bytes = field(repr=False)
    models: tuple[str, ...]
    limit: RateLimit | None

    def allows(self, model: str) -> bool:
        """Whether the key may ask for ``model`` (an alias or ``provider/model``)."""
        if not self.models:
            return True
        provider = model.partition("/")[0]
        return any(entry == model or entry == f"{provider}/*" for entry in self.models)


class KeyRing:
    """Every gateway key, by digest only."""

    def __init__(self, keys: Sequence[GatewayKey], *, anonymous: bool) -> None:
        self.keys = tuple(keys)
        self.anonymous = anonymous

    @classmethod
    def from_config(cls, config: ServeConfig, env: Mapping[str, str] | None = None) -> KeyRing:
        """The keys of ``[serve.keys]``; raises :class:`~clawdesk.ConfigError` for a variable that is not set."""
        environ = os.environ if env is None else env
        keys = []
        for name, entry in config.keys.items():
            if entry.hash is not None:
                digest = bytes.fromhex(entry.hash.removeprefix("sha256:"))
            else:
                assert entry.key_env is not None
                value = environ.get(entry.key_env, "")
                if not value.strip():
                    raise ConfigError(f"the variable {entry.key_env} is not set", path=f"serve.keys.{name}.key_env")
                digest = hashlib.sha256(value.strip().encode("utf-8")).digest()
            limit = None
            if entry.requests is not None:
                limit = RateLimit(
                    requests_per_minute=entry.requests * 60.0 / entry.window_secs,
                    burst=entry.requests,
                    when_exhausted="next",
                    max_wait_secs=0.0,
                )
            keys.append(GatewayKey(name, digest, entry.models, limit))
        if not keys and not config.allow_anonymous:
            raise ConfigError(
                "no gateway key: add a [serve.keys.<name>] table (hash or key_env), "
                "or set serve.allow_anonymous = true to serve without keys",
                path="serve.keys",
            )
        return cls(keys, anonymous=not keys)

    def find(self, authorization: str | None) -> GatewayKey | None:
        """The key an ``Authorization: Bearer <key>`` header presents, or ``None`` (missing, malformed, unknown)."""
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found = None
        for key in self.keys:
            # Every digest is compared, so the time taken does not depend on which one (if any) matches.
            if hmac.compare_digest(digest, key.digest):
                found = key
        return found
