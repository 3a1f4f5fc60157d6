"""The ``clawdesk`` command.

Exit status: 0 success, 1 a provider failed (one line on stderr naming the
provider, the error kind and the HTTP status), 2 bad usage or configuration,
130 interrupted. No traceback reaches the user unless ``--debug`` asks.

Start-up matters here (``clawdesk plugins`` is what shells and editors run):
this module imports only the light parts of clawdesk at the top; httpx, anyio
and cattrs load inside the commands that talk to backends.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from ._errors import (
    AllProvidersFailed,
    ClawdeskError,
    ConfigError,
    InvalidModelId,
    PluginError,
    ProviderError,
    ProviderNotFound,
)
from ._secret import RedactingFilter, redact

if TYPE_CHECKING:
    from ._client import Clawdesk
    from ._config import Config
    from ._registry import Registry

__all__ = ["main"]

EXIT_OK, EXIT_PROVIDER, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: The largest prompt read from stdin (far beyond any model's context window).
MAX_PROMPT_BYTES = 32 * 1024 * 1024


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, no usage dump: the usage is one `--help` away.
        self.exit(EXIT_USAGE, f"clawdesk: error: {message} (see 'clawdesk --help')\n")


def _common(*, top: bool) -> _Parser:
    # The options every command takes, before or after its name. Below the top
    # level they default to SUPPRESS: a subcommand's default would otherwise
    # overwrite what was given before it (`clawdesk --debug chat` lost --debug).
    common = _Parser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=None if top else argparse.SUPPRESS,
        help="config file (default: $CLAWDESK_CONFIG, else the user config dir)",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="show tracebacks and debug logs",
    )
    return common


class _Version(argparse.Action):
    """``--version``: the installed clawdesk's version, looked up only when asked (start-up stays cheap)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from importlib import metadata

        try:
            version = metadata.version("clawdesk")
        except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
            version = "unknown"
        sys.stdout.write(f"clawdesk {version}\n")
        parser.exit(EXIT_OK)


