"""Proxies from the environment: checked when a provider's client is made, named when they fail.

httpx reads ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``ALL_PROXY`` (either case)
itself. Left alone, a SOCKS proxy without the ``socks`` extra became an
``ImportError`` ("internal error"), a malformed value a bare ``ValueError``
that could quote a password, and a dead proxy a failure blamed on the
backend. Here a bad setting is a one-line :class:`~clawdesk.ConfigError`
naming the variable, and a failure to reach a proxy names the proxy (its
URL never shows a user name or password).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping

import httpx

from .._errors import ConfigError

__all__ = ["check_proxies", "proxy_for", "shown_proxy"]

_NAMES = ("http_proxy", "https_proxy", "all_proxy")
_SCHEMES = ("http", "https", "socks5", "socks5h")


def _variables(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    # Lower case wins over upper case, as in urllib.request.getproxies(), which httpx uses.
    found: list[tuple[str, str]] = []
    for name in _NAMES:
        for variable in (name, name.upper()):
            value = environ.get(variable, "").strip()
            if value:
                found.append((variable, value))
                break
    return found


def shown_proxy(value: str) -> str:
    """A proxy setting as it may be shown: without user name or password, at most 80 characters."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "", value
    host = rest.split("/", 1)[0]
    if "@" in host:
        rest = "***@" + rest.split("@", 1)[1]
    text = f"{scheme}{sep}{rest}"
    return text if len(text) <= 80 else text[:77] + "..."


def check_proxies(environ: Mapping[str, str] | None = None) -> None:
    """Raise :class:`~clawdesk.ConfigError` naming the variable if a proxy setting cannot be used."""
    for variable, value in _variables(os.environ if environ is None else environ):
        where = f"environment variable {variable} ({shown_proxy(value)})"
        url = value if "://" in value else f"http://{value}"
        try:
            parsed = httpx.URL(url)
            if parsed.port is not None and not 0 < parsed.port <= 65535:
                raise ValueError("port out of range")
        except (httpx.InvalidURL, ValueError):
            raise ConfigError(f"{where}: not a proxy URL such as http://host:3128") from None
        scheme = parsed.scheme.lower()
        if scheme not in _SCHEMES:
            raise ConfigError(f"{where}: a proxy URL starts with http://, https:// or socks5://, not {scheme}://")
        if not parsed.host:
            raise ConfigError(f"{where}: the proxy URL has no host")
        if scheme.startswith("socks") and importlib.util.find_spec("socksio") is None:
            raise ConfigError(f"{where}: a SOCKS proxy needs the socks extra: pip install 'httpx[socks]'")


def proxy_for(url: str) -> tuple[str, str] | None:
    """The environment variable and (shown) proxy URL a request to ``url`` goes through, or ``None``.

    Follows httpx's own reading (``NO_PROXY`` included); ``None`` also when
    httpx's reading cannot be repeated here.
    """
    variables = _variables(os.environ)
    if not variables:
        return None
    try:
        from httpx._utils import URLPattern, get_environment_proxies

        target = httpx.URL(url)
        mounts = sorted(
            ((URLPattern(key), proxy) for key, proxy in get_environment_proxies().items()), key=lambda item: item[0]
        )
    except Exception:  # noqa: BLE001 - httpx's private helpers moved: naming the proxy is a nicety
        return None
    for pattern, proxy in mounts:
        if pattern.matches(target):
            if proxy is None:
                return None
            scheme = pattern.scheme or "all"
            for variable, value in variables:
                if variable.lower() == f"{scheme}_proxy":
                    return variable, shown_proxy(value)
            return f"{scheme.upper()}_PROXY", shown_proxy(proxy)
    return None
