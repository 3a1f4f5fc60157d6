"""The Redis state store: cooldowns and rate budgets shared by every process that uses one Redis.

Imported only when ``[state] backend = "redis"``. It needs the ``clawdesk[redis]``
extra (``hiredis``, the Redis project's own C reply parser); the connections
are plain anyio sockets, so the store runs on asyncio and on trio, with or
without ``async with Clawdesk()``, and from any task.

Why not a whole client library: redis-py's ``redis.asyncio`` runs on asyncio
only; coredis 6 runs on both but ties its connection pool to an
``async with`` that one parent task must hold open for the client's whole
life (a call outside it raises), which neither ``SyncClawdesk`` (one portal
task per call) nor a ``Clawdesk`` used without ``async with`` provides, and it
measured 3 to 13 times slower per round trip here. The store needs five
commands; parsing replies, the part worth a library, is hiredis's.

Every operation is bounded by ``timeout_secs``. When Redis cannot be reached
or answers with an error, the store says so once on the ``clawdesk.state``
logger (at most once per ``retry_interval_secs``), answers from a
:class:`~clawdesk.LocalState` of its own for ``retry_interval_secs``, then
tries Redis again: no call ever fails because the store is down.

Keys (``<prefix>`` is ``key_prefix``, ``<name>`` a provider or instance name;
nothing else is ever written, no key, no URL)::

    <prefix>:<name>:failures   sorted set: recent failures (µs timestamps), expires after the window
    <prefix>:<name>:cooldown   "1" while cooling down, expires when the cooldown ends
    <prefix>:<name>:rpm        the request budget's next slot (µs), expires once it has passed
    <prefix>:<name>:tpm        the token budget's charge end (µs), expires once it has passed

Times come from the Redis server's clock (``TIME`` inside the scripts), so
processes on hosts whose clocks disagree still agree on every budget.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import ssl
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.abc

from ._config import FallbackConfig, RateLimit, StateConfig
from ._redis_url import RedisUrl, parse_redis_url
from ._state import GRANTED_NOW, NOT_HEALTH, Admission, LocalState

try:
    import hiredis
except ImportError as exc:  # pragma: no cover - exercised by the packaging test
    from ._errors import ConfigError

    raise ConfigError("the Redis state backend needs the clawdesk[redis] extra: pip install 'clawdesk[redis]'") from exc

__all__ = ["RedisError", "RedisState"]

log = logging.getLogger("clawdesk.state")

#: The most bytes one reply may take (every reply here is a few bytes; a server sending more is not Redis).
MAX_REPLY_BYTES = 1 << 20
#: Idle connections kept per store; more than this many concurrent calls open extra ones, closed after use.
MAX_IDLE = 32


class RedisError(Exception):
    """Redis refused a command or the login, or answered something that is not Redis."""


Command = tuple[str | int | bytes, ...]


def pack(command: Command) -> bytes:
    """``command`` as Redis wants it: a RESP array of bulk strings (integers in decimal)."""
    out = [b"*%d\r\n" % len(command)]
    for arg in command:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


# -- scripts: each is one atomic step on the server --------------------------------------

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000000 + tonumber(t[2]) "

#: KEYS: failures, cooldown. ARGV: failures needed, window (µs), cooldown (ms), a unique member.
NOTE_FAILURE = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', now - tonumber(ARGV[2])))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) / 1000) + 1000)
return 0
"""
)

