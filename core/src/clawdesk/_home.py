"""Where the CLI keeps its own files: the keys file, the log database and the logging switch.

All of them live in one directory, the *clawdesk home*: ``$CLAWDESK_HOME``
when it is set (tests, several setups side by side), else the user data
directory that :mod:`platformdirs` gives (``~/.local/share/clawdesk`` on
Linux, ``~/Library/Application Support/clawdesk`` on macOS,
``%LOCALAPPDATA%\\clawdesk`` on Windows). The config file is elsewhere (see
:mod:`clawdesk._config`): it is written by people, these are written by the
CLI.

Files written here are private: the directory is created with mode 0700 and
each file with 0600 (on systems that have modes), since prompts, answers and
keys are nobody else's business. Nothing here imports anything heavy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["HOME_ENV", "home_dir", "keys_path", "logs_off_path", "logs_path", "private_dir", "write_private"]

HOME_ENV = "CLAWDESK_HOME"


def home_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$CLAWDESK_HOME``, else the user data directory for clawdesk (not created here)."""
    environ = os.environ if env is None else env
    explicit = environ.get(HOME_ENV)
    if explicit:
        return Path(explicit)
    import platformdirs

    return Path(platformdirs.user_data_dir("clawdesk", appauthor=False))


def keys_path(env: Mapping[str, str] | None = None) -> Path:
    """The keys file, ``keys.json`` in :func:`home_dir`."""
    return home_dir(env) / "keys.json"


def logs_path(env: Mapping[str, str] | None = None) -> Path:
    """The log database, ``logs.db`` in :func:`home_dir`."""
    return home_dir(env) / "logs.db"


def logs_off_path(env: Mapping[str, str] | None = None) -> Path:
    """The file whose presence turns logging off (``clawdesk logs off``)."""
    return home_dir(env) / "logs-off"


def private_dir(path: Path) -> None:
    """Create directory ``path`` (and its parents) readable by its owner only, if it is missing."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def write_private(path: Path, data: bytes) -> None:
    """Replace the file at ``path`` with ``data`` atomically, mode 0600.

    The data goes to a temporary file in the same directory (created 0600, so
    the content is never readable by others, not even for a moment), which
    then replaces ``path``; a crash leaves either the old file or the new one.
    """
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    # os.replace keeps the temporary file's mode; chmod again for a umask that took bits away from 0600.
    os.chmod(path, 0o600)
