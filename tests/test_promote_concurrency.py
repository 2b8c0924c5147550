"""Several `git promote` processes at once on one checkout: the ref moves by compare-and-swap, so one
wins and every other either finds nothing to do or stops with "HEAD moved, retry", writing nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import VENV_BIN
from test_promote import example_repo, git, git_env  # noqa: F401  (git_env: autouse fixture, isolated git)

ROUNDS = 8
RACERS = 4


def _race(repo: Path, *args: str) -> list[tuple[int, str]]:
    """Start RACERS processes before waiting for any, so they overlap."""
    procs = [subprocess.Popen([str(VENV_BIN / "git-promote"), *args], cwd=repo, env=os.environ,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(RACERS)]
    return [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]


def _empty_commits(repo: Path) -> list[str]:
    return [c for c in git(repo, "rev-list", "HEAD").split()
            if git(repo, "rev-parse", f"{c}^{{tree}}") == git(repo, "rev-parse", f"{c}~1^{{tree}}", check=False)]


@pytest.mark.parametrize("args", [("prod",), ("set-image", "registry.invalid/platform/api=9.9.9")])
def test_concurrent_runs_make_one_commit_and_the_others_write_nothing(tmp_path: Path,
                                                                      args: tuple[str, ...]) -> None:
    for round_ in range(ROUNDS):
        repo = example_repo(tmp_path / f"round{round_}")
        results = _race(repo, *args)
        codes = sorted(code for code, _ in results)
        assert codes.count(0) == 1, results  # exactly one promotion...
        assert git(repo, "rev-list", "--count", "HEAD").strip() == "2", results  # ...and one commit
        assert _empty_commits(repo) == []
        for code, err in results:
            assert "Traceback" not in err, err
            if code == 2:
                assert err.startswith("error: HEAD moved, retry"), err
                assert len(err.splitlines()) == 2  # the error and its hint, nothing else
            else:
                assert code in (0, 1), err
        # the winner's change is in the work tree and the index; nothing else is changed
        assert git(repo, "status", "--porcelain") == ""
        git(repo, "fsck", "--strict")


def test_a_commit_made_while_promoting_is_never_overwritten(tmp_path: Path) -> None:
    """Deterministic lost race: the promotion blocks writing its diff to a full stdout pipe, after it
    computed the change and before it commits; meanwhile someone commits to the same overlay."""
    repo = example_repo(tmp_path / "repo")
    path = "services/api/overlays/prod/kustomization.yaml"
    text = (repo / path).read_text()
    # a long comment next to the promoted line makes the diff larger than a pipe's buffer
    padded = text.replace("  - name: registry.invalid/platform/api-migrate\n",
                          "  # " + "x" * 200_000 + "\n  - name: registry.invalid/platform/api-migrate\n")
    (repo / path).write_text(padded)
    git(repo, "commit", "-q", "-am", "long comment")
    proc = subprocess.Popen([str(VENV_BIN / "git-promote"), "prod", "--service", "api"], cwd=repo,
                            env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10) == b"diff --git"  # it has read HEAD and is now blocked on stdout
    (repo / path).write_text(padded.replace("count: 3", "count: 4"))
    git(repo, "commit", "-q", "-am", "api prod: 4 replicas")
    ours = git(repo, "rev-parse", "HEAD")
    proc.stdout.read()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 2, err
    assert err.startswith("error: HEAD moved, retry"), err
    assert "Traceback" not in err
    assert git(repo, "rev-parse", "HEAD") == ours
    assert git(repo, "status", "--porcelain") == ""
    assert "count: 4" in (repo / path).read_text()


def test_concurrent_runs_on_one_new_branch_keep_the_first(tmp_path: Path) -> None:
    for round_ in range(3):
        repo = example_repo(tmp_path / f"round{round_}")
        results = _race(repo, "prod", "--branch", "promote/prod")
        assert [code for code, _ in results].count(0) == 1, results
        for code, err in results:
            assert "Traceback" not in err, err
            if code == 2:  # 1: started after the winner checked out its branch, so nothing to do
                assert err.startswith(("error: branch promote/prod already exists",
                                       "error: HEAD moved, retry")), err
        assert git(repo, "rev-parse", "promote/prod~1") == git(repo, "rev-parse", "main")
        assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "promote/prod"
        assert git(repo, "status", "--porcelain") == ""