#: KEYS: rpm, tpm. ARGV: request interval (µs, 0: no request budget), burst, 1 if a token budget, max wait (µs).
#: Returns {1, wait µs} (a slot taken) or {0, wait µs} (refused, nothing taken).
ACQUIRE = (
    _NOW
    + """
local interval = tonumber(ARGV[1])
local wait = 0
local tat = now
if interval > 0 then
  local stored = tonumber(redis.call('GET', KEYS[1]) or '')
  if stored and stored > now then tat = stored end
  wait = math.max(wait, tat - (tonumber(ARGV[2]) - 1) * interval - now)
end
if ARGV[3] == '1' then
  local spent = tonumber(redis.call('GET', KEYS[2]) or '')
  if spent then wait = math.max(wait, spent - 60000000 - now) end
end
if wait > tonumber(ARGV[4]) then return {0, math.ceil(wait)} end
if interval > 0 then
  local nxt = math.max(tat, now + wait) + interval
  redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1000)
end
return {1, math.ceil(wait)}
"""
)

#: KEYS: tpm. ARGV: the charge (µs of budget).
NOTE_USAGE = (
    _NOW
    + """
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
if not tat or tat < now then tat = now end
tat = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return 1
"""
)

_SHA = {script: hashlib.sha1(script.encode()).hexdigest() for script in (NOTE_FAILURE, ACQUIRE, NOTE_USAGE)}

# What "Redis is not there right now" looks like: every one of these sends the store to local state.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable, TLS failures (ssl.SSLError)
    TimeoutError,
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    hiredis.HiredisError,
    RedisError,
)


#: How a pooled connection that the server closed while it sat idle fails.
_STALE = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, ConnectionError)


class _Connection:
    __slots__ = ("fed", "loop", "reader", "stream")

    def __init__(self, stream: anyio.abc.ByteStream, loop: object) -> None:
        self.stream = stream
        self.reader = hiredis.Reader()
        self.loop = loop
        self.fed = False  # whether any reply byte arrived in the current exchange

    async def read(self) -> Any:
        taken = 0
        while True:
            reply = self.reader.gets()
            if reply is not False:
                return reply
            data = await self.stream.receive(65536)
            taken += len(data)
            if taken > MAX_REPLY_BYTES:
                raise RedisError(f"a reply longer than {MAX_REPLY_BYTES} bytes: not a Redis server")
            self.fed = True
            self.reader.feed(data)


def _current_loop() -> object:
    # A cheap identity of the running event loop: connections belong to the loop that opened them.
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        import trio

        return trio.lowlevel.current_trio_token()


class RedisConnections:
    """A small pool of connections to one Redis server; each call pipelines its commands on one connection.

    A connection goes back to the pool only after a call that read every
    reply; a call that failed or was cancelled half-way closes its connection.
    Connections opened under another event loop (a new ``anyio.run``) are
    dropped, never reused.
    """

    def __init__(self, url: RedisUrl) -> None:
        self.url = url
        self._idle: list[_Connection] = []
        self.opened = 0  # connections opened so far (tests and benchmarks read it)

    async def call(self, *commands: Command) -> list[Any]:
        """Send ``commands`` together and return their replies in order; Redis errors come back as values.

        A pooled connection the server has closed meanwhile (Redis restarted,
        or its ``timeout`` setting dropped an idle client) fails before any
        reply byte arrives: the call is then made once more on a new connection.
        """
        loop = _current_loop()
        while self._idle:
            conn = self._idle.pop()
            if conn.loop is not loop:
                _drop(conn)
                continue
            try:
                return await self._exchange(conn, commands)
            except _STALE:
                if conn.reader.has_data() or conn.fed:
                    raise  # the server had started to answer: not a stale connection
        return await self._exchange(await self._connect(loop), commands)

    async def _exchange(self, conn: _Connection, commands: Sequence[Command]) -> list[Any]:
        done = False
        conn.fed = False
        try:
            await conn.stream.send(b"".join(pack(command) for command in commands))
            replies = [await conn.read() for _ in commands]
            done = True
        finally:
            if done and len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
            else:
                with anyio.CancelScope(shield=True):
                    await anyio.aclose_forcefully(conn.stream)
        return replies

    async def _connect(self, loop: object) -> _Connection:
        url = self.url
        stream: anyio.abc.ByteStream
        if url.scheme == "unix":
            stream = await anyio.connect_unix(url.path)
        elif url.tls:
            context = ssl.create_default_context()
            stream = await anyio.connect_tcp(
                url.host, url.port, tls=True, ssl_context=context, tls_standard_compatible=False
            )
        else:
            stream = await anyio.connect_tcp(url.host, url.port)
        conn = _Connection(stream, loop)
        self.opened += 1
        login: list[Command] = []
        if url.password is not None:
            secret = url.password.reveal()
            login.append(("AUTH", url.username, secret) if url.username else ("AUTH", secret))
        if url.db:
            login.append(("SELECT", url.db))
        if not login:
            return conn
        try:
            await stream.send(b"".join(pack(command) for command in login))
            for command in login:
                reply = await conn.read()
                if isinstance(reply, hiredis.ReplyError):
                    # The server's words ("WRONGPASS invalid username-password pair") hold no secret.
                    raise RedisError(f"{command[0]!s} refused: {reply}")
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.aclose_forcefully(stream)
            raise
        return conn

    async def aclose(self) -> None:
        """Close the idle connections of the running loop (others are dropped)."""
        idle, self._idle = self._idle, []
        loop = _current_loop()
        with anyio.CancelScope(shield=True):
            for conn in idle:
                if conn.loop is loop:
                    await anyio.aclose_forcefully(conn.stream)
                else:
                    _drop(conn)


