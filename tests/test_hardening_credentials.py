"""Credentials in a repoURL and the cache: fetched from a loopback smart-HTTP git server of our own that
requires basic auth (tests/git_http_server.py), with real pygit2. A password is never printed, never
stored, and never lent to another Application's fetch; the cache is the user's only."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import Cluster, run_cli
from diff_helpers import application, bare_remote, diff
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.repourl import RepoURL
from kubectl_gitops.source import clone_key, fetch_remote
from kubectl_gitops.trees import cache_dir

PASSWORD = "s3cret-Pa55"


@dataclass
class GitServer:
    port: int
    log: Path

    def url(self, repo: str, userinfo: str = "") -> str:
        return f"http://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}/{repo}"

    def requests(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitServer]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for var in ("GIT_USERNAME", "GIT_PASSWORD", "GIT_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "srv"
    root.mkdir()
    bare_remote(root / "team.git", {"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-http}\n"
                                                   "data: {k: v}\n"})
    log = tmp_path / "requests.log"
    log.touch()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "git_http_server.py"), str(root),
                             "alice", PASSWORD, str(log)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield GitServer(int(proc.stdout.readline()), log)
    finally:
        proc.terminate()
        proc.wait()


def _cache_files() -> list[Path]:
    return [p for p in cache_dir().rglob("*")]


def test_url_credentials_are_used_and_never_stored(server: GitServer) -> None:
    tree = fetch_remote(server.url("team.git", f"alice:{PASSWORD}"), "main")
    assert (tree.root / "app" / "cm.yaml").is_file()
    assert tree.label == f"{server.url('team.git')}@main"
    assert any(r["user"] == "alice" for r in server.requests())
    leaks = [p for p in _cache_files() if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert leaks == []


def test_a_clone_fetched_with_credentials_does_not_serve_a_url_without_them(server: GitServer) -> None:
    fetch_remote(server.url("team.git", f"alice:{PASSWORD}"), "main")
    seen = len(server.requests())
    with pytest.raises(GitopsError) as info:
        fetch_remote(server.url("team.git"), "main")
    assert str(info.value).startswith(f"cannot fetch {server.url('team.git')}: ")
    assert [r["authorization"] for r in server.requests()[seen:]] == [False]  # nothing lent, nothing sent
    assert len(list(cache_dir("repos").iterdir())) == 2


def test_wrong_password_fails_once_and_is_not_printed(server: GitServer) -> None:
    with pytest.raises(GitopsError) as info:
        fetch_remote(server.url("team.git", "alice:wrong-password"), "main")
    assert "wrong-password" not in str(info.value)
    assert str(info.value).startswith(f"cannot fetch {server.url('team.git')}: ")


def test_error_for_a_missing_repository_shows_the_url_without_credentials(server: GitServer) -> None:
    with pytest.raises(GitopsError) as info:
        fetch_remote(server.url("missing.git", f"alice:{PASSWORD}"), "main")
    assert PASSWORD not in str(info.value) and "alice" not in str(info.value)
    assert f"cannot fetch {server.url('missing.git')}: " in str(info.value)


@pytest.mark.parametrize(("a", "b"), [
    ("https://git.example.com/team/config.git", "http://git.example.com/team/config.git"),
    ("https://git.example.com/team/config.git", "https://bob:x@git.example.com/team/config.git"),
    ("https://alice:x@git.example.com/team/config.git", "https://alice:y@git.example.com/team/config.git"),
    ("https://git.example.com/team/config.git", "ssh://git@git.example.com/team/config.git"),
])
def test_cache_keys_keep_scheme_and_credentials_apart(a: str, b: str) -> None:
    assert clone_key(RepoURL.parse(a)) != clone_key(RepoURL.parse(b))


def test_cache_keys_join_spellings_of_one_repository() -> None:
    assert clone_key(RepoURL.parse("https://Git.Example.com/team/config.git/")) == \
        clone_key(RepoURL.parse("https://git.example.com/team/config"))


@pytest.mark.parametrize(("url", "shown"), [
    ("https://alice:pw@git.example.com/a.git", "https://git.example.com/a.git"),
    ("https://ghp_token@github.com/a/b", "https://github.com/a/b"),
    ("ssh://git:pw@host:2222/a.git", "ssh://git@host:2222/a.git"),
    ("git@github.com:a/b.git", "git@github.com:a/b.git"),
    ("file:///srv/repo.git", "file:///srv/repo.git"),
])
def test_urls_are_shown_without_secrets(url: str, shown: str) -> None:
    assert RepoURL.parse(url).shown == shown


def test_cache_is_private(server: GitServer, tmp_path: Path) -> None:
    (tmp_path / "cache" / "kubectl-gitops").mkdir(parents=True, mode=0o755)  # as an older version left it
    os.chmod(tmp_path / "cache" / "kubectl-gitops", 0o755)
    fetch_remote(server.url("team.git", f"alice:{PASSWORD}"), "main")
    wide = [f"{oct(p.stat().st_mode & 0o777)} {p}" for p in [cache_dir(), *_cache_files()]
            if not p.is_symlink() and p.stat().st_mode & 0o077]
    assert wide == []
    assert stat.S_IMODE(cache_dir().stat().st_mode) == 0o700


def test_diff_prints_no_credentials(cluster: Cluster, namespace: str, server: GitServer, tmp_path: Path) -> None:
    url = server.url("team.git", f"alice:{PASSWORD}")
    app = tmp_path / "apps" / "web.yaml"
    app.parent.mkdir()
    app.write_text(application("web", "app", namespace, repo_url=url, revision="main"))
    for output in ("diff", "json", "yaml", "markdown"):
        r = diff(str(app), "-o", output, cwd=tmp_path)
        assert r.returncode == 1, r.stderr
        assert PASSWORD not in r.stdout + r.stderr and "alice" not in r.stdout + r.stderr
    assert f"rendering app from {server.url('team.git')}@main" in r.stderr
    bad = tmp_path / "apps" / "bad.yaml"
    bad.write_text(application("bad", "app", namespace, repo_url=server.url("none.git", f"alice:{PASSWORD}")))
    r = diff(str(bad), cwd=tmp_path)
    assert r.returncode == 2 and PASSWORD not in r.stdout + r.stderr
    assert f"cannot fetch {server.url('none.git')}" in r.stderr


@pytest.fixture
def application_kind(cluster: Cluster, request: pytest.FixtureRequest) -> None:
    """The CRD is Established before its storage serves (429 "storage is (re)initializing" after an
    earlier test deleted it); kubectl retries that for us, so list once with it."""
    request.getfixturevalue("application_crd")
    cluster.kubectl("get", "applications.argoproj.io", "-A")


def test_child_application_diff_shows_its_repo_url_without_credentials(
        cluster: Cluster, namespace: str, tmp_path: Path, application_kind: None) -> None:
    root = tmp_path / "root"
    root.mkdir()
    url = f"https://alice:{PASSWORD}@git.example.com/team/child.git"
    child = application("child", "app", namespace, repo_url=url, app_namespace=namespace)
    (root / "child.yaml").write_text(child)
    (root / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    for output in ("diff", "json", "yaml", "markdown"):
        r = diff("--no-recursive", "-n", namespace, str(root), "-o", output)
        assert r.returncode == 1, r.stderr
        assert PASSWORD not in r.stdout + r.stderr and "alice" not in r.stdout + r.stderr
    assert "repoURL: https://git.example.com/team/child.git" in diff("--no-recursive", "-n", namespace,
                                                                     str(root)).stdout


def test_clones_of_earlier_builds_holding_passwords_are_removed(server: GitServer) -> None:
    legacy = cache_dir("repos", "0123456789abcdef01234567.git")
    legacy.mkdir(parents=True)
    (legacy / "config").write_text(f'[remote "origin"]\n\turl = {server.url("team.git", "alice:" + PASSWORD)}\n')
    fetch_remote(server.url("team.git", f"alice:{PASSWORD}"), "main")
    assert not legacy.exists()


def test_sync_records_and_lists_the_repo_url_without_credentials(cluster: Cluster, namespace: str,
                                                                 server: GitServer, tmp_path: Path) -> None:
    name = f"rec-{namespace}"
    app = tmp_path / "apps" / "rec.yaml"
    app.parent.mkdir()
    app.write_text(application(name, "app", namespace, repo_url=server.url("team.git", f"alice:{PASSWORD}"),
                               revision="main"))
    r = run_cli("kubectl-gitops-sync", str(app), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    records = cluster.kubectl("get", "configmaps", "-A", "-l", "kubectl-gitops.io/record=true", "-o", "json").stdout
    assert name in records and server.url("team.git") in records
    assert PASSWORD not in records and "alice" not in records
    for argv in (("list", "-o", "wide"), ("list", "-o", "json"), ("history", name)):
        shown = run_cli("kubectl-gitops", *argv, cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert PASSWORD not in shown.stdout + shown.stderr and "alice" not in shown.stdout + shown.stderr
