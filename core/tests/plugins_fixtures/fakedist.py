"""Fake provider-plugin distributions, made at test time.

A "distribution" here is what ``importlib.metadata`` finds on ``sys.path``: a
``<name>-<version>.dist-info`` directory with ``METADATA`` and
``entry_points.txt``, next to the plugin's module. No pip install is needed,
so registry tests can create any broken plugin they like. :func:`build_wheel`
packs the same thing as a wheel, for tests that install into a fresh venv.

:func:`plugin_source` writes a complete, working provider module whose hooks a
test replaces one by one (``hooks={"provider_chat": "..."}``) to make it
misbehave. The working provider talks JSON to ``config.base_url`` (a
ScriptedServer in tests):

- ``POST /chat`` with ``{"model", "messages": [{"role", "content"}]}``, answer
  ``{"content": "...", "input_tokens": n, "output_tokens": n}``;
- ``POST /stream``, answer lines of ``{"content": "..."}`` (one TextDelta each);
- ``GET /models`` (only with ``refresh``), answer ``{"models": ["id", ...]}``.

It sends ``Authorization: Bearer <key>`` when a key is configured, reads the
key from ``$<NAME>_API_KEY`` and maps errors with the wire toolkit (:mod:`clawdesk.provider`), as a
real plugin does.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib
import re
import sys
import textwrap
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ENTRY_POINT_GROUP = "clawdesk.providers"

_PRELUDE = '''\
"""A fake clawdesk provider plugin written by the test suite."""
import json

from clawdesk import (
    Capability,
    ChatResponse,
    Finish,
    FinishReason,
    Message,
    ModelInfo,
    TextDelta,
    Usage,
)
from clawdesk.provider import ProviderConfig, hookimpl
from attrs import frozen

NAME = {name!r}
CLAWDESK_CONTRACT = 2
'''

HOOKS: dict[str, str] = {
    "config": """
@frozen(kw_only=True)
class Config(ProviderConfig):
    api_key_env: str | None = {env!r}
""",
    "provider_name": """
@hookimpl
def provider_name():
    return NAME
""",
    "provider_config_type": """
@hookimpl
def provider_config_type():
    return Config
""",
    "provider_capabilities": """
@hookimpl
def provider_capabilities(config, model):
    return frozenset({Capability.CHAT, Capability.STREAMING})
""",
    "provider_models": """
@hookimpl
async def provider_models(config, http, refresh):
    if not refresh:
        return [ModelInfo("small", {Capability.CHAT, Capability.STREAMING}, context_length=4096)]
    response = await _send(config, http, "GET", "/models")
    return [ModelInfo(m, {Capability.CHAT}) for m in response.json()["models"]]
""",
    "provider_chat": """
@hookimpl
async def provider_chat(config, http, request):
    response = await _send(config, http, "POST", "/chat", _body(request))
    data = response.json()
    usage = Usage(data.get("input_tokens"), data.get("output_tokens"))
    return ChatResponse(
        message=Message.assistant(data["content"]), finish_reason=FinishReason.STOP, finish_reason_raw="stop",
        usage=usage, provider=NAME, model=request.model,
    )
""",
    "provider_stream": """
@hookimpl
async def provider_stream(config, http, request):
    import httpx
    from clawdesk.provider import map_transport_error, raise_for_response

    try:
        async with http.stream("POST", config.base_url + "/stream", json=_body(request), headers=_headers(config)) as r:
            await raise_for_response(NAME, r)
            async for line in r.aiter_lines():
                if line.strip():
                    yield TextDelta(json.loads(line)["content"])
    except httpx.HTTPError as exc:
        raise map_transport_error(NAME, exc) from exc
    yield Finish(FinishReason.STOP, "stop")
""",
    "helpers": """
def _headers(config):
    return {"authorization": "Bearer " + config.api_key.reveal()} if config.api_key else {}


def _body(request):
    return {"model": request.model, "messages": [{"role": m.role.value, "content": m.text} for m in request.messages]}


