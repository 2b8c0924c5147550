"""The executables are found the way users reach them: kubectl plugin discovery and `git promote`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import VENV_BIN, Cluster


@pytest.mark.parametrize(("argv", "expect"), [
    (["gitops", "sync", "--help"], "Usage: kubectl gitops sync"),
    (["gitops", "status", "--help"], "Usage: kubectl gitops status"),
    (["gitops", "diff", "--help"], "Usage: kubectl gitops diff"),
    (["gitops", "--help"], "Commands:"),
])
def test_kubectl_finds_the_plugins(cluster: Cluster, argv: list[str], expect: str) -> None:
    res = subprocess.run([str(cluster.bin_dir / "kubectl"), *argv], capture_output=True, text=True,
                         env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"})
    assert res.returncode == 0, res.stderr
    assert expect in res.stdout


def test_kubectl_plugin_list_shows_them(cluster: Cluster) -> None:
    res = subprocess.run([str(cluster.bin_dir / "kubectl"), "plugin", "list", "--name-only"], capture_output=True,
                         text=True, env={**os.environ, "PATH": f"{VENV_BIN}:/usr/bin:/bin"})
    listed = set(res.stdout.split())
    assert {"kubectl-gitops", "kubectl-gitops-diff", "kubectl-gitops-sync", "kubectl-gitops-status"} <= listed


def test_git_finds_git_promote(tmp_path: Path) -> None:
    res = subprocess.run(["git", "promote", "-h"], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"})
    assert res.returncode == 0, res.stderr
    assert "Usage: git promote" in res.stdout


def test_unknown_command_is_a_usage_error() -> None:
    res = subprocess.run([str(VENV_BIN / "kubectl-gitops"), "frobnicate"], capture_output=True, text=True)
    assert res.returncode == 2 and "No such command 'frobnicate'" in res.stderr
