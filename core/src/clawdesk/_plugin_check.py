"""``clawdesk plugins --check``: import each plugin in a subprocess of its own, and say which hang, crash or
balloon.

Loading plugins in-process (what every other command does) bounds each import
with a timeout in a worker thread, but a thread cannot be stopped: a plugin
that spins in Python code holding the GIL, allocates without end, or calls
``os._exit`` affects the whole process, and one that hangs keeps its thread.
A subprocess can be stopped and measured, so the check imports every plugin
in one of its own:

- ``ok``: the import finished within the import timeout
  (``$CLAWDESK_PLUGIN_IMPORT_TIMEOUT``, else 10 s); its peak memory is shown;
- ``hangs``: it did not finish in time (the subprocess is killed);
- ``crashes``: the subprocess failed (an exception at import, ``sys.exit``,
  a signal): the last line it wrote says how;
- ``balloons``: it ran out of the memory allowed
  (``$CLAWDESK_PLUGIN_CHECK_MEMORY_MB``, else 2048 MiB of address space), or
  its peak memory passed that;
- ``disabled``: ``$CLAWDESK_PLUGINS`` leaves it out (not imported).

Nothing here imports a plugin into this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from typing import Any

from attrs import frozen

from ._registry import ENTRY_POINT_GROUP, PLUGINS_ENV, Registry, _import_timeout

__all__ = ["MEMORY_ENV", "CheckResult", "check_plugins"]

#: The address space (MiB) a plugin's import subprocess may use.
MEMORY_ENV = "CLAWDESK_PLUGIN_CHECK_MEMORY_MB"
DEFAULT_MEMORY_MB = 2048

# Run in the subprocess: import the entry point, then report the peak resident memory (KiB on Linux).
_CHILD = """
import sys
from importlib import metadata
ep = metadata.EntryPoint(name=sys.argv[1], value=sys.argv[2], group=sys.argv[3])
ep.load()
try:
    import resource
    print("peak-kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
except ImportError:
    print("peak-kib 0", flush=True)
"""


@frozen
class CheckResult:
    """One plugin's verdict: ``ok``, ``hangs``, ``crashes``, ``balloons`` or ``disabled``, and why."""

    name: str
    verdict: str
    detail: str
    distribution: str | None = None
    version: str | None = None
    peak_mib: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "verdict": self.verdict,
            "detail": self.detail,
            "peak_mib": self.peak_mib,
        }


def _memory_limit_mb() -> int:
    raw = os.environ.get(MEMORY_ENV, "").strip()
    try:
        value = int(raw) if raw else DEFAULT_MEMORY_MB
    except ValueError:
        value = DEFAULT_MEMORY_MB
    return max(value, 64)


def check_plugins(*, timeout: float | None = None, memory_mb: int | None = None) -> list[CheckResult]:
    """Import every plugin of the entry-point group in a subprocess of its own; one result each, in order."""
    seconds = _import_timeout() if timeout is None else timeout
    limit = _memory_limit_mb() if memory_mb is None else memory_mb
    # The registry reads the entry points (and the allow/deny list) without importing anything.
    registry = Registry(discover=False, lazy=True)
    results: list[CheckResult] = []
    for ep, dist, version in registry._entry_points():
        if not registry._allowed(ep.name, dist):
            results.append(CheckResult(ep.name, "disabled", f"disabled by {PLUGINS_ENV}", dist, version))
            continue
        results.append(_check_one(ep, dist, version, seconds, limit))
    return results


def _limit_memory(megabytes: int) -> Any:
    def apply() -> None:  # runs in the child, before it starts Python
        try:
            import resource

            size = megabytes * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (size, size))
        except (ImportError, ValueError, OSError):  # pragma: no cover - no rlimits on this platform
            pass

    return apply if os.name == "posix" else None


def _check_one(
    ep: metadata.EntryPoint, dist: str | None, version: str | None, seconds: float, limit_mb: int
) -> CheckResult:
    def result(verdict: str, detail: str, peak: float | None = None) -> CheckResult:
        return CheckResult(ep.name, verdict, detail, dist, version, peak)

    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, ep.name, ep.value, ENTRY_POINT_GROUP],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=seconds,
            preexec_fn=_limit_memory(limit_mb),  # only sets an rlimit: safe even with threads
            check=False,
        )
    except subprocess.TimeoutExpired:
        return result("hangs", f"import of {ep.value} did not finish within {seconds:g}s")
    last = next((line.strip() for line in reversed(done.stderr.splitlines()) if line.strip()), "")
    if done.returncode != 0:
        if "MemoryError" in last:
            return result("balloons", f"import of {ep.value} ran out of its {limit_mb} MiB: {_short(last)}")
        if done.returncode < 0:
            return result("crashes", f"import of {ep.value} was killed by signal {-done.returncode}")
        reason = _short(last) or f"exit status {done.returncode}"
        return result("crashes", f"import of {ep.value} failed: {reason}")
    peak = None
    for line in done.stdout.splitlines():
        if line.startswith("peak-kib "):
            try:
                peak = round(int(line.split()[1]) / 1024, 1)
            except ValueError:
                peak = None
    if peak is not None and peak > limit_mb:
        return result("balloons", f"import of {ep.value} peaked at {peak:g} MiB (limit {limit_mb} MiB)", peak)
    shown = f", peak {peak:g} MiB" if peak else ""
    return result("ok", f"imported in a subprocess{shown}", peak)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."
