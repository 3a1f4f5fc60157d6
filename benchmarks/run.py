"""Measure what clawdesk costs over raw httpx, and print one table.

Usage (from the repository root)::

    .venv/bin/python benchmarks/run.py            # the full run, a few minutes on 2 cores
    .venv/bin/python benchmarks/run.py --quick    # tiny counts: checks the harness works (seconds)
    .venv/bin/python benchmarks/run.py --markdown --json results.json

Every figure is set beside raw ``httpx.AsyncClient`` doing the same work in
the same run (for streams: ``aiter_lines`` + ``json.loads`` of every chunk):

1. cold start: ``clawdesk plugins --json`` (both plugins loaded) vs
   ``python -c "import httpx"`` (and ``python -c pass`` for reference), each a
   fresh process, interleaved;
2. sequential non-streaming chat through each plugin vs raw httpx;
3. one long stream through each plugin (every chunk a typed event) vs raw httpx;
4. many concurrent streams in one process: wall time and peak RSS;
5. the fallback engine: a chain whose first entry is refused at once, and a
   chain of one healthy entry, vs a direct call.

Each trial runs in a fresh process (``_worker.py``) against a loopback server
in its own process (``_loopback.py``); trials of the compared subjects are
interleaved run by run, and ratios are the median of those paired ratios.
On a machine with 2 or more CPUs the server is pinned to the last CPU and the
measured processes to the first (``--no-pin`` turns that off), so neither
steals the other's core; the table shows how busy the server was.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable

# (bench, key, label, unit, baseline key, target text, target check)
Target = tuple[str, Callable[[float], bool]] | None


def _env() -> dict[str, str]:
    """The children's environment: no proxies, no plugin filter, no user config."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    for name in ("CLAWDESK_PLUGINS", "CLAWDESK_CONFIG", "PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME"):
        env.pop(name, None)
    env["PYTHONHASHSEED"] = "0"
    return env


