"""App of Apps: child Applications are diffed with --recursive, cycles are errors, and with the
Application CRD installed a change to a child's own spec is a diff of that Application object."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Cluster
from diff_helpers import Repo, application, apply, configmap, diff, error_of, statuses


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _app_of_apps(root: Path, ns: str, app_ns: str = "") -> Repo:
    """root → apps/children: child-a (services/a) and child-b (services/b)."""
    repo = Repo(root)
    repo.write("apps/root.yaml", application("root", "apps/children", ns, app_namespace=app_ns))
    repo.write("apps/children/a.yaml", application("child-a", "services/a", ns, app_namespace=app_ns))
    repo.write("apps/children/b.yaml", application("child-b", "services/b", ns, app_namespace=app_ns))
    repo.write("services/a/cm.yaml", configmap("", "a-settings", {"size": "small"}))
    repo.write("services/b/cm.yaml", configmap("", "b-settings", {"size": "large"}))
    repo.commit("app of apps")
    return repo


def test_children_are_diffed_with_recursive_only(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo = _app_of_apps(tmp_path / "config", namespace)
    apply(cluster, configmap(namespace, "a-settings", {"size": "small"}))

    res = diff("apps/root.yaml", cwd=repo.root)
    assert res.returncode == 1, res.stderr
    assert statuses(res.stdout) == {("child-a", "ConfigMap", namespace, "a-settings"): "Synced",
                                    ("child-b", "ConfigMap", namespace, "b-settings"): "Missing"}
    assert "Applications define child apps only" in res.stderr
    assert diff("apps/root.yaml", "--recursive", cwd=repo.root).stdout == res.stdout

    res = diff("apps/root.yaml", "--no-recursive", cwd=repo.root)
    assert res.returncode == 0, res.stderr
    assert statuses(res.stdout) == {}
    assert "child-" not in res.stdout and "child-a:" not in res.stderr

    # A child named directly is diffed on its own.
    res = diff("apps/children/b.yaml", cwd=repo.root)
    assert statuses(res.stdout) == {("child-b", "ConfigMap", namespace, "b-settings"): "Missing"}


def test_a_root_that_manages_itself_is_not_a_cycle(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo = _app_of_apps(tmp_path / "config", namespace)
    repo.write("apps/children/root.yaml", (repo.root / "apps/root.yaml").read_text())
    res = diff("apps/root.yaml", cwd=repo.root)
    assert res.returncode == 1, res.stderr
    assert len(statuses(res.stdout)) == 2


def test_cycle_is_reported(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo = _app_of_apps(tmp_path / "config", namespace)
    repo.write("services/a/loop.yaml", application("child-b", "services/b", namespace))
    repo.write("services/b/loop.yaml", application("child-a", "services/a", namespace))
    res = diff("apps/root.yaml", cwd=repo.root)
    msg = error_of(res)
    assert "app of apps cycle: root → child-a → child-b → child-a" in msg
    # Without following children there is no cycle to find.
    assert diff("apps/root.yaml", "--no-recursive", cwd=repo.root).returncode == 0


def test_child_application_spec_change_is_a_diff(cluster: Cluster, namespace: str, tmp_path: Path,
                                                 application_crd: None) -> None:
    repo = _app_of_apps(tmp_path / "config", namespace, app_ns=namespace)
    for rel in ("apps/children/a.yaml", "apps/children/b.yaml"):
        apply(cluster, (repo.root / rel).read_text())
    apply(cluster, configmap(namespace, "a-settings", {"size": "small"}))
    apply(cluster, configmap(namespace, "b-settings", {"size": "large"}))

    res = diff("apps/root.yaml", cwd=repo.root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert statuses(res.stdout) == {("root", "Application", namespace, "child-a"): "Synced",
                                    ("root", "Application", namespace, "child-b"): "Synced",
                                    ("child-a", "ConfigMap", namespace, "a-settings"): "Synced",
                                    ("child-b", "ConfigMap", namespace, "b-settings"): "Synced"}
    assert "CRDs are not installed" not in res.stderr

    repo.write("apps/children/a.yaml", application("child-a", "services/a", namespace, app_namespace=namespace,
                                                   extra_spec="syncPolicy:\n  automated: {prune: true}\n"))
    res = diff("apps/root.yaml", cwd=repo.root)
    assert res.returncode == 1, res.stderr
    got = statuses(res.stdout)
    assert got[("root", "Application", namespace, "child-a")] == "OutOfSync"
    assert got[("root", "Application", namespace, "child-b")] == "Synced"
    assert got[("child-a", "ConfigMap", namespace, "a-settings")] == "Synced"
    assert f"===== root: argoproj.io/Application {namespace}/child-a (OutOfSync) =====" in res.stdout
    assert "+  syncPolicy:\n+    automated:\n+      prune: true\n" in res.stdout

    # A new child is both a Missing Application and a new app to diff.
    repo.write("apps/children/c.yaml", application("child-c", "services/a", namespace, app_namespace=namespace))
    got = statuses(diff("apps/root.yaml", cwd=repo.root).stdout)
    assert got[("root", "Application", namespace, "child-c")] == "Missing"
    assert got[("child-c", "ConfigMap", namespace, "a-settings")] == "Synced"