async def _send(config, http, method, path, body=None):
    import httpx
    from clawdesk.provider import map_transport_error, raise_for_response

    try:
        response = await http.request(method, config.base_url + path, json=body, headers=_headers(config))
    except httpx.HTTPError as exc:
        raise map_transport_error(NAME, exc) from exc
    await raise_for_response(NAME, response)
    return response
""",
}


def plugin_source(
    name: str,
    *,
    hooks: Mapping[str, str | None] | None = None,
    prelude: str = "",
    env: str | None = None,
) -> str:
    """The source of a provider module named ``name``.

    ``hooks`` replaces the source of the named parts of :data:`HOOKS` (``None``
    leaves a part out); ``prelude`` runs first, at import. The key comes from
    ``env`` (default ``<NAME>_API_KEY``).
    """
    parts = dict(HOOKS)
    parts.update(hooks or {})
    key_env = env or re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_API_KEY"
    body = [textwrap.dedent(prelude), _PRELUDE.format(name=name)]
    for part in parts.values():
        if part is not None:
            body.append(textwrap.dedent(part).replace("{env!r}", repr(key_env)))
    return "\n".join(body)


def _dist_dir_name(dist: str, version: str) -> str:
    return f"{re.sub(r'[-_.]+', '_', dist)}-{version}.dist-info"


def _metadata(dist: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\nSummary: fake plugin for clawdesk tests\n"


def _entry_points(entry_points: Mapping[str, str]) -> str:
    lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{name} = {value}" for name, value in entry_points.items()]
    return "\n".join(lines) + "\n"


def write_dist(
    site: Path,
    dist: str,
    *,
    modules: Mapping[str, str],
    entry_points: Mapping[str, str],
    version: str = "1.0",
) -> None:
    """Write distribution ``dist`` (its modules and its dist-info) into directory ``site``."""
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source, encoding="utf-8")
    info = site / _dist_dir_name(dist, version)
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(_metadata(dist, version), encoding="utf-8")
    (info / "entry_points.txt").write_text(_entry_points(entry_points), encoding="utf-8")


def build_wheel(
    out: Path,
    dist: str,
    *,
    modules: Mapping[str, str],
    entry_points: Mapping[str, str],
    version: str = "1.0",
    requires: tuple[str, ...] = (),
) -> Path:
    """A pure-Python wheel of ``modules`` with ``entry_points``, written into ``out``; returns its path."""
    info = _dist_dir_name(dist, version)
    files: dict[str, bytes] = {f"{module}.py": source.encode() for module, source in modules.items()}
    metadata = _metadata(dist, version) + "".join(f"Requires-Dist: {r}\n" for r in requires)
    files[f"{info}/METADATA"] = metadata.encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: clawdesk-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{info}/entry_points.txt"] = _entry_points(entry_points).encode()
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out / f"{re.sub(r'[-_.]+', '_', dist)}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


class FakeSite:
    """A directory on ``sys.path`` holding fake distributions (see :func:`write_dist`).

    ``gate`` is a file whose creation releases plugins written with
    :meth:`blocking_prelude` (the fixture creates it at teardown).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.gate = path / "gate-open"
        self.token = uuid.uuid4().hex[:8]

    def module_name(self, ep_name: str) -> str:
        """A module name unique to this test, so no test sees another's cached import."""
        return f"fake_{re.sub(r'[^a-z0-9]', '_', ep_name.lower())}_{self.token}"

    def add(
        self,
        ep_name: str,
        source: str | None = None,
        *,
        dist: str | None = None,
        version: str = "1.0",
        value: str | None = None,
    ) -> str:
        """Add a distribution with one entry point ``ep_name``; returns the module name.

        ``source`` defaults to a working plugin named ``ep_name``; ``value``
        overrides the entry point's target (default: the module).
        """
        module = self.module_name(ep_name)
        if dist is None:
            dist = f"fake-{ep_name}-{self.token}"
        write_dist(
            self.path,
            dist,
            modules={module: source if source is not None else plugin_source(ep_name)},
            entry_points={ep_name: value or module},
            version=version,
        )
        importlib.invalidate_caches()
        return module

    def blocking_prelude(self, limit: float = 30.0) -> str:
        """Import-time code that blocks until :attr:`gate` exists (at most ``limit`` seconds)."""
        return (
            "import os, time\n"
            f"_until = time.monotonic() + {limit!r}\n"
            f"while not os.path.exists({str(self.gate)!r}) and time.monotonic() < _until:\n"
            "    time.sleep(0.02)\n"
        )

    def cleanup(self) -> None:
        self.gate.touch()
        for name, module in list(sys.modules.items()):
            ours = name.startswith("fake_") and name.endswith(self.token)
            if ours or str(getattr(module, "__file__", None) or "").startswith(str(self.path)):
                del sys.modules[name]