def run_process(cmd: Sequence[str], *, timeout: float = 600.0) -> tuple[float, float, int, bytes, float]:
    """Run ``cmd``; wall seconds, peak RSS (MiB), exit code, stdout (stderr merged), CPU seconds.

    RSS and CPU time come from the child's own rusage (``wait4``).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_env(), cwd=ROOT)
    assert proc.stdout is not None
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        out = proc.stdout.read()
        # A blocking wait4 (no polling) so the measured time ends when the child does.
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    return seconds, usage.ru_maxrss / 1024, proc.returncode, out, usage.ru_utime + usage.ru_stime


class Server:
    """The loopback server process, started and stopped by ``with``."""

    def __init__(self, cpu: int | None) -> None:
        cmd = [PY, str(HERE / "_loopback.py"), "--max-seconds", "1800"]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_env())
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.proc.kill()
            raise RuntimeError("the loopback server did not start")
        self.port = int(line)
        self.pid = self.proc.pid

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # the server stops on stdin EOF
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- trials ---------------------------------------------------------------------------


def worker_trial(spec: dict[str, Any]) -> dict[str, Any]:
    """One trial in a fresh process; its result dict with ``rss_mib`` added."""
    _, rss, code, out, _ = run_process([PY, str(HERE / "_worker.py"), json.dumps(spec)])
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = lines[-1] if lines else ""
        return {"error": f"worker exited {code}: {tail[:200]}"}
    result["rss_mib"] = rss
    return result


def cold_trial(cmd: Sequence[str], check: Callable[[bytes], str | None] | None) -> dict[str, Any]:
    seconds, rss, code, out, cpu = run_process(cmd, timeout=60)
    if code != 0:
        return {"error": f"exit {code}: {out.decode(errors='replace').strip()[:200]}"}
    problem = check(out) if check is not None else None
    if problem:
        return {"error": problem}
    return {"seconds": seconds, "rss_mib": rss, "cpu": cpu}


def _plugins_ok(out: bytes) -> str | None:
    try:
        statuses = json.loads(out)
    except ValueError:
        return "output is not JSON"
    names = {s["name"]: s["status"] for s in statuses}
    bad = [f"{n}={names.get(n, 'missing')}" for n, _ in PAIRS if names.get(n) != "ok"]
    return f"plugins not loaded: {', '.join(bad)}" if bad else None


# -- statistics -------------------------------------------------------------------------


def _spread(values: Sequence[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


class Row:
    """One line of the table: a subject's measure and its ratio to the baseline."""

    def __init__(
        self,
        key: str,
        label: str,
        unit: str,
        values: list[float],
        *,
        errors: list[str],
        ratios: list[float] | None = None,
        ratio_kind: str = "",
        target: Target = None,
        note: str = "",
        server_busy: list[float] | None = None,
        cpu_ratios: list[float] | None = None,
        ratio_format: str = "{:.2f}x",
    ) -> None:
        self.ratio_format = ratio_format
        self.key, self.label, self.unit, self.values = key, label, unit, values
        self.errors, self.ratios, self.ratio_kind, self.target = errors, ratios, ratio_kind, target
        self.note = note
        self.server_busy = server_busy or []
        self.cpu_ratios = cpu_ratios

    def value_text(self) -> str:
        if not self.values:
            return "error"
        med, lo, hi = _spread(self.values)
        return f"{_fmt(med)} [{_fmt(lo)}-{_fmt(hi)}]"

    def ratio_text(self) -> str:
        if not self.ratios:
            return "" if self.ratios is None else "n/a"
        med, lo, hi = _spread(self.ratios)
        f = self.ratio_format
        return f"{f.format(med)} [{f.format(lo).rstrip('x')}..{f.format(hi).rstrip('x')}]"

    def cpu_ratio_text(self) -> str:
        if not self.cpu_ratios:
            return ""
        med, lo, hi = _spread(self.cpu_ratios)
        return f"{med:.2f}x [{lo:.2f}..{hi:.2f}]"

    def met(self) -> str:
        if self.target is None:
            return ""
        if not self.ratios:
            return "n/a"
        ok = self.target[1](statistics.median(self.ratios))
        return "yes" if ok else "NO"

    def busy_text(self) -> str:
        return f"{100 * statistics.median(self.server_busy):.0f}%" if self.server_busy else ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "values": self.values,
            "ratios": self.ratios,
            "ratio_kind": self.ratio_kind,
            "target": self.target[0] if self.target else None,
            "met": self.met() or None,
            "errors": self.errors,
            "note": self.note,
            "server_busy": self.server_busy,
            "cpu_ratios": self.cpu_ratios,
        }
        if self.values:
            out["median"], out["min"], out["max"] = _spread(self.values)
        if self.ratios:
            out["ratio_median"], out["ratio_min"], out["ratio_max"] = _spread(self.ratios)
        if self.cpu_ratios:
            out["cpu_ratio_median"], out["cpu_ratio_min"], out["cpu_ratio_max"] = _spread(self.cpu_ratios)
        return out


