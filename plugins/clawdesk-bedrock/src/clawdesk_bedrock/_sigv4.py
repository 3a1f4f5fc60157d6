"""AWS Signature Version 4 (``AWS4-HMAC-SHA256``), as the AWS SDKs compute it for non-S3 services.

Our own signer, not a library's: the two maintained httpx signers (httpx-auth's
``AWS4Auth``, httpx-aws-auth) build the canonical URI from httpx's *decoded*
path and encode it once, the S3 rule. Bedrock, like every service but S3,
wants the path as sent encoded a second time: a model id
``anthropic.claude-3-haiku-20240307-v1:0`` travels as ``...v1%3A0`` and is
signed as ``...v1%253A0``; signing it any other way is a 403 for every model id
with a ``:`` (which is nearly all of them), and an ARN's ``%2F`` breaks worse.

The pieces, each a pure function (no clock, no I/O), tested against AWS's
published test vectors and against botocore's signer:

- :func:`canonical_uri`: dot segments and empty segments removed, then every
  byte but ``A-Z a-z 0-9 - _ . ~ /`` percent-encoded, ``%`` included: a path
  already encoded for the URL is encoded again, as botocore does;
- :func:`canonical_query`: each name and value decoded and encoded again
  (RFC 3986, ``%20`` for a space, never ``+``), pairs sorted by name then value;
- :func:`canonical_headers`: names lower-cased and sorted, values trimmed with
  inner runs of whitespace made one space, a repeated header's values joined
  with ``,`` in the order they came;
- :func:`canonical_request`, :func:`string_to_sign`, :func:`signing_key`
  (cached: four HMACs, the same all day) and :func:`sign`, which gives the
  headers to add (``x-amz-date``, ``x-amz-security-token`` with temporary
  credentials, ``authorization``).

:class:`SigV4Signer` signs a finished :class:`httpx.Request` in place (the
wire toolkit's ``Signer`` seam): it signs ``host``, ``content-type`` and every
``x-amz-*`` header, which are the headers that say what the request is; the
rest (``accept-encoding``, ``connection``, ``user-agent``) may be rewritten by a
proxy and are left out, as SigV4 allows. The payload hash is of the exact bytes
sent. Secrets are :class:`~clawdesk.Secret` until the HMAC needs them.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from attrs import field, frozen

from clawdesk import Secret

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "AwsCredentials",
    "SigV4Signer",
    "amz_date",
    "canonical_headers",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "sign",
    "signing_key",
    "string_to_sign",
]

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_UNRESERVED = "-_.~"


@frozen(kw_only=True)
class AwsCredentials:
    """A set of AWS credentials; ``source`` says where they were found (for messages, never the values)."""

    access_key_id: str = field(repr=False)
    secret_access_key: Secret = field(repr=False)
    session_token: Secret | None = field(default=None, repr=False)
    source: str = "config"

    def __repr__(self) -> str:
        temporary = ", temporary" if self.session_token is not None else ""
        return f"AwsCredentials(source={self.source!r}{temporary})"


def amz_date(when: float) -> str:
    """The ``X-Amz-Date`` form (``20150830T123600Z``) of Unix time ``when``."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y%m%dT%H%M%SZ")


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 5.2.4, and empty segments dropped too (AWS's normalisation for non-S3 services).
    out: list[str] = []
    for segment in path.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            if out:
                out.pop()
        else:
            out.append(segment)
    head = "/" if path.startswith("/") else ""
    tail = "/" if path.endswith("/") and out else ""
    return head + "/".join(out) + tail


def canonical_uri(path: str) -> str:
    """The canonical URI of ``path`` (the path as it goes on the wire, already percent-encoded, or not).

    An empty path is ``/``. The path is normalised and then percent-encoded
    once more, so ``%3A`` becomes ``%253A``: the rule for every service but S3.
    """
    if not path:
        return "/"
    return quote(_remove_dot_segments(path) or "/", safe="/~")


def canonical_query(query: str) -> str:
    """The canonical query string of a raw query (without ``?``); ``""`` for none."""
    if not query:
        return ""
    pairs = []
    for item in query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((quote(unquote(name), safe=_UNRESERVED), quote(unquote(value), safe=_UNRESERVED)))
    pairs.sort()
    return "&".join(f"{name}={value}" for name, value in pairs)


def canonical_headers(headers: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """``(canonical headers block, signed header names)`` for ``headers`` (name, value) pairs."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name.lower(), []).append(" ".join(value.split()))
    names = sorted(grouped)
    block = "".join(f"{name}:{','.join(grouped[name])}\n" for name in names)
    return block, ";".join(names)


def canonical_request(
    method: str, path: str, query: str, headers: Iterable[tuple[str, str]], payload_hash: str
) -> tuple[str, str]:
    """``(canonical request, signed header names)``."""
    block, signed = canonical_headers(headers)
    text = f"{method.upper()}\n{canonical_uri(path)}\n{canonical_query(query)}\n{block}\n{signed}\n{payload_hash}"
    return text, signed


def string_to_sign(date_time: str, scope: str, canonical: str) -> str:
    """The string to sign for a canonical request made at ``date_time`` (``X-Amz-Date`` form) in ``scope``."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{date_time}\n{scope}\n{digest}"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


@functools.lru_cache(maxsize=32)
def _derived_key(secret: str, date: str, region: str, service: str) -> bytes:
    return _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode("utf-8"), date), region), service), "aws4_request")


