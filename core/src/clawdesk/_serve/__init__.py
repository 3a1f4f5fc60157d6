"""``clawdesk serve``: a Chat Completions gateway over every installed provider (the ``clawdesk[serve]`` extra).

Loaded only by ``clawdesk serve``: nothing else in clawdesk imports this
package, and importing it imports neither Starlette nor uvicorn (the
application, :mod:`clawdesk._serve._app`, does). See ``docs/gateway.md``.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any

from .._config import CONFIG_ENV, Config, load_config
from .._errors import ConfigError

__all__ = ["EXTRA_HINT", "check_settings", "cmd_serve"]

EXTRA_HINT = "clawdesk serve needs the clawdesk[serve] extra: pip install 'clawdesk[serve]'"


def check_settings(config: Config) -> None:
    """Fail now, in one line, on what would make every worker fail: the extra missing, keys unusable."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise ConfigError(EXTRA_HINT) from None
    from ._auth import KeyRing

    KeyRing.from_config(config.serve)


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the gateway until interrupted; returns the exit status."""
    config = load_config(args.config)
    check_settings(config)
    serve = config.serve
    host = args.host if args.host is not None else serve.host
    port = args.port if args.port is not None else serve.port
    workers = args.workers if args.workers is not None else serve.workers
    if workers < 1:
        raise ConfigError(f"--workers: expected an integer >= 1, got {workers}")
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port: expected a port number from 0 to 65535, got {port}")
    _check_port(host, port)
    shared_state = config.state.resolve().backend == "redis"  # a bad [state] fails here, in one line
    if config.source is not None:
        # Every worker reads the same file, whichever way it was named.
        os.environ[CONFIG_ENV] = os.path.abspath(config.source)
    import shutil
    import tempfile

    import uvicorn

    from ._metrics import METRICS_DIR_ENV

    metrics_dir = None
    if workers > 1:
        # The workers add up their counters through this directory, so /metrics shows the whole gateway.
        metrics_dir = tempfile.mkdtemp(prefix="clawdesk-serve-metrics-")
        os.environ[METRICS_DIR_ENV] = metrics_dir

    print(
        f"clawdesk serve: http://{host}:{port}/v1 with {workers} worker{'s' if workers > 1 else ''} (Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )
    if workers > 1 and not shared_state:
        print(
            "clawdesk serve: warning: each worker keeps its own key budgets and cooldowns with [state] backend "
            '"local"; set [state] backend = "redis" to share them',
            file=sys.stderr,
            flush=True,
        )
    try:
        _run(uvicorn, host, port, workers, serve_debug=bool(args.debug), config=config)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _run(uvicorn: Any, host: str, port: int, workers: int, *, serve_debug: bool, config: Config) -> None:
    serve = config.serve
    uvicorn.run(
        "clawdesk._serve._app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        log_level="debug" if serve_debug else "warning",
        access_log=serve_debug,
        timeout_keep_alive=max(1, round(serve.keep_alive_secs)),
        # Without it a stopping worker waits for every stream to end, however long that takes.
        timeout_graceful_shutdown=max(1, round(serve.shutdown_timeout_secs)),
        limit_concurrency=serve.max_connections,
        server_header=False,
        date_header=True,
        lifespan="on",
    )
