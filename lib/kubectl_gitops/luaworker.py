"""The Lua worker process: every script the commands run goes through it (kubectl_gitops.lua.use).

A script can hang or kill the process it runs in where no Lua hook reaches: a backtracking string.find
is one long C call, and a crash while Lua closes a state (or, in Lua 5.1, an allocation failure outside
a protected call) ends the process. So scripts run in one long-lived worker (kubectl_gitops.lua.worker),
started on first use and reused for every later run; a run that outlives its time limit is stopped by
killing the worker, and either way that run ends as a LuaScriptError and the next one starts a new
worker. A run costs ~0.2 ms more this way than in-process (README, Health).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from kubectl_gitops.errors import GitopsError
from kubectl_gitops.lua import LuaScriptError, frame

KILL_GRACE = 0.2  # seconds past the limit before a run stuck in one C call is stopped by killing the worker
START_TIMEOUT = 60.0  # seconds for a new worker to import lupa, on a loaded machine

_BOOT = "import sys; sys.path[:0] = sys.argv[1:]; from kubectl_gitops.lua.worker import main; main()"


class Worker:
    """The one worker process; runs are serialized (each is short, and the worker holds one Lua state)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def run(self, source: str, obj: Any, *, name: str, open_libs: bool, time_limit: float) -> Any:
        try:
            request = orjson.dumps({"source": source, "name": name, "open_libs": open_libs,
                                    "time_limit": time_limit, "obj": obj}, option=orjson.OPT_NON_STR_KEYS)
        except orjson.JSONEncodeError as err:
            raise LuaScriptError(f"{name}: cannot pass the object to Lua: {err}") from None
        reply = self._call(request, time_limit + KILL_GRACE, name, time_limit)
        if "error" in reply:
            raise LuaScriptError(reply["error"])
        return reply["value"]

    def _call(self, request: bytes, budget: float, name: str, time_limit: float) -> dict[str, Any]:
        with self._lock:
            proc = self._proc or self._start()
            try:
                assert proc.stdin is not None
                proc.stdin.write(frame(request))
                proc.stdin.flush()
                header = self._read(proc, 4, time.monotonic() + budget)
                if header is None:
                    self._stop(proc)
                    raise LuaScriptError(f"{name}: Lua script exceeded the {time_limit:g}s time limit "
                                         "(stuck in a library call such as string.find)")
                body = self._read(proc, int.from_bytes(header, "big"), time.monotonic() + START_TIMEOUT)
            except (BrokenPipeError, EOFError):
                raise LuaScriptError(f"{name}: Lua script crashed the Lua engine: {self._death(proc)}") from None
            if body is None:
                self._stop(proc)
                raise LuaScriptError(f"{name}: the Lua engine did not answer")
            reply: dict[str, Any] = orjson.loads(body)
            return reply

    def _start(self) -> subprocess.Popen[bytes]:
        package_root = str(Path(__file__).resolve().parent.parent)
        try:
            proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _BOOT, package_root, *sys.path],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as err:
            raise GitopsError(f"cannot start the Lua worker ({sys.executable}): {err}") from None
        try:
            ready = self._read(proc, 1, time.monotonic() + START_TIMEOUT)
        except EOFError:
            raise GitopsError(f"the Lua worker failed to start: {self._death(proc)}") from None
        if ready is None:
            self._stop(proc)
            raise GitopsError(f"the Lua worker did not start within {START_TIMEOUT:g}s")
        self._proc = proc
        return proc

    @staticmethod
    def _read(proc: subprocess.Popen[bytes], size: int, deadline: float) -> bytes | None:
        """`size` bytes from the worker, None when the deadline passes first; EOFError if it died."""
        assert proc.stdout is not None
        fd, data = proc.stdout.fileno(), b""
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _death(self, proc: subprocess.Popen[bytes]) -> str:
        """Why the worker died: the last line it wrote (Lua's PANIC message), else its exit status."""
        self._proc = None
        code = proc.wait()
        assert proc.stderr is not None
        lines = proc.stderr.read().decode(errors="replace").strip().splitlines()
        _close(proc)
        if lines:
            return lines[-1]
        return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = None
        proc.kill()
        proc.wait()
        _close(proc)


def _close(proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


