"""A real ``redis-server`` for tests: its own loopback port, its own temporary directory, nothing saved.

Usage::

    with RedisServer() as redis:          # FileNotFoundError when redis-server is not installed
        config = StateConfig(backend="redis", url=Secret(redis.url))
        ...
        redis.kill()                       # SIGKILL, as a crash would
        redis.start()                      # the same port again, empty
        redis.cli("KEYS", "*")             # one command through redis-cli, its reply as text

Only ``127.0.0.1`` is bound; persistence is off (no RDB, no AOF), so a
restarted server starts empty, as a replaced one would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

from ._server import unused_port

__all__ = ["RedisServer", "redis_server_path"]


def redis_server_path() -> str | None:
    """Where ``redis-server`` is, or ``None`` (``/usr/sbin`` and ``/usr/bin`` are searched too)."""
    return shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin:/usr/local/bin")


class RedisServer:
    """One ``redis-server`` process on ``127.0.0.1:<port>``; see the module docstring.

    ``password`` turns on ``requirepass``; ``tls`` (a certificate file and
    its key file) makes the port speak TLS only (``rediss://``), without
    asking clients for certificates. :meth:`start` waits until the server
    answers ``PING`` (at most 10 s); :meth:`stop` and :meth:`kill` wait for
    the process to end.
    """

    def __init__(
        self, *, port: int | None = None, password: str | None = None, tls: tuple[Path, Path] | None = None
    ) -> None:
        binary = redis_server_path()
        if binary is None:
            raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = port if port is not None else unused_port()
        self.password = password
        self.tls = tls
        self.dir = Path(tempfile.mkdtemp(prefix="clawdesk-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(self.dir / "redis.log"),
        ]
        if self.password:
            args += ["--requirepass", self.password]
        if self.tls:
            cert, key = self.tls
            args[2] = "0"  # no plain port: --port 0
            args += ["--tls-port", str(self.port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
            args += ["--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self.starts += 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.dir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {log}")
            if self._answers():
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError("redis-server did not answer PING within 10s")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as plain:
                sock = plain
                if self.tls:
                    context = ssl.create_default_context(cafile=str(self.tls[0]))
                    sock = context.wrap_socket(plain, server_hostname="127.0.0.1")
                if self.password:
                    sock.sendall(f"AUTH {self.password}\r\n".encode())
                    if not sock.recv(64).startswith(b"+OK"):
                        return False
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the server (a crash: no goodbye to the clients) and wait for it."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM the server and wait for it (SIGKILL after 5 s)."""
        self._end(signal.SIGTERM)

    def _end(self, sig: int) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def cli(self, *args: str) -> str:
        """Run one command through ``redis-cli`` (raw output); raises on a non-zero exit."""
        cli = shutil.which("redis-cli") or os.path.join(os.path.dirname(self.binary), "redis-cli")
        command = [cli, "-h", "127.0.0.1", "-p", str(self.port), "--raw"]
        if self.tls:
            command += ["--tls", "--cacert", str(self.tls[0])]
        env = dict(os.environ)
        if self.password:
            env["REDISCLI_AUTH"] = self.password
        done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=10, env=env, check=True)
        return done.stdout

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
