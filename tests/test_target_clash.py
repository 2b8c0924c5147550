"""A bare TARGET that names both a directory here and an Application in ./apps is refused: taking the
directory would send its manifests to the current cluster and namespace, ignoring the Application's
destination. `./web` and the Application's file each still name one of them."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from conftest import Cluster, run_cli
from diff_helpers import Repo, application, configmap


@pytest.fixture
def clash(cluster: Cluster, tmp_path: Path) -> tuple[Repo, str, str, str]:
    """apps/web.yaml (app `web`: ./site into namespace app-ns) beside a directory ./web of its own."""
    tag = uuid.uuid4().hex[:6]
    app_ns, dir_ns, records = f"clash-app-{tag}", f"clash-dir-{tag}", f"clash-records-{tag}"
    repo = Repo(tmp_path / "config")
    repo.write("apps/web.yaml", application("web", "site", app_ns,
                                            extra_spec="syncPolicy: {syncOptions: [CreateNamespace=true]}\n"))
    repo.write("site/cm.yaml", configmap(app_ns, "app-cm", {"from": "app"}))
    repo.write("web/cm.yaml", configmap(dir_ns, "dir-cm", {"from": "dir"}))
    repo.commit()
    cluster.kubectl("create", "namespace", dir_ns)
    return repo, app_ns, dir_ns, records


def gitops(cwd: Path, *argv: str):
    res = run_cli("kubectl-gitops", *argv, cwd=cwd)
    assert "Traceback" not in res.stderr, res.stderr
    return res


def test_a_name_of_both_a_directory_and_an_app_is_refused(cluster: Cluster, clash) -> None:
    repo, app_ns, dir_ns, records = clash
    cfg = ("--config-namespace", records)
    for argv in (("sync", "web", "--timeout", "90s", *cfg), ("diff", "web", *cfg), ("status", "web", *cfg),
                 ("diff", "web", "--revision", "HEAD", *cfg), ("rollback", "web", *cfg), ("history", "web", *cfg),
                 ("lint", "web")):
        res = gitops(repo.root, *argv)
        assert res.returncode == 2, (argv, res.stdout, res.stderr)
        assert res.stdout == ""
        assert "error: web: names both the directory ./web and the Application web in apps/web.yaml" in res.stderr
        assert "pass ./web for the directory, or apps/web.yaml for the Application" in res.stderr
    # Nothing written: neither app's objects, nor the app's namespace, nor an app record.
    for ns in (app_ns, records):
        assert cluster.kubectl("get", "namespace", ns, check=False).returncode != 0
    assert cluster.kubectl("get", "configmap", "-n", dir_ns, "dir-cm", check=False).returncode != 0


def test_a_path_still_names_the_directory_and_the_file_the_app(cluster: Cluster, clash) -> None:
    repo, app_ns, dir_ns, records = clash
    cfg = ("--config-namespace", records)
    res = gitops(repo.root, "sync", "./web", "--timeout", "90s", *cfg)
    assert res.returncode == 0, res.stderr
    assert cluster.get("configmap", "-n", dir_ns, "dir-cm")["data"] == {"from": "dir"}
    assert cluster.kubectl("get", "namespace", app_ns, check=False).returncode != 0  # not the app

    res = gitops(repo.root, "sync", "apps/web.yaml", "--timeout", "90s", *cfg)
    assert res.returncode == 0, res.stderr
    assert cluster.get("configmap", "-n", app_ns, "app-cm")["data"] == {"from": "app"}  # its destination
    assert cluster.kubectl("get", "configmap", "-n", app_ns, "dir-cm", check=False).returncode != 0
    res = gitops(repo.root, "history", "apps/web.yaml", *cfg)
    assert res.returncode == 0, res.stderr


def test_a_name_only_an_app_has_is_the_app(cluster: Cluster, clash) -> None:
    repo, app_ns, _, records = clash
    (repo.root / "web" / "cm.yaml").unlink()
    (repo.root / "web").rmdir()
    res = gitops(repo.root, "sync", "web", "--timeout", "90s", "--config-namespace", records)
    assert res.returncode == 0, res.stderr
    assert cluster.get("configmap", "-n", app_ns, "app-cm")["data"] == {"from": "app"}


def test_which_names_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No cluster: resolve_target alone. A path is never refused, nor `apps` itself (its Applications,
    the one named `apps` among them, each keep their destination)."""
    from kubectl_gitops.apps import resolve_target
    from kubectl_gitops.errors import GitopsError

    repo = Repo(tmp_path / "config")
    repo.write("apps/web.yaml", application("web", "site", "app-ns"))
    repo.write("apps/apps.yaml", application("apps", "apps", "app-ns"))
    repo.write("web/cm.yaml", configmap("dir-ns", "dir-cm", {"from": "dir"}))
    monkeypatch.chdir(repo.root)
    with pytest.raises(GitopsError, match=r"web: names both the directory \./web and the Application web"):
        resolve_target("web")
    for path in ("./web", "web/", str(repo.root / "web")):
        [app], _ = resolve_target(path)
        assert app.is_plain_dir and app.name == "web"
    [app], _ = resolve_target("apps/web.yaml")
    assert app.dest_namespace == "app-ns"
    assert {a.name for a in resolve_target("apps")[0]} == {"apps", "web"}
