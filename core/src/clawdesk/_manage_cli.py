"""The CLI's housekeeping commands: ``keys``, ``logs``, ``config path`` and ``models default``.

None of them talks to a backend. They print to stdout what a script would
read (a path, names, log entries) and raise :class:`~clawdesk.ConfigError`
for bad input, which :mod:`clawdesk._cli` turns into one line and exit
status 2. Keys are never printed, whatever the command.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import ConfigError, ProviderNotFound

if TYPE_CHECKING:
    from ._logs import LogEntry
    from ._registry import Registry

__all__ = ["cmd_config", "cmd_keys", "cmd_logs", "cmd_models_default", "config_path"]

#: The longest key read from stdin by ``keys set``.
MAX_KEY_BYTES = 64 * 1024


def config_path(args: argparse.Namespace) -> Path:
    """The config file this command uses: ``--config``, else ``$CLAWDESK_CONFIG``, else the default place."""
    from ._config import CONFIG_ENV, default_config_path

    explicit = args.config or os.environ.get(CONFIG_ENV)
    return Path(explicit) if explicit else default_config_path()


# -- config -----------------------------------------------------------------------------------------


def cmd_config(args: argparse.Namespace) -> int:
    """``clawdesk config path``."""
    print(config_path(args))
    return 0


# -- models default ---------------------------------------------------------------------------------


def cmd_models_default(args: argparse.Namespace, registry: Callable[[], Registry]) -> int:
    """``clawdesk models default [MODEL]``: print ``default_model``, or set it in the config file."""
    from ._config import load_config, parse_config
    from ._modelid import parse_model_id

    path = config_path(args)
    config = load_config(path if path.exists() or args.config or os.environ.get("CLAWDESK_CONFIG") else None)
    if args.model is None:
        if config.default_model:
            print(config.default_model)
        else:
            print(
                "clawdesk: no default model is set: requests go through the fallback chain "
                "(set one with 'clawdesk models default PROVIDER/MODEL')",
                file=sys.stderr,
            )
        return 0
    model = args.model.strip()
    provider, _ = parse_model_id(model)
    known = registry().names() + [n for n in config.instances() if n not in registry().names()]
    if provider not in known:
        raise ProviderNotFound(provider, known)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    edited = set_default_model(text, model)
    check = parse_config(edited, source=str(path))
    if check.default_model != model:  # pragma: no cover - set_default_model's own guarantee
        raise ConfigError("could not set default_model; edit the file by hand", file=str(path))
    _write_config(path, edited)
    return 0


_DEFAULT_LINE = re.compile(r"[ \t]*default_model[ \t]*=")


def set_default_model(text: str, model: str) -> str:
    """``text`` (a config file) with its top-level ``default_model`` set to ``model``; the rest unchanged.

    The key's line is replaced where it stands (before the first table);
    without one, the key goes on the first line. Comments and every other
    line are kept as they are. Raises :class:`~clawdesk.ConfigError` for a
    value written over several lines (edit that one by hand).
    """
    line = f"default_model = {json.dumps(model, ensure_ascii=False)}\n"
    lines = text.splitlines(keepends=True)
    for index, current in enumerate(lines):
        if current.lstrip().startswith("["):
            break
        if _DEFAULT_LINE.match(current):
            if '"""' in current or "'''" in current:
                raise ConfigError("default_model spans several lines; edit it by hand", path="default_model")
            lines[index] = line if current.endswith("\n") else line.rstrip("\n")
            return "".join(lines)
    return line + text


def _write_config(path: Path, text: str) -> None:
    from ._home import write_private

    mode = path.stat().st_mode & 0o777 if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, text.encode("utf-8"))
    if mode is not None:
        os.chmod(path, mode)  # the user's file keeps the mode it had


# -- keys -------------------------------------------------------------------------------------------


def cmd_keys(args: argparse.Namespace) -> int:
    """``clawdesk keys set NAME | list | path``."""
    from ._home import keys_path
    from ._keys import key_names, save_key

    if args.keys_command == "path":
        print(keys_path())
        return 0
    if args.keys_command == "list":
        for name in key_names():
            print(name)
        return 0
    name = args.name
    value = _read_key()
    try:
        save_key(name, value)
    except ValueError as exc:
        raise ConfigError(str(exc), path="keys set") from None
    _warn_if_unknown(args, name)
    return 0


