"""deploy/: the Kustomize base renders, and its ServiceAccount's RBAC is enough for the loop: watch run
the in-cluster way (a real ServiceAccount token in a mounted directory, no kubeconfig) syncs an app."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import yaml

from conftest import ROOT, Cluster
from test_watch import app_repo, value
from watchproc import WatchProcess, synced

NS = "kubectl-gitops"


def test_the_deploy_base_runs_watch_in_cluster_with_its_rbac(cluster: Cluster, namespace: str,
                                                              tmp_path: Path) -> None:
    rendered = cluster.kubectl("kustomize", str(ROOT / "deploy")).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
    assert "Deployment/kubectl-gitops" in kinds and "ClusterRole/kubectl-gitops-watch" in kinds
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "watch" and deployment["spec"]["template"]["spec"]["serviceAccountName"] == NS
    # Everything but the Deployment (no image is built here): the loop runs as this process instead.
    rbac = [d for d in docs if d["kind"] not in ("Deployment", "Service")]
    cluster.kubectl("apply", "-f", "-", stdin="\n---\n".join(yaml.safe_dump(d) for d in rbac))
    try:
        token = cluster.kubectl("create", "token", NS, "-n", NS).stdout.strip()
        mount = tmp_path / "serviceaccount"
        mount.mkdir()
        (mount / "token").write_text(token)
        (mount / "ca.crt").write_bytes((cluster.kubeconfig.parent / "ca.crt").read_bytes())
        (mount / "namespace").write_text(NS)
        repo, app = app_repo(tmp_path, namespace, "automated: {selfHeal: true}")
        env = {"KUBECONFIG": str(tmp_path / "absent"), "KUBERNETES_SERVICE_HOST": "127.0.0.1",
               "KUBERNETES_SERVICE_PORT": cluster.server.rsplit(":", 1)[1],
               "KUBECTL_GITOPS_SERVICEACCOUNT_DIR": str(mount)}
        # Shared out as deploy/ runs it: its Leases (membership, ownership, sync) need only the base's RBAC.
        with WatchProcess(f"apps/{app}.yaml", "--config-namespace", NS, "--lock-namespace", NS,
                          "--interval", "1h", "--share-apps", cwd=repo, env=env) as w:
            w.wait_for(synced(app))
            assert value(cluster, namespace) == "one"
            mark = w.mark()
            cluster.kubectl("patch", "configmap", "-n", namespace, "settings", "--type=merge",
                            "-p", '{"data":{"v":"x"}}')
            w.wait_for(synced(app), start=mark)
            assert value(cluster, namespace) == "one"
            assert not [e for e in w.events if "forbidden" in json.dumps(e)], w.log()
            assert w.stop(signal.SIGTERM)[0] == 0
        record = cluster.get("configmap", "-n", NS, f"kubectl-gitops-app-{app}")
        assert json.loads(record["data"]["record.json"])["operation"]["automated"] is True
    finally:
        for d in rbac:
            if d["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                subprocess.run([str(cluster.bin_dir / "kubectl"), "--kubeconfig", str(cluster.kubeconfig), "delete",
                                d["kind"].lower(), d["metadata"]["name"]], capture_output=True, check=False)
