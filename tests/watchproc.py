"""A running `kubectl-gitops watch` for tests: its JSON events read as they come, stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import VENV_BIN

Event = dict[str, Any]


class WatchProcess:
    def __init__(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([str(VENV_BIN / "kubectl-gitops"), "watch", *args, "--log-format", "json"],
                                     cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.events: list[Event] = []
        self.other: list[str] = []  # stderr lines that are not events (there should be none)
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                try:
                    self.events.append(json.loads(line))
                except ValueError:
                    self.other.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, pred: Callable[[Event], bool], timeout: float = 30.0, start: int = 0) -> Event:
        """The first event from index `start` on that `pred` accepts; fails with the log when none comes."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events[start:]:
                    if pred(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"no such event in {timeout}s; log:\n" + self.log())
                self._cond.wait(left)

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def count(self, pred: Callable[[Event], bool]) -> int:
        with self._cond:
            return sum(1 for ev in self.events if pred(ev))

    def log(self) -> str:
        return "\n".join(json.dumps(e) for e in self.events) + "".join(self.other)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> tuple[int, float]:
        """Send `sig` to its PID; the exit code and how long it took to exit."""
        started = time.monotonic()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"watch did not exit within {timeout}s of signal {sig}") from None
        return rc, time.monotonic() - started

    def __enter__(self) -> WatchProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def synced(app: str) -> Callable[[Event], bool]:
    return lambda e: e.get("msg") == "synced" and e.get("app") == app
