"""diff and sync against the older kube-apiserver of the fixture matrix (v1.26, etcd and the API server
only), which serves no aggregated discovery v2: every kind is found through legacy discovery, or through
aggregated v2beta1 when its feature gate is on, including a custom resource whose CRD the sync creates."""

from __future__ import annotations

import json
import ssl
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import Cluster, run_cli
from diff_helpers import statuses
from gitrepo import write_files

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


def _served_discovery(c: Cluster) -> str:
    """What /apis answers to a client that asks for aggregated discovery first (as we do)."""
    cfg = json.loads(c.kubectl("config", "view", "--raw", "-o", "json").stdout)
    token = next(u["user"]["token"] for u in cfg["users"] if u["name"] == "admin")
    req = urllib.request.Request(f"{c.server}/apis", headers={
        "Authorization": f"Bearer {token}",
        "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"})
    ctx = ssl.create_default_context(cafile=str(c.kubeconfig.parent / "ca.crt"))
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        doc = json.loads(resp.read())
    return f"{doc['apiVersion']} {doc['kind']}" if doc.get("apiVersion") else doc["kind"]


SERVED = {"legacy-discovery": "v1 APIGroupList",
          "v2beta1-discovery": "apidiscovery.k8s.io/v2beta1 APIGroupDiscoveryList"}


def test_diff_and_sync_a_small_app(old_cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    assert _served_discovery(old_cluster) == SERVED[request.node.callspec.params["old_cluster"]]
    version = json.loads(old_cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    assert version.startswith("v1.26."), version
    ns = f"t-{uuid.uuid4().hex[:8]}"
    old_cluster.kubectl("create", "namespace", ns)
    app = tmp_path / "small"
    write_files(app, {
        "crd.yaml": CRD,
        "widget.yaml": f"apiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: w, namespace: {ns}}}\n"
                       "size: 3\n",
        "cm.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: {ns}}}\n"
                   "data: {a: '1'}\n",
        "sa.yaml": f"apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: runner, namespace: {ns}}}\n",
        "svc.yaml": f"apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: {ns}}}\n"
                    "spec: {ports: [{port: 80}], selector: {app: web}}\n",
        "role.yaml": f"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n"
                     f"metadata: {{name: reader, namespace: {ns}}}\n"
                     "rules: [{apiGroups: [''], resources: [configmaps], verbs: [get]}]\n",
    })
    kc = ["--kubeconfig", str(old_cluster.kubeconfig)]
    res = run_cli("kubectl-gitops-diff", str(app), *kc)
    assert res.returncode == 1, res.stderr
    assert set(statuses(res.stdout).values()) == {"Missing"} and len(statuses(res.stdout)) == 6
    res = run_cli("kubectl-gitops", "sync", str(app), "--timeout", "90", *kc)
    assert res.returncode == 0, res.stderr
    assert old_cluster.get("-n", ns, "widget/w")["size"] == 3
    assert old_cluster.get("-n", ns, "configmap/settings")["data"] == {"a": "1"}
    res = run_cli("kubectl-gitops-diff", str(app), *kc)
    assert res.returncode == 0, res.stdout + res.stderr
    assert set(statuses(res.stdout).values()) == {"Synced"}
