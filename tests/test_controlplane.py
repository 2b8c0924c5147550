"""The local control plane is real: controllers, scheduler, kwok and RBAC all work."""

from __future__ import annotations

import time

from conftest import Cluster

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %s}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: registry.invalid/web:1.0.0}]
"""


def test_deployment_becomes_available(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("apply", "-f", "-", stdin=DEPLOYMENT % namespace)
    out = cluster.kubectl("wait", "-n", namespace, "--for=condition=Available", "deployment/web",
                          "--timeout=90s")
    assert "condition met" in out.stdout
    dep = cluster.get("-n", namespace, "deployment/web")
    assert dep["status"]["availableReplicas"] == 2
    pods = cluster.get("-n", namespace, "pods")["items"]
    assert len(pods) == 2
    assert all(p["spec"]["nodeName"] == "kwok-node-0" and p["status"]["phase"] == "Running" for p in pods)


def test_limited_user_is_refused_a_write(cluster: Cluster, namespace: str) -> None:
    assert cluster.kubectl("get", "configmaps", "-n", namespace, context="limited").returncode == 0
    res = cluster.kubectl("create", "configmap", "x", "-n", namespace, context="limited", check=False)
    assert res.returncode != 0
    assert "forbidden" in res.stderr and "User \"limited\"" in res.stderr


def test_namespace_deletion_completes(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", "doomed")
    cluster.kubectl("create", "configmap", "c", "-n", "doomed", "--from-literal=a=b")
    cluster.kubectl("delete", "namespace", "doomed", "--wait=false")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if cluster.kubectl("get", "namespace", "doomed", check=False).returncode != 0:
            return
        time.sleep(0.5)
    raise AssertionError("namespace doomed was not deleted within 60s")
