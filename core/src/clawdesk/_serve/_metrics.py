"""The gateway's counters, written in the Prometheus text format (0.0.4) by hand: a few lines, no dependency.

Per worker process: with ``--workers N`` each worker counts what it served
(see ``docs/gateway.md``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

__all__ = ["BUCKETS", "Metrics"]

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