def _short(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _paired(
    base: list[dict[str, Any]], ours: list[dict[str, Any]], metric: Callable[[dict[str, Any]], float], *, invert: bool
) -> list[float]:
    """Per-run ratios ours/base of ``metric`` (base/ours when ``invert``), skipping failed runs."""
    ratios = []
    for b, o in zip(base, ours, strict=True):
        if "error" in b or "error" in o:
            continue
        mb, mo = metric(b), metric(o)
        ratios.append(mb / mo if invert else mo / mb)
    return ratios


def _ok(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in results if "error" not in r]


def _errors(results: list[dict[str, Any]]) -> list[str]:
    return sorted({r["error"] for r in results if "error" in r})


def _throughput(r: dict[str, Any]) -> float:
    return float(r["items"] / r["seconds"])


def _peak(results: list[dict[str, Any]]) -> str:
    """How many connections the server saw open at once (concurrent streams only)."""
    peaks = [r["peak_connections"] for r in _ok(results) if "peak_connections" in r]
    return f"peak {min(peaks)}-{max(peaks)} connections" if peaks else ""


def _cpu(r: dict[str, Any]) -> float:
    return float(r["cpu_per_item"])


def _busy(results: list[dict[str, Any]]) -> list[float]:
    return [r["server_cpu"] / r.get("total_seconds", r["seconds"]) for r in _ok(results) if r["server_cpu"] >= 0]


# -- the benchmarks -------------------------------------------------------------------------


def bench_cold(args: argparse.Namespace, log: Callable[[str], None]) -> list[Row]:
    script = Path(PY).parent / "clawdesk"
    clawdesk_cmd = (
        [str(script), "plugins", "--json"] if script.exists() else [PY, "-m", "clawdesk", "plugins", "--json"]
    )
    commands = {
        "pass": ([PY, "-c", "pass"], None),
        "httpx": ([PY, "-c", "import httpx"], None),
        "clawdesk": (clawdesk_cmd, _plugins_ok),
    }
    # One unmeasured round: .pyc files are written on first import of an
    # editable install (a wheel install writes them at install time).
    if not args.quick:
        for cmd, _ in commands.values():
            run_process(cmd, timeout=60)
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in commands}
    for i in range(args.cold_runs):
        for key, (cmd, check) in commands.items():
            results[key].append(cold_trial(cmd, check))
        log(f"cold start {i + 1}/{args.cold_runs}")
    seconds: Callable[[dict[str, Any]], float] = lambda r: float(r["seconds"])  # noqa: E731
    rss: Callable[[dict[str, Any]], float] = lambda r: float(r["rss_mib"])  # noqa: E731
    rows = [
        Row("cold/pass", 'python -c "pass" (reference)', "s", [seconds(r) for r in _ok(results["pass"])],
            errors=_errors(results["pass"])),
        Row("cold/httpx", 'python -c "import httpx" (baseline)', "s", [seconds(r) for r in _ok(results["httpx"])],
            errors=_errors(results["httpx"])),
        Row("cold/clawdesk", "clawdesk plugins --json", "s", [seconds(r) for r in _ok(results["clawdesk"])],
            errors=_errors(results["clawdesk"]),
            ratios=_paired(results["httpx"], results["clawdesk"], seconds, invert=False), ratio_kind="time",
            cpu_ratios=_paired(results["httpx"], results["clawdesk"], lambda r: float(r["cpu"]), invert=False),
            target=("<=1.0x", lambda x: x <= 1.0)),
        Row("cold/httpx-rss", 'python -c "import httpx": peak RSS', "MiB", [rss(r) for r in _ok(results["httpx"])],
            errors=[]),
        Row("cold/clawdesk-rss", "clawdesk plugins --json: peak RSS", "MiB",
            [rss(r) for r in _ok(results["clawdesk"])], errors=[],
            ratios=_paired(results["httpx"], results["clawdesk"], rss, invert=False), ratio_kind="RSS"),
    ]  # fmt: skip
    return rows


def _trials(
    bench: str, subjects: Sequence[str], runs: int, spec: dict[str, Any], log: Callable[[str], None]
) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in subjects}
    for i in range(runs):
        for subject in subjects:
            results[subject].append(worker_trial({**spec, "bench": bench, "subject": subject}))
        log(f"{bench} {i + 1}/{runs}")
    return results


#: Every provider's wire, in the table's order: (plugin, what the raw-httpx baseline does).
PAIRS = (
    ("mistral", "Mistral SSE"),
    ("openai", "OpenAI SSE"),
    ("anthropic", "Anthropic SSE"),
    ("gemini", "Gemini SSE"),
    ("ollama", "Ollama NDJSON"),
    ("bedrock", "Bedrock event stream"),
)
#: The CONCURRENT benchmark's shapes: (key suffix, streams, chunks per stream), with --streams/--stream-chunks
#: setting the first.
CONCURRENT = (("", "streams", "stream_chunks"), ("-200", "streams_200", "stream_chunks_200"))


def _time_ratio(r: dict[str, Any]) -> float:
    # Seconds per item: the targets are time ratios (lower is better).
    return float(r["seconds"] / r["items"])


def _ms(r: dict[str, Any]) -> float:
    return float(r["seconds"] * 1000)


def _peers(args: argparse.Namespace) -> list[tuple[str, str]]:
    """With --peers: (subject, wire) of each official SDK that is installed."""
    if not args.peers:
        return []
    import importlib.util

    known = (("peer-openai", "openai"), ("peer-anthropic", "anthropic"))
    return [(peer, name) for peer, name in known if importlib.util.find_spec(name) is not None]


