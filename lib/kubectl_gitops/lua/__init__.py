"""Run Argo CD style Lua scripts (health checks) in a sandbox like Argo CD's (sandbox.py).

Where a run happens is the caller's choice, made once with `use`: the commands run every script in a
worker process (kubectl_gitops.luaworker, which can kill a run stuck in one C call or survive a crash);
without a runner set, scripts run in this process, as unit tests do.
"""

from __future__ import annotations

from typing import Any, Protocol

from kubectl_gitops.errors import GitopsError

TIME_LIMIT = 1.0  # seconds per run, as in Argo CD
MAX_MEMORY = 64 << 20  # bytes of Lua heap; a script building huge strings or tables fails instead
MAX_DEPTH = 200  # nesting of a script's result (Argo CD's checks return two strings)


def frame(payload: bytes) -> bytes:
    """The worker protocol's framing: a 4-byte big-endian length, then the orjson document."""
    return len(payload).to_bytes(4, "big") + payload


class LuaScriptError(GitopsError):
    """A Lua script failed: syntax error, runtime error, time or memory limit, or an unusable result."""


class Runner(Protocol):
    def run(self, source: str, obj: Any, *, name: str, open_libs: bool, time_limit: float) -> Any:
        """The script's last return value as JSON-like data; LuaScriptError when the run fails."""
        ...


_runner: Runner | None = None


def use(runner: Runner | None) -> None:
    """Run every later script with `runner` (None: in this process)."""
    global _runner
    _runner = runner


def run_script(source: str, obj: Any, *, name: str, open_libs: bool = False,
               time_limit: float = TIME_LIMIT) -> Any:
    """Run `source` with global `obj`; return its last return value as JSON-like Python data.

    Empty Lua tables come back as [], like Argo CD's JSON encoding; nil as None.
    """
    if _runner is None:
        from kubectl_gitops.lua import sandbox

        return sandbox.run(source, obj, name=name, open_libs=open_libs, time_limit=time_limit)
    return _runner.run(source, obj, name=name, open_libs=open_libs, time_limit=time_limit)
