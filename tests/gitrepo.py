"""Small git repositories for tests, made with the git CLI (the product itself uses pygit2)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}


def git(repo: Path, *args: str) -> str:
    import os

    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)


def make_repo(root: Path, files: dict[str, str], origin: str | None = None) -> Path:
    """A repo at `root` holding `files`, committed on branch main, with an optional origin URL."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    write_files(root, files)
    commit(root, "initial")
    if origin:
        git(root, "remote", "add", "origin", origin)
    return root


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


@contextlib.contextmanager
def git_daemon(base: Path, *options: str) -> Iterator[int]:
    """`git daemon` serving the repositories below `base` on 127.0.0.1; yields its port, stops it by PID."""
    exec_path = Path(subprocess.run(["git", "--exec-path"], check=True, capture_output=True, text=True).stdout.strip())
    assert (exec_path / "git-daemon").exists(), "git daemon is missing (Debian: part of the git package)"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
                               f"--base-path={base}", "--export-all", *options, str(base)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or daemon.poll() is not None:
                    raise AssertionError("git daemon did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
