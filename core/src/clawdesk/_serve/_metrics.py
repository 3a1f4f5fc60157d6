"""The gateway's counters, written in the Prometheus text format (0.0.4) by hand: a few lines, no dependency.

Each worker counts what it served. With ``--workers N`` the workers share a
directory (``$CLAWDESK_SERVE_METRICS_DIR``, made by ``clawdesk serve``): each
writes a snapshot of its counters there every second (and when it answers a
scrape), and ``/metrics`` answers with the sum of every snapshot, so a scrape
sees the whole gateway whichever worker takes it. Snapshots of workers that
are gone stay in the sum (counters only grow); their in-flight gauge is left
out once their snapshot is older than :data:`STALE_SECS`.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["BUCKETS", "METRICS_DIR_ENV", "STALE_SECS", "Metrics", "SharedMetrics"]

#: The directory the workers of one gateway share their counters through.
METRICS_DIR_ENV = "CLAWDESK_SERVE_METRICS_DIR"
#: A snapshot older than this belongs to a worker that is gone: its gauge no longer counts.
STALE_SECS = 5.0

#: Latency buckets in seconds: from a cached local answer to a long reasoning run.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in pairs)
    return "{" + inner + "}" if inner else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Metrics:
    """Counters of one worker; :meth:`render` writes them out."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str, str], int] = defaultdict(int)  # (route, provider, status)
        self.failures: defaultdict[str, int] = defaultdict(int)  # kind
        self.attempts: defaultdict[tuple[str, str], int] = defaultdict(int)  # (provider, outcome)
        self.tokens: defaultdict[tuple[str, str], int] = defaultdict(int)  # (provider, direction)
        self.latency: dict[str, list[int]] = {}  # provider -> bucket counts (+Inf last)
        self.latency_sum: defaultdict[str, float] = defaultdict(float)
        self.latency_count: defaultdict[str, int] = defaultdict(int)
        self.in_flight = 0
        self.disconnects = 0

    def request(self, route: str, provider: str, status: int, seconds: float | None = None) -> None:
        """One request answered (``provider``: who answered, or ``none``)."""
        self.requests[(route, provider, str(status))] += 1
        if seconds is not None:
            counts = self.latency.setdefault(provider, [0] * (len(BUCKETS) + 1))
            for index, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[index] += 1
            counts[-1] += 1
            self.latency_sum[provider] += seconds
            self.latency_count[provider] += 1

    def failure(self, kind: str) -> None:
        self.failures[kind] += 1

    def attempt(self, provider: str, outcome: str) -> None:
        self.attempts[(provider, outcome)] += 1

    def usage(self, provider: str, input_tokens: int | None, output_tokens: int | None) -> None:
        if input_tokens:
            self.tokens[(provider, "input")] += input_tokens
        if output_tokens:
            self.tokens[(provider, "output")] += output_tokens

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON-ready data (for :class:`SharedMetrics`)."""
        return {
            "requests": [[*key, count] for key, count in self.requests.items()],
            "failures": dict(self.failures),
            "attempts": [[*key, count] for key, count in self.attempts.items()],
            "tokens": [[*key, count] for key, count in self.tokens.items()],
            "latency": {p: [self.latency[p], self.latency_sum[p], self.latency_count[p]] for p in self.latency},
            "in_flight": self.in_flight,
            "disconnects": self.disconnects,
        }

    def add(self, data: dict[str, Any], *, gauges: bool = True) -> None:
        """Add a :meth:`snapshot` of another worker to these counters (its gauge only when ``gauges``)."""
        for route, provider, status, count in data.get("requests", ()):
            self.requests[(route, provider, status)] += count
        for kind, count in data.get("failures", {}).items():
            self.failures[kind] += count
        for provider, outcome, count in data.get("attempts", ()):
            self.attempts[(provider, outcome)] += count
        for provider, direction, count in data.get("tokens", ()):
            self.tokens[(provider, direction)] += count
        for provider, (counts, total, number) in data.get("latency", {}).items():
            mine = self.latency.setdefault(provider, [0] * (len(BUCKETS) + 1))
            for index, value in enumerate(counts[: len(mine)]):
                mine[index] += value
            self.latency_sum[provider] += total
            self.latency_count[provider] += number
        if gauges:
            self.in_flight += data.get("in_flight", 0)
        self.disconnects += data.get("disconnects", 0)

    def render(self) -> str:
        """Everything, in the Prometheus text exposition format."""
        out: list[str] = []

        def family(name: str, kind: str, text: str) -> None:
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")

        family("clawdesk_gateway_requests_total", "counter", "Requests answered, by route, provider and status.")
        for (route, provider, status), count in sorted(self.requests.items()):
            labels = _labels((("route", route), ("provider", provider), ("status", status)))
            out.append(f"clawdesk_gateway_requests_total{labels} {count}")
        family("clawdesk_gateway_failures_total", "counter", "Requests that failed, by kind of failure.")
        for kind, count in sorted(self.failures.items()):
            out.append(f"clawdesk_gateway_failures_total{_labels([('kind', kind)])} {count}")
        family("clawdesk_gateway_upstream_attempts_total", "counter", "Tries of providers, by provider and outcome.")
        for (provider, outcome), count in sorted(self.attempts.items()):
            labels = _labels((("provider", provider), ("outcome", outcome)))
            out.append(f"clawdesk_gateway_upstream_attempts_total{labels} {count}")
        family("clawdesk_gateway_tokens_total", "counter", "Tokens as providers reported them, by direction.")
        for (provider, direction), count in sorted(self.tokens.items()):
            labels = _labels((("provider", provider), ("direction", direction)))
            out.append(f"clawdesk_gateway_tokens_total{labels} {count}")
        name = "clawdesk_gateway_request_duration_seconds"
        family(name, "histogram", "Time from request to the answer's end, by provider.")
        for provider in sorted(self.latency):
            counts = self.latency[provider]
            for bound, count in zip((*map(_number, BUCKETS), "+Inf"), counts, strict=True):
                out.append(f"{name}_bucket{_labels((('provider', provider), ('le', bound)))} {count}")
            out.append(f"{name}_sum{_labels([('provider', provider)])} {self.latency_sum[provider]!r}")
            out.append(f"{name}_count{_labels([('provider', provider)])} {self.latency_count[provider]}")
        family("clawdesk_gateway_in_flight", "gauge", "Chat requests being answered now.")
        out.append(f"clawdesk_gateway_in_flight {self.in_flight}")
        family("clawdesk_gateway_client_disconnects_total", "counter", "Clients that left before their answer ended.")
        out.append(f"clawdesk_gateway_client_disconnects_total {self.disconnects}")
        return "\n".join(out) + "\n"


class SharedMetrics:
    """One worker's view of every worker's counters, through snapshot files in ``directory``."""

    def __init__(self, metrics: Metrics, directory: str | os.PathLike[str]) -> None:
        self.metrics = metrics
        self.directory = Path(directory)
        self.path = self.directory / f"{os.getpid()}.json"

    def write(self) -> None:
        """Write this worker's snapshot (atomically: a reader never sees half a file)."""
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(self.metrics.snapshot()), encoding="utf-8")
        os.replace(partial, self.path)

    def render(self) -> str:
        """The sum of every worker's latest snapshot, this one's fresh."""
        self.write()
        total = Metrics()
        now = time.time()
        for path in sorted(self.directory.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                fresh = now - path.stat().st_mtime <= STALE_SECS
            except (OSError, ValueError):
                continue  # a worker's file replaced or removed while reading: next scrape has it
            total.add(data, gauges=fresh)
        return total.render()