def signing_key(secret: Secret, date: str, region: str, service: str) -> bytes:
    """The SigV4 key for a day (``yyyymmdd``), region and service; cached, as it is the same all day."""
    return _derived_key(secret.reveal(), date, region, service)


def sign(
    *,
    method: str,
    path: str,
    query: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    credentials: AwsCredentials,
    region: str,
    service: str,
    when: float,
) -> dict[str, str]:
    """The headers that sign a request: ``x-amz-date``, ``authorization`` and ``x-amz-security-token`` (if temporary).

    ``headers`` are the headers to sign besides those two (``host`` among
    them: SigV4 requires it); ``path`` and ``query`` are as they go on the
    wire; ``when`` is the Unix time of signing.
    """
    date_time = amz_date(when)
    added = {"x-amz-date": date_time}
    if credentials.session_token is not None:
        added["x-amz-security-token"] = credentials.session_token.reveal()
    signed_headers = [*headers, *added.items()]
    payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    canonical, names = canonical_request(method, path, query, signed_headers, payload)
    scope = f"{date_time[:8]}/{region}/{service}/aws4_request"
    key = signing_key(credentials.secret_access_key, date_time[:8], region, service)
    signature = hmac.new(key, string_to_sign(date_time, scope, canonical).encode("utf-8"), hashlib.sha256).hexdigest()
    added["authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, SignedHeaders={names}, Signature={signature}"
    )
    return added


def _signed(name: str) -> bool:
    # x-amz-date and x-amz-security-token are added by sign() itself.
    return name in ("host", "content-type") or (name.startswith("x-amz-") and name not in _ADDED)


_ADDED = frozenset({"x-amz-date", "x-amz-security-token"})


class SigV4Signer:
    """Signs a finished :class:`httpx.Request` in place (a wire toolkit ``Signer``).

    ``clock`` gives the Unix time of signing (tests freeze it). The repr
    shows the region and service, never the credentials.
    """

    __slots__ = ("_clock", "_credentials", "_region", "_service")

    def __init__(
        self,
        credentials: AwsCredentials,
        *,
        region: str,
        service: str = "bedrock",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = credentials
        self._region = region
        self._service = service
        self._clock = clock

    def __repr__(self) -> str:
        return f"SigV4Signer(region={self._region!r}, service={self._service!r}, {self._credentials!r})"

    def __call__(self, request: httpx.Request) -> None:
        path, _, query = request.url.raw_path.decode("ascii").partition("?")
        headers: Mapping[str, str] = request.headers
        to_sign = [(name, value) for name, value in headers.items() if _signed(name.lower())]
        added = sign(
            method=request.method,
            path=path,
            query=query,
            headers=to_sign,
            body=request.content,
            credentials=self._credentials,
            region=self._region,
            service=self._service,
            when=self._clock(),
        )
        request.headers.update(added)