def _drop(conn: _Connection) -> None:
    # Its loop has ended (a new anyio.run): that loop cannot close it any more. Close the socket
    # underneath where the backend hands out a real one (trio); asyncio's transport closes its
    # socket itself when it is collected.
    try:
        raw = conn.stream.extra(anyio.abc.SocketAttribute.raw_socket)
    except Exception:  # noqa: BLE001 - a TLS or odd stream: nothing more to do
        return
    close = getattr(raw, "close", None)
    if close is not None:
        close()


class RedisState:
    """Cooldowns and rate budgets in Redis, shared between processes; falls back to local state when Redis is away.

    ``config`` is the resolved ``[state]`` table (``url`` set), ``fallback``
    the engine's ``[fallback]`` table (the cooldown rules), ``clock``
    monotonic seconds, used for the local fallback and for the retry interval.
    """

    def __init__(self, config: StateConfig, fallback: FallbackConfig, *, clock: Callable[[], float]) -> None:
        if config.url is None:
            raise ValueError("RedisState needs config.url (StateConfig.resolve() fills it from the environment)")
        self.config = config
        self.url = parse_redis_url(config.url.reveal())
        self.connections = RedisConnections(self.url)
        self.local = LocalState(fallback, clock)
        self._fallback = fallback
        self._clock = clock
        self._timeout = config.timeout_secs
        self._interval = config.retry_interval_secs
        self._prefix = config.key_prefix
        self._down_until: float | None = None
        self._warned_at: float | None = None
        self.failures = 0  # Redis operations that failed (each answered from local state)

    def __repr__(self) -> str:
        return f"RedisState({self.url.safe!r}, key_prefix={self._prefix!r})"

    # -- the store ---------------------------------------------------------------------

    async def cooldown_remaining(self, provider: str) -> float:
        replies = await self._call(("PTTL", self._key(provider, "cooldown")))
        if replies is None:
            return self.local.remaining(provider)
        left = replies[0]
        return left / 1000.0 if isinstance(left, int) and left > 0 else 0.0

    async def note_failure(self, provider: str, kind: str) -> None:
        cfg = self._fallback
        if kind in NOT_HEALTH or cfg.cooldown_failures <= 0 or cfg.cooldown_secs <= 0:
            return
        args = (
            cfg.cooldown_failures,
            round(cfg.cooldown_window_secs * 1_000_000),
            max(1, round(cfg.cooldown_secs * 1000)),
            os.urandom(8).hex(),
        )
        keys = (self._key(provider, "failures"), self._key(provider, "cooldown"))
        if await self._script(NOTE_FAILURE, keys, args) is None:
            await self.local.note_failure(provider, kind)

    async def note_success(self, provider: str) -> None:
        if await self._call(("DEL", self._key(provider, "failures"))) is None:
            await self.local.note_success(provider)

    async def acquire(self, provider: str, limit: RateLimit, max_wait: float) -> Admission:
        rpm = limit.requests_per_minute
        args = (
            round(60_000_000 / rpm) if rpm else 0,
            limit.burst,
            1 if limit.tokens_per_minute else 0,
            _micros(max_wait),
        )
        keys = (self._key(provider, "rpm"), self._key(provider, "tpm"))
        reply = await self._script(ACQUIRE, keys, args)
        if reply is None:
            return self.local.take(provider, limit, max_wait)
        if not (isinstance(reply, list) and len(reply) == 2 and all(isinstance(x, int) for x in reply)):
            self._went_down(RedisError(f"the budget script answered {type(reply).__name__}, not two integers"))
            return self.local.take(provider, limit, max_wait)
        granted, wait = reply
        if granted and wait <= 0:
            return GRANTED_NOW
        return Admission(bool(granted), wait / 1_000_000)

    async def note_usage(self, provider: str, limit: RateLimit, tokens: int) -> None:
        tpm = limit.tokens_per_minute
        if not tpm or tokens <= 0:
            return
        charge = round(tokens * 60_000_000 / tpm)
        if await self._script(NOTE_USAGE, (self._key(provider, "tpm"),), (charge,)) is None:
            await self.local.note_usage(provider, limit, tokens)

    async def aclose(self) -> None:
        await self.connections.aclose()

    # -- plumbing ----------------------------------------------------------------------

    def _key(self, provider: str, what: str) -> str:
        return f"{self._prefix}:{provider}:{what}"

    async def _script(self, script: str, keys: Sequence[str], args: Sequence[int | str]) -> Any:
        """The script's reply, or ``None`` when Redis could not run it (then the caller uses local state)."""
        sha = _SHA[script]
        replies = await self._call(("EVALSHA", sha, len(keys), *keys, *args), check=False)
        if replies is None:
            return None
        reply = replies[0]
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
            # A new or restarted server: EVAL runs the script and caches it for the next EVALSHA.
            replies = await self._call(("EVAL", script, len(keys), *keys, *args), check=False)
            if replies is None:
                return None
            reply = replies[0]
        if isinstance(reply, hiredis.ReplyError):
            self._went_down(RedisError(str(reply)))
            return None
        return reply

    async def _call(self, *commands: Command, check: bool = True) -> list[Any] | None:
        """Run ``commands`` on Redis; ``None`` while Redis is away (a warning once per interval)."""
        if self._down_until is not None and self._clock() < self._down_until:
            return None
        try:
            with anyio.fail_after(self._timeout):
                replies = await self.connections.call(*commands)
        except _UNREACHABLE as exc:
            self._went_down(exc)
            return None
        if check:
            for reply in replies:
                if isinstance(reply, hiredis.ReplyError):
                    self._went_down(RedisError(str(reply)))
                    return None
        if self._down_until is not None:
            self._down_until = None
            log.warning("shared state at %s is reachable again: using it", self.url.safe)
        return replies

    def _went_down(self, exc: BaseException) -> None:
        self.failures += 1
        now = self._clock()
        self._down_until = now + self._interval
        if self._warned_at is None or now - self._warned_at >= self._interval:
            self._warned_at = now
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.warning(
                "shared state at %s is unreachable (%s): this process uses its own state and tries again in %gs",
                self.url.safe,
                reason,
                self._interval,
            )


def _micros(seconds: float) -> int:
    # Lua numbers are doubles: keep every argument a whole number of microseconds, clamped to a sane range.
    if seconds != seconds or seconds <= 0:  # NaN or nothing
        return 0
    return min(round(seconds * 1_000_000), 10**15)
