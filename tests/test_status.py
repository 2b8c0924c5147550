"""kubectl gitops status: sync + health per object and per app, Lua health from argocd-cm."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from conftest import Cluster, run_cli
from gitrepo import write_files

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.%(group)s}
spec:
  group: %(group)s
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""

# An Argo CD-style health script, exactly as it would sit in argocd-cm.
LUA = """hs = {}
if obj.status ~= nil and obj.status.conditions ~= nil then
  for i, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" and condition.status == "False" then
      hs.status = "Degraded"
      hs.message = condition.message
      return hs
    end
    if condition.type == "Ready" and condition.status == "True" then
      hs.status = "Healthy"
      hs.message = condition.message
      return hs
    end
  end
end
hs.status = "Progressing"
hs.message = "Waiting for the gadget"
return hs
"""


def argocd_cm(ns: str, group: str, script: str) -> str:
    body = "\n".join("    " + line for line in script.splitlines())
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: argocd-cm, namespace: {ns}}}\ndata:\n"
            f"  resource.customizations.health.{group}_Gadget: |\n{body}\n")


def gadget(group: str, ns: str) -> str:
    return f"apiVersion: {group}/v1\nkind: Gadget\nmetadata: {{name: g1, namespace: {ns}}}\nspec: {{size: 1}}\n"


def status_json(path: Path, *args: str) -> tuple[int, dict, str]:
    res = run_cli("kubectl-gitops", "status", str(path), "-o", "json", *args)
    return res.returncode, json.loads(res.stdout) if res.stdout else {}, res.stderr


def test_status_uses_lua_health_from_the_argocd_cm_configmap(cluster: Cluster, namespace: str,
                                                           tmp_path: Path) -> None:
    group = f"g{uuid.uuid4().hex[:6]}.example.com"
    cluster.kubectl("apply", "-f", "-", stdin=CRD % {"group": group})
    cluster.wait_established(f"gadgets.{group}")
    cluster.kubectl("apply", "-f", "-", stdin=argocd_cm(namespace, group, LUA))
    app = tmp_path / f"gadgets-{namespace}"
    write_files(app, {"g.yaml": gadget(group, namespace)})
    cluster.kubectl("apply", "-f", str(app / "g.yaml"))
    cluster.kubectl("patch", f"gadgets.{group}/g1", "-n", namespace, "--subresource=status", "--type=merge",
                    "-p", '{"status":{"conditions":[{"type":"Ready","status":"False","message":"battery flat"}]}}')
    code, doc, err = status_json(app, "--config-namespace", namespace)
    assert code == 1, err
    res = doc["apps"][0]["resources"][0]
    assert (res["status"], res["health"], res["healthMessage"]) == ("Synced", "Degraded", "battery flat")
    assert doc["apps"][0]["health"] == "Degraded"

    cluster.kubectl("patch", f"gadgets.{group}/g1", "-n", namespace, "--subresource=status", "--type=merge",
                    "-p", '{"status":{"conditions":[{"type":"Ready","status":"True","message":"charged"}]}}')
    table = run_cli("kubectl-gitops", "status", str(app), "--config-namespace", namespace)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[1].split() == [app.name, "local", "Gadget", namespace, "g1", "Synced", "Healthy",
                                                    "charged"]


def test_runaway_and_io_scripts_are_unknown_within_the_limit(cluster: Cluster, namespace: str,
                                                           tmp_path: Path) -> None:
    import time

    group = f"g{uuid.uuid4().hex[:6]}.example.com"
    cluster.kubectl("apply", "-f", "-", stdin=CRD % {"group": group})
    cluster.wait_established(f"gadgets.{group}")
    app = tmp_path / f"runaway-{namespace}"
    write_files(app, {"g.yaml": gadget(group, namespace)})
    cluster.kubectl("apply", "-f", str(app / "g.yaml"))
    for script, expect in (("while true do end", "time limit"), ('local f = io.open("/etc/passwd")', "io")):
        cm_file = tmp_path / "argocd-cm.yaml"
        cm_file.write_text(argocd_cm(namespace, group, script))
        start = time.monotonic()
        code, doc, err = status_json(app, "--argocd-cm", str(cm_file))
        assert time.monotonic() - start < 20
        res = doc["apps"][0]["resources"][0]
        assert code == 1 and res["health"] == "Unknown", err
        assert expect in res["healthMessage"]


def test_status_of_a_synced_deployment_is_healthy(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / f"web-{namespace}"
    write_files(app, {"d.yaml": f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {namespace}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: web, image: registry.invalid/web:1}}]}}
"""})
    code, doc, _ = status_json(app)
    assert code == 1 and doc["apps"][0]["resources"][0]["status"] == "Missing"
    assert doc["apps"][0]["health"] == "Missing"
    assert run_cli("kubectl-gitops", "sync", str(app), "--wait").returncode == 0
    code, doc, err = status_json(app)
    # Healthy when the sync ended, so anything else here changed since: say what (the health and the
    # node and pods as the controllers left them).
    seen = [(r["health"], r.get("healthMessage")) for r in doc.get("apps", [{}])[0].get("resources", [])]
    state = "" if code == 0 else "".join(cluster.kubectl("get", *what, "-o", "wide", check=False).stdout
                                         for what in (("nodes",), ("pods,replicasets", "-n", namespace)))
    assert code == 0, f"{err}{seen}\n{state}"
    assert doc["apps"][0]["resources"][0]["health"] == "Healthy" and doc["apps"][0]["health"] == "Healthy"