def _read_key() -> str:
    """The key: typed at a hidden prompt on a terminal, else the first line of stdin."""
    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        import getpass

        return getpass.getpass("Enter key: ")
    if stdin is None:
        raise ConfigError("no key: type it at the prompt or pipe it to stdin")
    buffer = getattr(stdin, "buffer", None)
    raw = buffer.read(MAX_KEY_BYTES + 1) if buffer is not None else stdin.read(MAX_KEY_BYTES + 1).encode()
    if len(raw) > MAX_KEY_BYTES:
        raise ConfigError("the key on stdin is too long")
    try:
        text: str = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError("the key on stdin is not UTF-8 text") from None
    lines = text.strip().splitlines()
    if not lines:
        raise ConfigError("no key on stdin")
    return lines[0].strip()


def _warn_if_unknown(args: argparse.Namespace, name: str) -> None:
    from ._config import load_config
    from ._registry import Registry

    try:
        names = set(Registry().names()) | set(load_config(args.config).providers)
    except ConfigError:
        return  # a broken config file is reported by the commands that read it
    if name not in names:
        print(
            f"clawdesk: warning: saved, but no provider named {name!r} is installed or configured "
            f"(known: {', '.join(sorted(names)) or 'none'})",
            file=sys.stderr,
        )


# -- logs -------------------------------------------------------------------------------------------


def cmd_logs(args: argparse.Namespace) -> int:
    """``clawdesk logs [list] [-n N] [-q TEXT] [-c | --cid ID] [--json]``, ``path``, ``status``, ``on``, ``off``."""
    from ._home import logs_path
    from ._logs import LogStore, logging_enabled, set_logging

    command = args.logs_command or "list"
    if command == "path":
        print(logs_path())
        return 0
    if command in ("on", "off"):
        set_logging(command == "on")
        return 0
    store = LogStore()
    try:
        if command == "status":
            conversations, exchanges = store.counts()
            print(f"Logging is {'on' if logging_enabled() else 'off'}")
            print(f"Log database: {store.path}")
            print(f"Conversations: {conversations}")
            print(f"Exchanges: {exchanges}")
            size = store.path.stat().st_size if store.exists() else 0
            print(f"Size: {size / 1024:.1f} KiB")
            return 0
        if args.count < 0:
            raise ConfigError("expected a count >= 0 (0: all)", path="-n")
        conversation = args.cid
        if args.current:
            conversation = store.latest_conversation()
            if conversation is None:
                entries: list[LogEntry] = []
        if not args.current or conversation is not None:
            entries = store.entries(limit=args.count or None, query=args.query, conversation_id=conversation)
    finally:
        store.close()
    if args.json:
        from ._cli import _print_json

        _print_json([e.to_dict() for e in entries])
        return 0
    for index, entry in enumerate(entries):
        if index:
            print()
        _print_entry(entry)
    return 0


def _print_entry(entry: LogEntry) -> None:
    answered = f"{entry.provider}/{entry.model}" if entry.provider else "(no answer)"
    print(f"# {entry.datetime_utc}    conversation: {entry.conversation_id}")
    print()
    from ._cli import json_text, safe

    print(safe(f"Model: {answered}" + (f" (asked for {entry.requested_model})" if entry.requested_model else "")))
    if entry.options:
        print(f"Options: {json_text(dict(entry.options))}")
    for attachment in entry.attachments:
        name = attachment.get("name") or attachment.get("url")
        print(safe(f"Attachment: {name} ({attachment.get('media_type', 'url')})"))
    sections: list[tuple[str, Any]] = [("System", entry.system), ("Prompt", entry.prompt)]
    sections += [("Reasoning", entry.reasoning), ("Response", entry.response), ("Error", entry.error)]
    for title, body in sections:
        if body:
            print()
            print(f"## {title}")
            print()
            print(body.rstrip("\n"))
    usage = ""
    if entry.input_tokens is not None or entry.output_tokens is not None:
        usage = f"{entry.input_tokens} input, {entry.output_tokens} output tokens; "
    print()
    print(f"{usage}{entry.duration_ms / 1000:.2f}s; finish: {entry.finish_reason or '-'}; id: {entry.id}")
