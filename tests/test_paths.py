"""Nothing outside an app's repository is read, shown or applied: source paths, manifest symlinks,
symlinked app directories and kustomization entries, through the work tree, --revision and a file://
remote; and a revision written to the cache holds no symlink that leaves it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import Cluster, run_cli
from diff_helpers import Repo, application, bare_remote, configmap, diff, error_of


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def outside(tmp_path: Path, namespace: str) -> Path:
    """A directory next to the repository holding a ConfigMap no app may read."""
    d = tmp_path / "outside"
    d.mkdir(exist_ok=True)
    (d / "secret-cm.yaml").write_text(configmap(namespace, "from-outside", {"stolen": "yes"}))
    return d


def nothing_applied(cluster: Cluster, namespace: str) -> None:
    names = [o["metadata"]["name"] for o in cluster.get("configmaps", "-n", namespace)["items"]]
    assert "from-outside" not in names


def refused(cluster: Cluster, namespace: str, cwd: Path, target: str, *args: str) -> str:
    """diff and sync both exit 2 with one error, and nothing reaches the cluster."""
    err = error_of(diff(target, *args, cwd=cwd))
    res = run_cli("kubectl-gitops", "sync", target, *args, cwd=cwd)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "from-outside" not in res.stdout
    nothing_applied(cluster, namespace)
    return err


@pytest.mark.parametrize("path", ["../../outside", "../../../..", "app/../../../outside"])
def test_a_source_path_outside_the_repository_is_refused(cluster: Cluster, namespace: str, tmp_path: Path,
                                                         path: str) -> None:
    outside(tmp_path, namespace)
    repo = Repo(tmp_path / "a" / "config")
    repo.write("apps/x.yaml", application("x", path, namespace))
    repo.commit()
    err = refused(cluster, namespace, repo.root, "apps/x.yaml")
    assert f"path {path!r} is outside the repository" in err


def test_a_manifest_symlink_outside_is_refused(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    out = outside(tmp_path, namespace)
    repo = Repo(tmp_path / "config")
    repo.write("app/ok.yaml", configmap(namespace, "ok", {"a": "1"}))
    os.symlink(out / "secret-cm.yaml", repo.root / "app" / "link.yaml")
    repo.write("apps/x.yaml", application("x", "app", namespace))
    repo.commit()
    err = refused(cluster, namespace, repo.root, "apps/x.yaml")
    assert "symlink" in err and "app/link.yaml' points outside the repository" in err


def test_a_symlink_inside_the_repository_is_followed(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "config")
    repo.write("shared/cm.yaml", configmap(namespace, "shared", {"a": "1"}))
    (repo.root / "app").mkdir()
    os.symlink("../shared/cm.yaml", repo.root / "app" / "cm.yaml")
    repo.write("apps/x.yaml", application("x", "app", namespace))
    repo.commit()
    for args in ((), ("--revision", "main")):
        res = diff("apps/x.yaml", *args, cwd=repo.root)
        assert res.returncode == 1, res.stderr
        assert f"ConfigMap {namespace}/shared" in res.stdout


def test_a_symlinked_app_directory_outside_is_refused(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    out = outside(tmp_path, namespace)
    repo = Repo(tmp_path / "config")
    os.symlink(out, repo.root / "app")
    repo.write("apps/x.yaml", application("x", "app", namespace))
    repo.commit()
    err = refused(cluster, namespace, repo.root, "apps/x.yaml")
    assert "path 'app' is outside the repository" in err


def test_symlinks_outside_through_revision(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    out = outside(tmp_path, namespace)
    repo = Repo(tmp_path / "config")
    repo.write("app/ok.yaml", configmap(namespace, "ok", {"a": "1"}))
    os.symlink(out / "secret-cm.yaml", repo.root / "app" / "link.yaml")
    os.symlink(out, repo.root / "linked-app")
    # Leaves only through another link: `up` is the root itself, so `up/..` is above it.
    os.symlink(".", repo.root / "up")
    os.symlink("up/../outside/secret-cm.yaml", repo.root / "app" / "sneaky.yaml")
    repo.write("apps/x.yaml", application("x", "app", namespace))
    repo.write("apps/y.yaml", application("y", "linked-app", namespace))
    repo.commit()
    err = refused(cluster, namespace, repo.root, "apps/x.yaml", "--revision", "main")
    assert "symlink" in err and "points outside the repository" in err
    err = refused(cluster, namespace, repo.root, "apps/y.yaml", "--revision", "main")
    assert "'linked-app'" in err and "outside the repository" in err
    for tree in (tmp_path / "cache" / "kubectl-gitops" / "trees").iterdir():
        if tree.is_dir():
            for link in (p for p in tree.rglob("*") if p.is_symlink()):
                real = Path(os.path.realpath(link))
                assert real == tree or tree in real.parents, f"{link} -> {os.readlink(link)}"


def test_a_symlink_outside_in_a_remote_repository(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    out = outside(tmp_path, namespace)
    remote = bare_remote(tmp_path / "remote.git", {"app/ok.yaml": configmap(namespace, "ok", {"a": "1"})})
    os.symlink(out / "secret-cm.yaml", remote.root / "app" / "link.yaml")
    remote.commit("link")
    remote.git("push", "-q", "origin", "HEAD:refs/heads/main")
    local = Repo(tmp_path / "config", origin=None)
    local.write("apps/x.yaml", application("x", "app", namespace, repo_url=f"file://{tmp_path / 'remote.git'}",
                                           revision="main"))
    local.commit()
    err = refused(cluster, namespace, local.root, "apps/x.yaml")
    assert "symlink 'app/link.yaml' points outside the repository" in err


def test_a_kustomization_resource_outside_is_refused(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    outside(tmp_path, namespace)
    (tmp_path / "outside" / "kustomization.yaml").write_text("resources: [secret-cm.yaml]\n")
    repo = Repo(tmp_path / "config")
    repo.write("app/kustomization.yaml", "resources: [../../outside]\n")
    repo.write("apps/x.yaml", application("x", "app", namespace))
    repo.commit()
    for args in ((), ("--revision", "main")):
        err = refused(cluster, namespace, repo.root, "apps/x.yaml", *args)
        assert "'../../outside' is outside the repository" in err