def bench_pairs(
    args: argparse.Namespace, server: Server, log: Callable[[str], None], bench: str, shape: str = ""
) -> list[Row]:
    providers = [p for p in PAIRS if p[0] in args.providers]
    subjects = [f"{side}-{name}" for name, _ in providers for side in ("raw", "clawdesk")]
    base_spec = {"port": server.port, "server_pid": server.pid, "warmup": args.warmup}
    key = bench
    if bench == "chat":
        spec = {**base_spec, "requests": args.requests}
        runs, unit, what = args.runs, "req/s", f"{args.requests:,} sequential chats"
        target: Target = ("<=1.00x", lambda x: x <= 1.0)
    elif bench == "stream":
        spec = {**base_spec, "chunks": args.chunks, "repeat": args.repeat}
        runs, unit, what = args.stream_runs, "chunks/s", f"1 stream x {args.chunks:,} chunks"
        target = ("<=0.90x", lambda x: x <= 0.9)
    elif bench == "first":
        spec = {**base_spec, "chunks": args.first_chunks, "repeat": args.first_repeat}
        runs, unit, what = args.runs, "ms", "time to first event (the rest held back)"
        target = None
    else:
        _, streams_key, chunks_key = next(c for c in CONCURRENT if c[0] == shape)
        streams, chunks = getattr(args, streams_key), getattr(args, chunks_key)
        spec = {**base_spec, "chunks": chunks, "streams": streams}
        runs, unit = args.concurrent_runs, "chunks/s"
        what = f"{streams:,} concurrent streams x {chunks:,} chunks"
        target = ("<=1.00x", lambda x: x <= 1.0)
        key = f"concurrent{shape}"
    peers = [p for p in _peers(args) if bench in ("chat", "stream") and p[1] in {n for n, _ in providers}]
    subjects += [peer for peer, _ in peers]
    results = _trials(bench, subjects, runs, spec, log)
    rows = []
    for peer, name in peers:
        raw, theirs = results[f"raw-{name}"], results[peer]
        rows.append(Row(f"{key}/{peer}", f"{what}: official {name} SDK (peer)", unit,
                        [_throughput(r) for r in _ok(theirs)], errors=_errors(theirs),
                        ratios=_paired(raw, theirs, _time_ratio, invert=False), ratio_kind="time",
                        cpu_ratios=_paired(raw, theirs, _cpu, invert=False), server_busy=_busy(theirs)))  # fmt: skip
    for name, protocol in providers:
        raw, ours = results[f"raw-{name}"], results[f"clawdesk-{name}"]
        if bench == "first":
            # Milliseconds from the call to the first text event, and clawdesk's lag behind raw httpx.
            lag = [1000 * (o["seconds"] - b["seconds"]) for b, o in zip(raw, ours, strict=True)
                   if "error" not in b and "error" not in o]  # fmt: skip
            rows.append(Row(f"first/raw-{name}", f"{what}: raw httpx, {protocol}", unit,
                            [_ms(r) for r in _ok(raw)], errors=_errors(raw)))  # fmt: skip
            note = f"clawdesk - raw: {statistics.median(lag):+.2f} ms [{min(lag):+.2f}..{max(lag):+.2f}]" if lag else ""
            rows.append(Row(f"first/clawdesk-{name}", f"{what}: clawdesk-{name}", unit, [_ms(r) for r in _ok(ours)],
                            errors=_errors(ours), ratios=lag, ratio_kind="ms later", note=note,
                            target=("<=+1 ms", lambda x: x <= 1.0), ratio_format="{:+.2f}"))  # fmt: skip
            continue
        rows.append(
            Row(
                f"{key}/raw-{name}",
                f"{what}: raw httpx, {protocol}",
                unit,
                [_throughput(r) for r in _ok(raw)],
                errors=_errors(raw),
                server_busy=_busy(raw),
                note=_peak(raw),
            )
        )
        rows.append(Row(f"{key}/clawdesk-{name}", f"{what}: clawdesk-{name}", unit,
                        [_throughput(r) for r in _ok(ours)], errors=_errors(ours),
                        ratios=_paired(raw, ours, _time_ratio, invert=False), ratio_kind="time",
                        cpu_ratios=_paired(raw, ours, _cpu, invert=False),
                        target=target, server_busy=_busy(ours), note=_peak(ours)))  # fmt: skip
        if bench == "concurrent":
            rss: Callable[[dict[str, Any]], float] = lambda r: float(r["rss_mib"])  # noqa: E731
            rows.append(
                Row(
                    f"{key}/raw-{name}-rss",
                    f"{what}: raw httpx, {protocol}: peak RSS",
                    "MiB",
                    [rss(r) for r in _ok(raw)],
                    errors=[],
                )
            )
            rows.append(Row(f"{key}/clawdesk-{name}-rss", f"{what}: clawdesk-{name}: peak RSS", "MiB",
                            [rss(r) for r in _ok(ours)], errors=[], ratios=_paired(raw, ours, rss, invert=False),
                            ratio_kind="RSS", target=("<=1.10x", lambda x: x <= 1.1)))  # fmt: skip
    return rows


