"""kubectl gitops watch over two real control planes (KUBECONFIG merges contexts `local` and `second`):
an App of Apps whose children go to both clusters. Each cluster's objects are watched there, drift on
either is healed, and each app's Lease and record are on its own cluster."""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path

from conftest import Cluster, Clusters
from diff_helpers import Repo
from watchproc import WatchProcess, synced

POLICY = "  syncPolicy: {automated: {selfHeal: true}, syncOptions: [CreateNamespace=true]}\n"


def child(name: str, path: str, ns: str, dest: str) -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}}}\n"
            f"spec:\n  project: default\n  source: {{repoURL: https://git.example.com/team/config.git, "
            f"targetRevision: HEAD, path: {path}}}\n  destination: {{{dest}, namespace: {ns}}}\n{POLICY}")


def cm(name: str, ns: str, value: str = "1") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}}}\ndata: {{v: '{value}'}}\n"


def value(c: Cluster, ns: str, name: str) -> str | None:
    found = c.kubectl("get", "configmap", "-n", ns, name, "-o", "json", check=False)
    return json.loads(found.stdout)["data"]["v"] if found.returncode == 0 else None


def lease(holder: str, name: str) -> str:
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    return json.dumps({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "metadata": {"name": name, "namespace": "default"},
                       "spec": {"holderIdentity": holder, "leaseDurationSeconds": 600, "acquireTime": now,
                                "renewTime": now}})


def test_watch_heals_each_app_on_its_own_cluster(clusters: Clusters, tmp_path: Path) -> None:
    first, second = clusters.first, clusters.second
    tag = uuid.uuid4().hex[:6]
    ns, near, far = f"wc-{tag}", f"near-{tag}", f"far-{tag}"
    repo = Repo(tmp_path / "config")
    repo.write(f"apps/root-{tag}.yaml", child(f"root-{tag}", "children", ns, "server: https://kubernetes.default.svc"))
    repo.write("children/near.yaml", child(near, "near", ns, "name: in-cluster"))
    repo.write("children/far.yaml", child(far, "far", ns, "name: second"))
    repo.write("near/cm.yaml", cm("near-cm", ns))
    repo.write("far/cm.yaml", cm("far-cm", ns))
    repo.commit()
    # Another sync holds far's Lease on the second cluster (where far's Lease is): far waits, near does not.
    second.kubectl("apply", "-f", "-", stdin=lease("someone-else", f"kubectl-gitops-sync-{far}"))

    with WatchProcess(f"root-{tag}", "--interval", "1h", cwd=repo.root,
                      env={"KUBECONFIG": clusters.kubeconfig}) as w:
        w.wait_for(synced(near), timeout=60)
        deferred = w.wait_for(lambda e: e.get("msg") == "sync deferred" and e.get("app") == far)
        assert "someone-else" in deferred["reason"]
        assert value(second, ns, "far-cm") is None
        second.kubectl("delete", "lease", "-n", "default", f"kubectl-gitops-sync-{far}")
        w.wait_for(synced(far), timeout=30)
        assert value(first, ns, "near-cm") == "1" and value(second, ns, "far-cm") == "1"
        assert value(second, ns, "near-cm") is None and value(first, ns, "far-cm") is None

        # A change on the second cluster is seen by its own WATCH and healed there.
        for c, app, name in ((second, far, "far-cm"), (first, near, "near-cm")):
            mark, changed = w.mark(), time.monotonic()
            c.kubectl("patch", "configmap", "-n", ns, name, "--type=merge", "-p", '{"data":{"v":"x"}}')
            w.wait_for(synced(app), start=mark)
            assert time.monotonic() - changed < 5, w.log()
            assert value(c, ns, name) == "1"

        # A commit sends far to the first cluster: it is synced there (its objects on the second stay,
        # as in Argo CD, where a new destination prunes nothing on the old one).
        mark = w.mark()
        repo.write("children/far.yaml", child(far, "far", ns, "name: in-cluster"))
        repo.commit("far moves")
        first.kubectl("annotate", "configmap", "-n", ns, "near-cm", "poke=1")  # a reconcile, now
        w.wait_for(lambda e: synced(far)(e) and e.get("revision") == repo.git("rev-parse", "HEAD"), start=mark)
        assert value(first, ns, "far-cm") == "1"
        rc, took = w.stop(signal.SIGTERM)
    assert rc == 0 and took < 10
    assert w.count(lambda e: e.get("msg") == "reconcile failed") == 0, w.log()
    # Each app's record is on its own cluster, written by the watch.
    record = json.loads(second.get("configmap", "-n", "argocd", f"kubectl-gitops-app-{far}")["data"]["record.json"])
    assert record["operation"]["automated"] is True
    assert record["operation"]["initiated_by"].startswith("kubectl-gitops-watch@")
    # Its record is on each cluster it was synced to: the move's on the first.
    moved = json.loads(first.get("configmap", "-n", "argocd", f"kubectl-gitops-app-{far}")["data"]["record.json"])
    assert moved["operation"]["revision"] == repo.git("rev-parse", "HEAD")
