"""The one way renderers run a tool: from PATH, with a timeout, its stderr in the error."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from kubectl_gitops.errors import GitopsError


def tool(name: str, where: str, install: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise GitopsError(f"{where}: rendering needs {name} on PATH", hint=install)
    return path


def identity(name: str) -> str:
    """A tool's version for cache keys without running it: the binary's path, size and mtime."""
    path = shutil.which(name) or ""
    st = os.stat(path) if path else None
    return f"{path}:{st.st_size}:{st.st_mtime_ns}" if st else "none"


def run(argv: list[str], *, where: str, what: str, timeout: float, cwd: Path | None = None,
        env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    """stdout of `argv`; exit 2 naming `what` when it fails or outlives `timeout` seconds."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, input=stdin,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        raise GitopsError(f"{where}: {what} did not finish within {timeout:g}s",
                          hint="raise --render-timeout if the render is just slow") from None
    except OSError as e:
        raise GitopsError(f"{where}: cannot run {argv[0]}: {e.strerror}") from None
    if proc.returncode != 0:
        raise GitopsError(f"{where}: {what} failed: {_clean(proc.stderr) or f'exit {proc.returncode}'}")
    return proc.stdout


def _clean(stderr: str) -> str:
    """kubectl wraps errors in a klog line; the message inside is what the user needs."""
    return re.sub(r'^E\d{4} [\d:.]+\s+\d+ \S+\] "command failed" err=', "", stderr.strip())
