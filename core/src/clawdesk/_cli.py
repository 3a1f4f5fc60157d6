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
import sys
from collections.abc import Sequence
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


def _parser() -> argparse.ArgumentParser:
    common = _common(top=False)
    parser = _Parser(
        prog="clawdesk", description="Talk to LLM backends through provider plugins.", parents=[_common(top=True)]
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("plugins", help="list discovered provider plugins and their status", parents=[common])
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("models", help="list models and their capabilities", parents=[common])
    p.add_argument("-p", "--provider", help="only this provider")
    p.add_argument("--refresh", action="store_true", help="ask the backends instead of built-in lists and caches")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("chat", help="send a prompt and print the answer", parents=[common])
    p.add_argument("prompt", nargs="?", help="the prompt (default: read from stdin)")
    p.add_argument(
        "-m", "--model", help="PROVIDER/MODEL, or PROVIDER for its default model (default: the fallback chain)"
    )
    p.add_argument("-s", "--system", help="a system prompt")
    p.add_argument("--no-stream", action="store_true", help="wait for the whole answer instead of streaming")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.add_argument("--explain", action="store_true", help="print each attempt and skip of the fallback chain on stderr")

    p = sub.add_parser("new-provider", help="write a new provider package to start from", parents=[common])
    p.add_argument("name", help="the provider's name, e.g. acme")
    p.add_argument("--dir", metavar="PATH", default=".", help="where to create the package (default: .)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    _tolerant_output()
    args = _parser().parse_args(argv)
    _setup_logging(args.debug)
    try:
        if args.command == "plugins":
            return _cmd_plugins(args)
        if args.command == "models":
            return _run_async(_cmd_models, args)
        if args.command == "chat":
            return _run_async(_cmd_chat, args)
        if args.command == "new-provider":
            return _cmd_new_provider(args)
        raise AssertionError(args.command)  # pragma: no cover - argparse rejects others
    except KeyboardInterrupt:
        print("clawdesk: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ConfigError, InvalidModelId, ProviderNotFound) as exc:
        return _fail(args, exc, EXIT_USAGE)
    except (ProviderError, AllProvidersFailed, PluginError) as exc:
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


def _fail(args: argparse.Namespace, exc: BaseException, status: int) -> int:
    if args.debug:
        import traceback

        traceback.print_exception(exc)
    print(f"clawdesk: error: {exc}", file=sys.stderr)
    return status


def _setup_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler])


def _registry() -> Registry:
    from ._registry import Registry

    return Registry()


def _client(args: argparse.Namespace) -> Clawdesk:
    from ._client import Clawdesk
    from ._config import load_config

    return Clawdesk(registry=_registry(), config=load_config(args.config))


def _run_async(command: Any, args: argparse.Namespace) -> int:
    import anyio

    result: int = anyio.run(command, args)
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


def _utf8(stream: TextIO) -> bool:
    return (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "") == "utf8"


def _print_json(data: object, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    # JSON escapes (\u00fc) where the stream cannot take the characters, so the output stays valid JSON.
    json.dump(data, stream, indent=2, ensure_ascii=not _utf8(stream))
    stream.write("\n")


# -- plugins --------------------------------------------------------------------


def _cmd_plugins(args: argparse.Namespace) -> int:
    from ._config import load_config

    statuses = _registry().statuses()
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
        print(f"{row['name']:<16} {origin:<28} {state}")
    return EXIT_OK


# -- models ----------------------------------------------------------------------


async def _cmd_models(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        listings = await client.models(args.provider, refresh=args.refresh)
    rows: list[dict[str, Any]] = []
    status = EXIT_OK
    for listing in listings:
        if isinstance(listing.error, ConfigError):
            # A broken [providers.x] table is the user's to fix, not a backend that is down.
            print(f"clawdesk: error: {listing.error}", file=sys.stderr)
            status = EXIT_USAGE
        elif listing.error is not None:
            print(f"clawdesk: warning: {listing.error}", file=sys.stderr)
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
            print(f"{row['id']:<44} {ctx}  {', '.join(row['capabilities'])}")
    return status


# -- chat --------------------------------------------------------------------------


def _read_prompt(args: argparse.Namespace) -> str:
    if args.prompt is not None:
        prompt: str = args.prompt
    elif sys.stdin is None or sys.stdin.isatty():
        raise ConfigError("no prompt: give one as an argument or on stdin")
    else:
        # Bytes, decoded here: the locale's codec must not decide, and bad
        # bytes must be a clear usage error rather than a UnicodeDecodeError.
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is not None:
            raw = buffer.read(MAX_PROMPT_BYTES + 1)  # bounded: `clawdesk chat < /dev/zero` must end
        else:
            raw = sys.stdin.read(MAX_PROMPT_BYTES + 1).encode("utf-8", "surrogateescape")
        if len(raw) > MAX_PROMPT_BYTES:
            raise ConfigError(f"the prompt on stdin is larger than {MAX_PROMPT_BYTES // (1024 * 1024)} MiB")
        try:
            prompt = raw.decode("utf-8-sig")  # a leading BOM (Windows editors) is not part of the prompt
        except UnicodeDecodeError as exc:
            raise ConfigError(f"the prompt on stdin is not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:  # an argument with undecodable bytes (surrogate escapes)
        raise ConfigError(f"the prompt is not UTF-8 text (bad character at offset {exc.start})") from None
    if not prompt.strip():
        raise ConfigError("the prompt is empty")
    return prompt


async def _cmd_chat(args: argparse.Namespace) -> int:
    from ._chat_cli import run_chat

    prompt = _read_prompt(args)
    async with _client(args) as client:
        return await run_chat(client, args, prompt)


def _cmd_new_provider(args: argparse.Namespace) -> int:
    from ._scaffold import write_provider_package

    path = write_provider_package(args.name, args.dir)
    print(f"created {path}")
    print(f"next: pip install -e {path} && clawdesk plugins")
    return EXIT_OK