def bench_fallback(args: argparse.Namespace, server: Server, log: Callable[[str], None]) -> list[Row]:
    subjects = ["fallback-target", "fallback-direct", "fallback-one", "fallback-refused"]
    spec = {
        "port": server.port,
        "server_pid": server.pid,
        "warmup": args.warmup,
        "requests": args.fallback_requests,
        "refused_port": unused_port(),
    }
    results = _trials("chat", subjects, args.runs, spec, log)
    direct = results["fallback-target"]
    what = f"{args.fallback_requests:,} sequential chats"
    labels = {
        "fallback-target": f"{what}: chat_target, no engine (baseline)",
        "fallback-direct": f"{what}: model='mistral/bench-1' (pinned)",
        "fallback-one": f"{what}: model=None, chain [mistral]",
        "fallback-refused": f"{what}: model=None, chain [ollama refused, mistral]",
    }
    rows = []
    for subject in subjects:
        own = results[subject]
        ratios = None if subject == "fallback-target" else _paired(direct, own, _time_ratio, invert=False)
        cpu_ratios = None if subject == "fallback-target" else _paired(direct, own, _cpu, invert=False)
        note = ""
        if subject != "fallback-target" and _ok(direct) and _ok(own):
            extra = [1e6 * (o["seconds"] - d["seconds"]) / o["items"] for d, o in zip(direct, own, strict=True)
                     if "error" not in d and "error" not in o]  # fmt: skip
            note = f"+{statistics.median(extra):.0f} us per call"
        rows.append(Row(f"fallback/{subject.removeprefix('fallback-')}", labels[subject], "req/s",
                        [_throughput(r) for r in _ok(own)], errors=_errors(own), ratios=ratios,
                        ratio_kind="time", note=note, server_busy=_busy(own), cpu_ratios=cpu_ratios))  # fmt: skip
    return rows


# -- output ------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out = subprocess.run(
        [PY, "-c", "import httpx, httpcore, h11; print(httpx.__version__, httpcore.__version__, h11.__version__)"],
        capture_output=True,
        text=True,
        env=_env(),
    ).stdout.split()
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "httpx": out[0] if out else "?",
        "httpcore": out[1] if len(out) > 1 else "?",
        "h11": out[2] if len(out) > 2 else "?",
        "os": f"{platform.system()} {platform.release()}",
    }


HEADER = ("benchmark", "median [min-max]", "unit", "vs baseline", "target", "met", "by CPU time", "server CPU", "note")