def fake_site(path: Path) -> Iterator[FakeSite]:
    """Generator body of the ``fake_site`` fixture: ``path`` on ``sys.path`` while the test runs."""
    path.mkdir(parents=True, exist_ok=True)
    site = FakeSite(path)
    sys.path.insert(0, str(path))
    importlib.invalidate_caches()
    try:
        yield site
    finally:
        site.cleanup()
        try:
            sys.path.remove(str(path))
        except ValueError:
            pass
        importlib.invalidate_caches()


def cli_env(
    tmp: Path, *, site: Path | None = None, plugins: str | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """An environment for running ``clawdesk`` in a subprocess, isolated from the developer's own setup.

    ``site`` goes on ``PYTHONPATH`` (fake distributions); ``plugins`` becomes
    ``CLAWDESK_PLUGINS``; no ``CLAWDESK_*`` or provider key variable leaks in.
    """
    import os

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CLAWDESK_") and not k.endswith("_API_KEY") and k != "PYTHONPATH"
    }
    env.update(HOME=str(tmp), XDG_CONFIG_HOME=str(tmp / "xdg-config"), PYTHONIOENCODING="utf-8", NO_COLOR="1")
    if site is not None:
        env["PYTHONPATH"] = str(site)
    if plugins is not None:
        env["CLAWDESK_PLUGINS"] = plugins
    env.update(extra or {})
    return env


def run_cli(
    args: list[str],
    env: Mapping[str, str],
    *,
    stdin: bytes | None = None,
    timeout: float = 60,
    python: str | None = None,
) -> Any:
    """Run ``python -m clawdesk ARGS``; returns the CompletedProcess (text stdout/stderr)."""
    import subprocess

    result = subprocess.run(
        [python or sys.executable, "-m", "clawdesk", *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=dict(env),
        timeout=timeout,
        check=False,
    )
    result.stdout = result.stdout.decode("utf-8", errors="replace")
    result.stderr = result.stderr.decode("utf-8", errors="replace")
    return result


def assert_one_line_error(result: Any, status: int, *words: str) -> str:
    """The process exited with ``status`` and wrote exactly one line to stderr, with no traceback."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("clawdesk: error: "), line
    for word in words:
        assert word in line, (word, line)
    return line


class CliResult:
    """What an in-process run of the CLI gave: exit status and captured output."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def run_main(args: list[str], *, monkeypatch: Any, capsys: Any, stdin: bytes = b"") -> CliResult:
    """Run ``clawdesk ARGS`` in this process (much faster than a subprocess).

    stdin is a pipe-like stream over ``stdin``; the environment is whatever
    the test set with ``monkeypatch``. An exception escaping ``main`` fails
    the test, which is the in-process form of "printed a traceback".
    """
    import io

    from clawdesk._cli import main

    stream = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stream)
    capsys.readouterr()
    try:
        status = main(args)
    except SystemExit as exc:  # argparse's usage errors
        status = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return CliResult(status, out, err)


@contextlib.contextmanager
def scrub_list_restored() -> Iterator[None]:
    """Secrets made inside are forgotten by ``redact()`` afterwards.

    Property tests make thousands of random "keys"; left in the process-wide
    scrub list they would turn ordinary text in other tests' messages into ***.
    """
    from clawdesk import _secret

    before = set(_secret._known)
    try:
        yield
    finally:
        _secret._known.intersection_update(before)
