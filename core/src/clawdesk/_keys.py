"""The keys file: API keys saved with ``clawdesk keys set NAME``, one per provider name.

``keys.json`` in the clawdesk home (see :mod:`clawdesk._home`) is a JSON
object of provider names to keys, written with mode 0600::

    {"// note": "clawdesk API keys: keep this file private", "mistral": "..."}

A provider's key is looked up in this order: ``api_key`` in its config
table, then the environment variable its ``api_key_env`` names, then this
file under the provider's own name (a named instance such as ``gpu2`` reads
``gpu2``, never its plugin's key: an instance may point at another host,
which must not get a key that was meant for someone else). The CLI always
uses the file; an application opts in with ``Clawdesk(keys=load_keys())``.

Keys come out of here as :class:`~clawdesk.Secret` values and are never
printed: ``clawdesk keys list`` shows names only. Errors name the file,
never its content.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from ._errors import ConfigError
from ._home import keys_path, write_private
from ._modelid import PROVIDER_NAME_RE
from ._provider_config import clean_key
from ._secret import Secret

__all__ = ["MAX_KEYS_BYTES", "NOTE_KEY", "key_names", "load_keys", "save_key"]

#: The largest keys file read (a few hundred bytes is usual).
MAX_KEYS_BYTES = 1024 * 1024
#: The entry that tells a reader what the file is; entries starting with "//" are notes, not keys.
NOTE_KEY = "// note"
_NOTE = "clawdesk API keys: keep this file private"


def _read(path: Path) -> dict[str, str]:
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_KEYS_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the keys file: {exc.strerror or exc}", file=str(path)) from None
    if len(raw) > MAX_KEYS_BYTES:
        raise ConfigError(f"the keys file is larger than {MAX_KEYS_BYTES // 1024} KiB", file=str(path))
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        # Not the parser's message: it may quote the file's content, which holds keys.
        raise ConfigError("the keys file is not a JSON object of names to keys", file=str(path)) from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError("the keys file is not a JSON object of names to keys", file=str(path))
    return data


def load_keys(path: str | os.PathLike[str] | None = None) -> dict[str, Secret]:
    """Every saved key by provider name (``path``: default :func:`~clawdesk._home.keys_path`).

    A missing file gives ``{}``. Raises :class:`~clawdesk.ConfigError` naming
    the file when it cannot be read or is not a JSON object of strings.
    """
    target = Path(path) if path is not None else keys_path()
    return {name: Secret(value) for name, value in _read(target).items() if not name.startswith("//") and value.strip()}


def key_names(path: str | os.PathLike[str] | None = None) -> list[str]:
    """The provider names that have a saved key, sorted (never the keys)."""
    return sorted(load_keys(path))


def save_key(name: str, value: str | Secret, path: str | os.PathLike[str] | None = None) -> Path:
    """Save ``value`` as provider ``name``'s key (replacing an earlier one); returns the file's path.

    ``name`` is a provider name (``mistral``, ``gpu2``); raises ``ValueError``
    for another name, an empty key, or a key that holds whitespace, a control
    or a non-ASCII character once stripped. The file is rewritten atomically with
    mode 0600, in a directory with mode 0700.
    """
    if not PROVIDER_NAME_RE.fullmatch(name):
        raise ValueError(f"{name!r} is not a provider name (lower-case letters, digits, '-' and '_')")
    text = clean_key(Secret(value)).reveal()  # the same rules as a key read from config or the environment
    if not text:
        raise ValueError("the key is empty")
    target = Path(path) if path is not None else keys_path()
    data = _read(target)
    data.setdefault(NOTE_KEY, _NOTE)
    data[name] = text
    write_private(target, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return target


def secret_map(keys: Mapping[str, str | Secret]) -> dict[str, Secret]:
    """``keys`` with every value a :class:`~clawdesk.Secret` (what :class:`~clawdesk.Clawdesk` keeps)."""
    result: dict[str, Secret] = {}
    for name, value in keys.items():
        if not isinstance(name, str):
            raise TypeError(f"keys: names are provider names (str), got {type(name).__name__}")
        result[name] = Secret(value)
    return result