def table(rows: Sequence[Row], *, markdown: bool) -> str:
    cells = [
        (
            r.label,
            r.value_text(),
            r.unit,
            (f"{r.ratio_text()} {r.ratio_kind}".strip() if r.ratios is not None else ""),
            r.target[0] if r.target else "",
            r.met(),
            r.cpu_ratio_text(),
            r.busy_text(),
            _short("; ".join([*r.errors, r.note] if r.note else r.errors)),
        )
        for r in rows
    ]
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(HEADER)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*HEADER), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*c).rstrip() for c in cells]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="clawdesk overhead vs raw httpx (see benchmarks/README.md)")
    p.add_argument("--quick", action="store_true", help="tiny counts, one run each: a smoke run of the harness")
    p.add_argument("--only", default="cold,chat,stream,first,concurrent,fallback", help="comma-separated benchmarks")
    p.add_argument("--providers", default=",".join(name for name, _ in PAIRS), help="comma-separated plugins")
    p.add_argument("--runs", type=int, help="runs of the chat and fallback benchmarks (default 7)")
    p.add_argument("--stream-runs", type=int, help="runs of the long stream (default 9)")
    p.add_argument("--repeat", type=int, help="timed streams per long-stream run, median kept (default 5)")
    p.add_argument("--concurrent-runs", type=int, help="runs of the concurrent streams (default 3)")
    p.add_argument("--cold-runs", type=int, help="fresh processes per cold-start command (default 30)")
    p.add_argument("--requests", type=int, help="sequential chats per run (default 1000)")
    p.add_argument("--fallback-requests", type=int, help="sequential chats per fallback run (default 1000)")
    p.add_argument("--chunks", type=int, help="chunks of the long stream (default 10000)")
    p.add_argument("--streams", type=int, help="concurrent streams (default 1000)")
    p.add_argument("--stream-chunks", type=int, help="chunks of each concurrent stream (default 100)")
    p.add_argument("--streams-200", type=int, help="concurrent streams of the second shape (default 200)")
    p.add_argument("--stream-chunks-200", type=int, help="chunks of each stream of the second shape (default 200)")
    p.add_argument("--first-chunks", type=int, help="chunks of each time-to-first-event stream (default 20)")
    p.add_argument("--first-repeat", type=int, help="time-to-first-event streams per run, median kept (default 21)")
    p.add_argument("--warmup", type=int, help="unmeasured chats before each chat run (default 20)")
    p.add_argument("--peers", action="store_true", help="also measure the official SDKs that are installed")
    p.add_argument("--no-pin", action="store_true", help="do not pin the server and the client to separate CPUs")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--json", metavar="PATH", help="also write every measurement as JSON")
    args = p.parse_args(argv)
    args.providers = {name.strip() for name in args.providers.split(",") if name.strip()}
    unknown = args.providers - {name for name, _ in PAIRS}
    if unknown:
        p.error(f"--providers: unknown {', '.join(sorted(unknown))} (known: {', '.join(n for n, _ in PAIRS)})")
    full = {
        "runs": 7,
        "stream_runs": 9,
        "concurrent_runs": 3,
        "cold_runs": 30,
        "requests": 1000,
        "repeat": 5,
        "fallback_requests": 1000,
        "chunks": 10_000,
        "streams": 1000,
        "stream_chunks": 100,
        "streams_200": 200,
        "stream_chunks_200": 200,
        "first_chunks": 20,
        "first_repeat": 21,
        "warmup": 20,
    }
    quick = {"runs": 1, "stream_runs": 1, "concurrent_runs": 1, "cold_runs": 2, "requests": 20, "repeat": 1,
             "fallback_requests": 20, "chunks": 200, "streams": 20, "stream_chunks": 10, "streams_200": 4,
             "stream_chunks_200": 20, "first_chunks": 5, "first_repeat": 2, "warmup": 2}  # fmt: skip
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    only = {b.strip() for b in args.only.split(",") if b.strip()}
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    pin = not args.no_pin and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    info = machine()
    load_before = os.getloadavg()
    rows: list[Row] = []
    with Server(cpus[-1] if pin else None) as server:
        if pin:
            # Every measured process inherits this: one core for it, one for the server.
            os.sched_setaffinity(0, {cpus[0]})
        if "cold" in only:
            rows += bench_cold(args, log)
        for bench in ("chat", "stream", "first"):
            if bench in only:
                rows += bench_pairs(args, server, log, bench)
        if "concurrent" in only:
            for shape, _, _ in CONCURRENT:
                rows += bench_pairs(args, server, log, "concurrent", shape)
        if "fallback" in only:
            rows += bench_fallback(args, server, log)
    if pin:
        os.sched_setaffinity(0, cpus)
    elapsed = time.perf_counter() - started
    load = f"load average {load_before[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    print(f"clawdesk benchmarks ({'quick' if args.quick else 'full'} run, {elapsed:.0f}s)")
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, httpx {info['httpx']} "
        f"(httpcore {info['httpcore']}, h11 {info['h11']}), {info['os']}; "
        + ("server pinned to its own CPU" if pin else "not pinned")
        + f"; {load}"
    )
    print(table(rows, markdown=args.markdown))
    if args.json:
        data = {
            "machine": info,
            "args": {**vars(args), "providers": sorted(args.providers)},
            "pinned": pin,
            "seconds": elapsed,
            "load": load,
            "rows": [r.as_dict() for r in rows],
        }
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    return 0 if all(not r.errors for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