_COMMANDS = {
    "plugins": "list discovered provider plugins and their status",
    "models": "list models and their capabilities; show or set the default",
    "chat": "send a prompt and print the answer, or chat interactively",
    "keys": "manage API keys saved in the keys file",
    "logs": "show, search and switch the log of chat exchanges",
    "config": "where the config file is",
    "new-provider": "write a new provider package to start from",
    "serve": "run a Chat Completions gateway over every provider (the clawdesk[serve] extra)",
}


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``command``, only that command's options are filled in (for start-up time).

    Every command is always listed (for ``--help`` and for argparse's choices);
    building all of their options and subcommands costs a few milliseconds
    that ``clawdesk plugins`` does not need to pay.
    """
    common = _common(top=False)
    parser = _Parser(
        prog="clawdesk", description="Talk to LLM backends through provider plugins.", parents=[_common(top=True)]
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, text in _COMMANDS.items():
        if command is None or command == name:
            _BUILDERS[name](sub.add_parser(name, help=text, parents=[common]), common)
        else:
            sub.add_parser(name, help=text, add_help=False)  # listed, never parsed
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (the first word that is not an option or the value of ``--config``)."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token == "--config":
            skip = True
        elif not token.startswith("-"):
            return token if token in _COMMANDS else None
    return None


def _build_plugins(p: argparse.ArgumentParser, common: _Parser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--check",
        action="store_true",
        help="import each plugin in a subprocess of its own and report those that hang, crash or balloon",
    )


def _build_models(p: argparse.ArgumentParser, common: _Parser) -> None:
    p.add_argument("-p", "--provider", help="only this provider")
    p.add_argument("--refresh", action="store_true", help="ask the backends instead of built-in lists and caches")
    p.add_argument("--json", action="store_true", help="print JSON")
    models = p.add_subparsers(dest="models_command", metavar="[SUBCOMMAND]", parser_class=_Parser)
    d = models.add_parser("default", help="show the default model, or set it in the config file", parents=[common])
    d.add_argument("model", nargs="?", help="PROVIDER/MODEL (or PROVIDER) to make the default")


def _build_chat(p: argparse.ArgumentParser, common: _Parser) -> None:
    p.add_argument("prompt", nargs="?", help="the prompt (default: stdin; none on a terminal: an interactive session)")
    p.add_argument(
        "-m", "--model", help="PROVIDER/MODEL, or PROVIDER for its default model (default: the fallback chain)"
    )
    p.add_argument("-s", "--system", help="a system prompt")
    p.add_argument(
        "-o",
        "--option",
        nargs=2,
        action="append",
        metavar=("KEY", "VALUE"),
        help="an option (temperature, max_tokens, ...) or PROVIDER.OPTION, a provider's own; repeatable",
    )
    p.add_argument(
        "-a", "--attachment", action="append", metavar="FILE|URL", help="attach an image (or a PDF); repeatable"
    )
    cont = p.add_mutually_exclusive_group()
    cont.add_argument(
        "-c", "--continue", dest="cont", action="store_true", help="continue the latest logged conversation"
    )
    cont.add_argument("--cid", metavar="ID", help="continue the logged conversation with this id")
    log = p.add_mutually_exclusive_group()
    log.add_argument("--no-log", dest="log", action="store_false", default=None, help="do not log this exchange")
    log.add_argument("--log", dest="log", action="store_true", help="log this exchange even when logging is off")
    p.add_argument("--no-stream", action="store_true", help="wait for the whole answer instead of streaming")
    p.add_argument(
        "--timeout",
        metavar="SECS",
        help="the most one try may take, a whole stream included (default: [http] call_timeout_secs)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.add_argument("--explain", action="store_true", help="print each attempt and skip of the fallback chain on stderr")


def _build_keys(p: argparse.ArgumentParser, common: _Parser) -> None:
    keys = p.add_subparsers(dest="keys_command", metavar="SUBCOMMAND", parser_class=_Parser)
    keys.required = True
    k = keys.add_parser("set", help="save a provider's key (read from the terminal or stdin)", parents=[common])
    k.add_argument("name", help="the provider (or named instance) the key is for")
    keys.add_parser("list", help="list the names that have a saved key (never the keys)", parents=[common])
    keys.add_parser("path", help="print the keys file's path", parents=[common])


def _build_logs(p: argparse.ArgumentParser, common: _Parser) -> None:
    _logs_list_options(p, top=True)
    logs = p.add_subparsers(dest="logs_command", metavar="[SUBCOMMAND]", parser_class=_Parser)
    _logs_list_options(logs.add_parser("list", help="show logged exchanges (the default)", parents=[common]), top=False)
    logs.add_parser("path", help="print the log database's path", parents=[common])
    logs.add_parser("status", help="say whether logging is on, and how much is logged", parents=[common])
    logs.add_parser("on", help="log every chat exchange (the default)", parents=[common])
    logs.add_parser("off", help="stop logging chat exchanges", parents=[common])


def _build_config(p: argparse.ArgumentParser, common: _Parser) -> None:
    config = p.add_subparsers(dest="config_command", metavar="SUBCOMMAND", parser_class=_Parser)
    config.required = True
    config.add_parser("path", help="print the config file's path (whether it exists or not)", parents=[common])


def _build_new_provider(p: argparse.ArgumentParser, common: _Parser) -> None:
    p.add_argument("name", help="the provider's name, e.g. acme")
    p.add_argument("--dir", metavar="PATH", default=".", help="where to create the package (default: .)")
    p.add_argument(
        "--wire",
        choices=("compat", "bare"),
        default="compat",
        help="compat: a dialect of the shared chat-completions wire (default); bare: a provider on the wire toolkit",
    )


def _build_serve(p: argparse.ArgumentParser, common: _Parser) -> None:
    p.add_argument("--host", default=None, help="the address to listen on (default: serve.host, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="the port to listen on (default: serve.port, 4000)")
    p.add_argument(
        "--workers", type=int, default=None, metavar="N", help="worker processes (default: serve.workers, 1)"
    )


_BUILDERS: dict[str, Callable[[argparse.ArgumentParser, _Parser], None]] = {
    "plugins": _build_plugins,
    "models": _build_models,
    "chat": _build_chat,
    "keys": _build_keys,
    "logs": _build_logs,
    "config": _build_config,
    "new-provider": _build_new_provider,
    "serve": _build_serve,
}


def _logs_list_options(p: argparse.ArgumentParser, *, top: bool) -> None:
    # On `logs` itself (so `clawdesk logs -n 5` lists) and on `logs list`; below the top their defaults
    # are SUPPRESS, so that `logs -n 5 list` keeps the 5.
    default: Any = argparse.SUPPRESS
    p.add_argument(
        "-n",
        "--count",
        type=int,
        default=3 if top else default,
        metavar="N",
        help="how many of the newest exchanges (default 3; 0: all)",
    )
    p.add_argument("-q", "--query", default=None if top else default, help="only exchanges whose text contains this")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "-c",
        "--current",
        action="store_true",
        default=False if top else default,
        help="only the latest conversation",
    )
    which.add_argument("--cid", default=None if top else default, metavar="ID", help="only this conversation")
    p.add_argument("--json", action="store_true", default=False if top else default, help="print JSON")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    _tolerant_output()
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = _parser(_command_in(arguments)).parse_args(arguments)
    _setup_logging(args.debug)
    try:
        if args.command == "plugins":
            return _cmd_plugins(args)
        if args.command == "models":
            if args.models_command == "default":
                from ._manage_cli import cmd_models_default

                return cmd_models_default(args, _registry)
            return _run_async(_cmd_models, args)
        if args.command == "chat":
            return _cmd_chat(args)
        if args.command in ("keys", "logs", "config"):
            from . import _manage_cli

            command: Callable[[argparse.Namespace], int] = getattr(_manage_cli, f"cmd_{args.command}")
            status: int = command(args)
            return status
        if args.command == "new-provider":
            return _cmd_new_provider(args)
        if args.command == "serve":
            from ._serve import cmd_serve

            return cmd_serve(args)
        raise AssertionError(args.command)  # pragma: no cover - argparse rejects others
    except KeyboardInterrupt:
        print("clawdesk: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ConfigError, InvalidModelId, ProviderNotFound) as exc:
        return _fail(args, exc, EXIT_USAGE)
    except AllProvidersFailed as exc:
        return _fail(args, exc, EXIT_USAGE if _only_config_errors(exc) else EXIT_PROVIDER)
    except (ProviderError, PluginError) as exc:
        return _fail(args, exc, EXIT_PROVIDER)
    except ClawdeskError as exc:
        return _fail(args, exc, EXIT_PROVIDER)
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            raise
        # Not one of ours, so nothing made it one line or scrubbed it yet.
        text = " ".join(redact(str(exc)).split())
        print(f"clawdesk: internal error: {type(exc).__name__}: {text} (run with --debug for details)", file=sys.stderr)
        return EXIT_PROVIDER


def _only_config_errors(exc: AllProvidersFailed) -> bool:
    # Every candidate was skipped for its configuration (no -m, a chain of broken tables): the
    # same mistake as with -m, so the same exit status; a provider that was asked and failed is 1.
    return bool(exc.attempts) and all(getattr(a, "kind", None) == "config_error" for a in exc.attempts)


def _fail(args: argparse.Namespace, exc: BaseException, status: int) -> int:
    if args.debug:
        import traceback

        traceback.print_exception(exc)
    print(f"clawdesk: error: {safe(exc)}", file=sys.stderr)
    return status


def _setup_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler])


def _registry() -> Registry:
    from ._registry import Registry

    # Lazy: `chat -m acme/x` imports the acme plugin alone, so another plugin that hangs or balloons at
    # import cannot hold it up; listing everything (`plugins`, a chain) still imports them all.
    return Registry(lazy=True)


def _client(args: argparse.Namespace) -> Clawdesk:
    from ._client import Clawdesk
    from ._config import load_config
    from ._keys import load_keys

    # Saved keys (`clawdesk keys set`) come after the config file and the environment.
    client = Clawdesk(registry=_registry(), config=load_config(args.config), keys=load_keys())
    _warn_unknown_tables(client.config, client.registry)
    return client


_warned: set[str] = set()


def _warn_unknown_tables(config: Config, registry: Registry) -> None:
    """Say on stderr (once per run) which ``[providers.*]`` tables name no installed provider.

    Imports no plugin: only the names the registry has already seen are used
    (a lazy registry has noted its entry points, whose names are provider
    names), and the installed entry points are read only when a table matches
    none of those.
    """
    known = {*getattr(registry, "_providers", {}), *getattr(registry, "_pending", {})}
    known.update(s.name for s in getattr(registry, "_statuses", ()))
    if not config.unknown_tables(known):
        return
    from importlib import metadata

    from ._registry import ENTRY_POINT_GROUP

    try:
        # Entry point names are provider names: a plugin installed but not loaded (filtered out, broken) counts.
        known.update(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
    except Exception:  # noqa: BLE001 - a broken installation: the registry's names are enough
        pass
    for warning in config.unknown_tables(known):
        if warning not in _warned:
            _warned.add(warning)
            print(f"clawdesk: warning: {safe(warning)}", file=sys.stderr)


def _run_async(command: Any, *args: Any) -> int:
    import anyio

    result: int = anyio.run(command, *args)
    return result


def _tolerant_output() -> None:
    # A terminal or pipe that is not UTF-8 (PYTHONIOENCODING=ascii, an old
    # Windows console) must not turn a model's or a plugin's non-ASCII text
    # into a UnicodeEncodeError: write what cannot be encoded as escapes.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a closed or exotic stream: leave it as it is
                pass


# What a terminal may act on: C0 controls (ESC starts CSI and OSC sequences), DEL, C1 controls (0x9b is
# a one-character CSI on some terminals) and the bidirectional overrides that make text read backwards.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# The same for JSON text, whose encoder already escapes C0 controls.
_UNSAFE_JSON = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe(text: object) -> str:
    """``text`` for a terminal: every control or direction character shown as an escape (``\\x1b``).

    For what came from a server or a plugin and is not the model's answer
    (model ids, error texts, plugin names and versions).
    """
    return _UNSAFE.sub(_escaped, str(text))


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def json_text(data: object, *, indent: int | None = None, ascii_only: bool = False) -> str:
    """``data`` as JSON in which no character a terminal acts on appears raw (they are ``\\u`` escapes)."""
    text = json.dumps(data, indent=indent, ensure_ascii=ascii_only)
    return text if ascii_only else _UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _utf8(stream: TextIO) -> bool:
    return (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "") == "utf8"


def _print_json(data: object, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    # JSON escapes (\u00fc) where the stream cannot take the characters, so the output stays valid JSON.
    stream.write(json_text(data, indent=2, ascii_only=not _utf8(stream)))
    stream.write("\n")


# -- plugins --------------------------------------------------------------------


def _cmd_plugins(args: argparse.Namespace) -> int:
    from ._config import load_config

    if getattr(args, "check", False):
        return _check_plugins(args)

    registry = _registry()
    statuses = registry.statuses()
    _warn_unknown_tables(load_config(args.config), registry)
    rows: list[dict[str, Any]] = [
        {
            "name": s.name,
            "plugin": s.name,
            "distribution": s.distribution,
            "version": s.version,
            "status": s.status,
            "error": s.error,
        }
        for s in statuses
    ]
    # Named instances ([providers.gpu2] plugin = "ollama") are providers too: listed under their own name.
    by_name = {s.name: s for s in statuses}
    for name, plugin in load_config(args.config).instances().items():
        if name in by_name:
            continue
        base = by_name.get(plugin)
        if base is None:
            state, error = "error", f"its plugin {plugin!r} is not installed"
        elif base.status != "ok":
            state, error = "error", f"its plugin {plugin!r} is not usable: {base.error}"
        else:
            state, error = "ok", None
        rows.append(
            {
                "name": name,
                "plugin": plugin,
                "distribution": base.distribution if base else None,
                "version": base.version if base else None,
                "status": state,
                "error": error,
            }
        )
    if args.json:
        _print_json(rows)
        return EXIT_OK
    if not rows:
        print("no provider plugins installed (pip install clawdesk-<provider>, e.g. the one for your backend)")
        return EXIT_OK
    for row in rows:
        origin = f"{row['distribution']} {row['version']}" if row["distribution"] else "runtime"
        if row["plugin"] != row["name"]:
            origin = f"{row['plugin']} ({origin})"
        state = row["status"] if row["status"] == "ok" else f"{row['status']}: {row['error']}"
        print(safe(f"{row['name']:<16} {origin:<28} {state}"))
    return EXIT_OK


def _check_plugins(args: argparse.Namespace) -> int:
    from ._plugin_check import check_plugins

    results = check_plugins()
    if args.json:
        _print_json([r.as_dict() for r in results])
    elif not results:
        print("no provider plugins installed (pip install clawdesk-<provider>, e.g. the one for your backend)")
    else:
        for r in results:
            origin = f"{r.distribution} {r.version}" if r.distribution else "?"
            print(f"{r.name:<16} {origin:<28} {r.verdict}: {r.detail}")
    return EXIT_OK if all(r.verdict in ("ok", "disabled") for r in results) else EXIT_PROVIDER


# -- models ----------------------------------------------------------------------


async def _cmd_models(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        listings = await client.models(args.provider, refresh=args.refresh)
    rows: list[dict[str, Any]] = []
    status = EXIT_OK
    for listing in listings:
        if isinstance(listing.error, ConfigError):
            # A broken [providers.x] table is the user's to fix, not a backend that is down.
            print(f"clawdesk: error: {safe(listing.error)}", file=sys.stderr)
            status = EXIT_USAGE
        elif listing.error is not None:
            print(f"clawdesk: warning: {safe(listing.error)}", file=sys.stderr)
        for model in listing.models:
            rows.append(
                {
                    "id": f"{listing.provider}/{model.id}",
                    "provider": listing.provider,
                    "model": model.id,
                    "capabilities": sorted(c.value for c in model.capabilities),
                    "context_length": model.context_length,
                }
            )
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            ctx = f"{row['context_length']:>8}" if row["context_length"] else " " * 8
            print(f"{safe(row['id']):<44} {ctx}  {', '.join(row['capabilities'])}")
    return status


# -- chat --------------------------------------------------------------------------


def _stdin_text() -> str | None:
    """The text piped to stdin: ``None`` when stdin is a terminal (or absent), ``""`` when it cannot be read."""
    stdin = sys.stdin
    if stdin is None or stdin.isatty():
        return None
    try:
        if not stdin.readable():
            return ""
        # Bytes, decoded here: the locale's codec must not decide, and bad
        # bytes must be a clear usage error rather than a UnicodeDecodeError.
        buffer = getattr(stdin, "buffer", None)
        if buffer is not None:
            raw = buffer.read(MAX_PROMPT_BYTES + 1)  # bounded: `clawdesk chat < /dev/zero` must end
        else:
            raw = stdin.read(MAX_PROMPT_BYTES + 1).encode("utf-8", "surrogateescape")
    except (OSError, ValueError):  # closed, or a stand-in that cannot be read (a test runner's)
        return ""
    if len(raw) > MAX_PROMPT_BYTES:
        raise ConfigError(f"the prompt on stdin is larger than {MAX_PROMPT_BYTES // (1024 * 1024)} MiB")
    try:
        text: str = raw.decode("utf-8-sig")  # a leading BOM (Windows editors) is not part of the prompt
        return text
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the prompt on stdin is not UTF-8 text (bad byte at offset {exc.start})") from None


def _read_prompt(args: argparse.Namespace) -> str | None:
    """The prompt: piped text and the argument together (piped first, as ``llm`` does), either alone.

    ``None`` means an interactive session: no argument, and stdin is a terminal.
    """
    piped = _stdin_text()
    if args.prompt is None and piped is None:
        return None
    parts = [text for text in (piped, args.prompt) if text]
    prompt = " ".join(parts)
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:  # an argument with undecodable bytes (surrogate escapes)
        raise ConfigError(f"the prompt is not UTF-8 text (bad character at offset {exc.start})") from None
    if not prompt.strip():
        raise ConfigError("the prompt is empty")
    return prompt


def _cmd_chat(args: argparse.Namespace) -> int:
    from ._logs import LogStore

    prompt = _read_prompt(args)
    store = LogStore()
    try:
        if prompt is None:
            from ._chat_cli import run_interactive

            return run_interactive(lambda: _client(args), args, store)
        return _run_async(_chat_once, args, prompt, store)
    finally:
        store.close()


async def _chat_once(args: argparse.Namespace, prompt: str, store: Any) -> int:
    from ._chat_cli import run_chat

    async with _client(args) as client:
        return await run_chat(client, args, prompt, store)


def _cmd_new_provider(args: argparse.Namespace) -> int:
    from ._scaffold import write_provider_package

    path = write_provider_package(args.name, args.dir, args.wire)
    print(f"created {path}")
    print(f"next: pip install -e {path} && clawdesk plugins")
    return EXIT_OK
