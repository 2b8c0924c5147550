"""The loop's log: one event per line on stderr, as text or JSON (--log-format), with the fields
that say what happened (app, revision, what changed)."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson


class EventLog:
    def __init__(self, fmt: str, stream: TextIO | None = None) -> None:
        self.fmt, self.stream = fmt, stream or sys.stderr
        self._lock = threading.Lock()  # webhook and watch threads log too: whole lines only

    def __call__(self, msg: str, **fields: Any) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        clean = {k: v for k, v in fields.items() if v not in (None, "")}
        if self.fmt == "json":
            line = orjson.dumps({"time": now, "msg": msg, **clean}, default=str).decode()
        else:
            line = " ".join([now, msg, *(f"{k}={_text(v)}" for k, v in clean.items())])
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def _text(v: Any) -> str:
    s = str(v)
    return orjson.dumps(s).decode() if (" " in s or "\n" in s or not s) else s
