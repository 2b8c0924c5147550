"""kubectl gitops watch against the real control plane: automated sync, self-heal, retry, prune,
sync windows, signals. Each test runs the real `kubectl-gitops watch` process and stops it by PID."""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path

from conftest import Cluster
from gitrepo import commit, make_repo, write_files
from watchproc import WatchProcess, synced


def uid() -> str:
    return uuid.uuid4().hex[:6]


def application(name: str, repo: Path, ns: str, policy: str = "automated: {}", project: str = "default") -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}}}\n"
            f"spec:\n  project: {project}\n  source: {{repoURL: 'file://{repo}', path: manifests, "
            f"targetRevision: main}}\n  destination: {{server: 'https://kubernetes.default.svc', namespace: {ns}}}\n"
            f"  syncPolicy: {{{policy}}}\n")


def configmap(ns: str, value: str, name: str = "settings") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}}}\ndata: {{v: '{value}'}}\n"


def app_repo(tmp_path: Path, ns: str, policy: str, files: dict[str, str] | None = None) -> tuple[Path, str]:
    app = f"w-{uid()}"
    repo = tmp_path / "repo"
    make_repo(repo, {"manifests/cm.yaml": configmap(ns, "one"), **(files or {})})
    write_files(repo, {f"apps/{app}.yaml": application(app, repo, ns, policy)})
    commit(repo, "app")
    return repo, app


def start(repo: Path, app: str, ns: str, *args: str) -> WatchProcess:
    return WatchProcess(f"apps/{app}.yaml", "--config-namespace", ns, "--lock-namespace", ns, "--interval", "1h",
                        *args, cwd=repo)


def value(cluster: Cluster, ns: str, name: str = "settings") -> str | None:
    found = cluster.kubectl("get", "configmap", "-n", ns, name, "-o", "json", check=False)
    return json.loads(found.stdout)["data"]["v"] if found.returncode == 0 else None


def test_self_heal_reverts_drift_and_records_an_automated_sync(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo, app = app_repo(tmp_path, namespace, "automated: {selfHeal: true}")
    with start(repo, app, namespace) as w:
        w.wait_for(synced(app))
        assert value(cluster, namespace) == "one"
        mark = w.mark()
        changed = time.monotonic()
        cluster.kubectl("patch", "configmap", "-n", namespace, "settings", "--type=merge", "-p", '{"data":{"v":"x"}}')
        ev = w.wait_for(lambda e: synced(app)(e), start=mark)
        healed_after = time.monotonic() - changed
        assert value(cluster, namespace) == "one"
        assert healed_after < 5, f"healed {healed_after:.1f}s after the change"
        sync_ev = w.wait_for(lambda e: e.get("msg") == "sync" and e.get("app") == app, start=mark)
        assert "self-heal" in sync_ev["reason"] and "ConfigMap/settings" in sync_ev["changed"]
        assert ev["phase"] == "Succeeded"

        # A change of the work tree is read by the next reconcile: here one a watched change triggers.
        mark = w.mark()
        write_files(repo, {"manifests/cm.yaml": configmap(namespace, "two")})
        rev = commit(repo, "two")
        cluster.kubectl("annotate", "configmap", "-n", namespace, "settings", "poke=1")
        ev = w.wait_for(synced(app), start=mark)
        assert ev["revision"] == rev and value(cluster, namespace) == "two"
        rc, took = w.stop(signal.SIGTERM)
    assert rc == 0 and took < 10
    record = json.loads(cluster.get("configmap", "-n", namespace, f"kubectl-gitops-app-{app}")["data"]["record.json"])
    assert record["operation"]["automated"] is True
    assert record["operation"]["initiated_by"].startswith("kubectl-gitops-watch@")


def test_drift_only_reported_without_self_heal(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo, app = app_repo(tmp_path, namespace, "automated: {}")
    with start(repo, app, namespace) as w:
        w.wait_for(synced(app))
        mark = w.mark()
        cluster.kubectl("patch", "configmap", "-n", namespace, "settings", "--type=merge", "-p", '{"data":{"v":"x"}}')
        w.wait_for(lambda e: e.get("app") == app and "selfHeal is off" in e.get("msg", ""), start=mark)
        assert value(cluster, namespace) == "x"
        assert w.count(synced(app)) == 1
        rc, _ = w.stop()
    assert rc == 0
