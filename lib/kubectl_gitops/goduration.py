"""Go's time.ParseDuration, exact in nanoseconds: sync windows, notification expressions and the
CLI's --timeout all read this syntax. Pure."""

from __future__ import annotations

import re
from decimal import Decimal

NANOS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
         "m": 60_000_000_000, "h": 3_600_000_000_000}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> int:
    """Nanoseconds in a Go duration: `1h30m`, `90s`, `1.5h`, `-5m`, `0`; no days, no spaces."""
    sign, body = (-1, text[1:]) if text[:1] == "-" else (1, text[1:] if text[:1] == "+" else text)
    if body == "0":
        return 0
    parts = _PART.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * int(sum(Decimal(n) * NANOS[u] for n, u in parts))
