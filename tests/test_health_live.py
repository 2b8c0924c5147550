"""Health on the real control plane: built-in checks follow what the controllers write, and Lua checks
come from an argocd-cm style ConfigMap read back from the cluster."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from conftest import Cluster
from kubectl_gitops.health import (
    DEGRADED,
    HEALTHY,
    PROGRESSING,
    UNKNOWN,
    HealthChecker,
    HealthStatus,
)
from kubectl_gitops.settings import config_from_data

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: %(name)s, namespace: %(ns)s}
spec:
  replicas: 3
  minReadySeconds: %(min_ready)d
  progressDeadlineSeconds: %(deadline)d
  selector: {matchLabels: {app: %(name)s}}
  template:
    metadata: {labels: {app: %(name)s}}
    spec:
      nodeSelector: %(node_selector)s
      containers: [{name: web, image: registry.invalid/web:1.0.0}]
"""


def deployment(name: str, ns: str, *, min_ready: int = 0, deadline: int = 600,
               node_selector: str = "{}") -> str:
    return DEPLOYMENT % {"name": name, "ns": ns, "min_ready": min_ready, "deadline": deadline,
                         "node_selector": node_selector}


def watch(cluster: Cluster, checker: HealthChecker, what: tuple[str, ...],
          until: Callable[[HealthStatus | None], bool], timeout: float = 120) -> list[HealthStatus | None]:
    """Poll the live object's health; return the distinct healths seen, ending with the awaited one."""
    seen: list[HealthStatus | None] = []
    deadline = time.monotonic() + timeout
    while True:
        health = checker.check(cluster.get(*what))
        if not seen or seen[-1] != health:
            seen.append(health)
        if until(health):
            return seen
        if time.monotonic() > deadline:
            # What the controllers, the scheduler and kwok left: enough to tell which one stalled.
            state = cluster.kubectl("get", "nodes,pods,replicasets", "-A", "-o", "wide").stdout
            raise AssertionError(f"{' '.join(what)} never got there; seen: {seen}\n{state}")
        time.sleep(0.2)


def test_deployment_goes_progressing_then_healthy(cluster: Cluster, namespace: str) -> None:
    # minReadySeconds keeps the rollout visibly in progress for a moment after kwok makes the pods ready
    cluster.kubectl("apply", "-f", "-", stdin=deployment("web", namespace, min_ready=2))
    seen = watch(cluster, HealthChecker(), ("-n", namespace, "deployment/web"),
                 lambda h: h is not None and h.status == HEALTHY)
    assert seen[0] is not None and seen[0].status == PROGRESSING
    assert seen[-1] == HealthStatus(HEALTHY, "")
    assert all(h is not None and h.status in (PROGRESSING, HEALTHY) for h in seen)
    assert any(h is not None and "updated replicas are available" in h.message for h in seen), seen


def test_deployment_past_its_progress_deadline_is_degraded(cluster: Cluster, namespace: str) -> None:
    # No node has this label, so the pods never schedule and the rollout makes no progress. The deadline
    # starts far off, so the rollout is seen Progressing however late the first look comes on a loaded
    # machine (a one-second deadline could pass before it); cut to one second, it has passed at the
    # controller's next look.
    what = ("-n", namespace, "deployment/stuck")
    cluster.kubectl("apply", "-f", "-", stdin=deployment("stuck", namespace, node_selector="{no-such-node: 'true'}"))
    seen = watch(cluster, HealthChecker(), what,
                 lambda h: h is not None and h.message.endswith("0 of 3 updated replicas are available..."))
    assert all(h is not None and h.status == PROGRESSING for h in seen), seen
    cluster.kubectl("patch", *what, "--type=merge", "-p", '{"spec": {"progressDeadlineSeconds": 1}}')
    seen = watch(cluster, HealthChecker(), what, lambda h: h is not None and h.status != PROGRESSING)
    assert seen[-1] == HealthStatus(DEGRADED, 'Deployment "stuck" exceeded its progress deadline'), seen


# --- a custom resource whose health comes from Lua in a ConfigMap --------------------------------

CERTIFICATE_HEALTH = """\
local hs = {status = "Progressing", message = "Waiting for certificate"}
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" and c.status == "True" then
      hs.status, hs.message = "Healthy", c.message
    elseif c.type == "Ready" then
      hs.status, hs.message = "Degraded", c.message
    end
  end
end
return hs
"""


@pytest.fixture
def crd_group(cluster: Cluster, namespace: str) -> Iterator[str]:
    """A Certificate CRD in a group of its own (CRDs are cluster-wide; tests share the cluster)."""
    group = f"{namespace}.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"certificates.{group}"},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"kind": "Certificate", "plural": "certificates", "singular": "certificate",
                      "listKind": "CertificateList"},
            "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                              "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                              "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}],
        },
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(crd))
    yield group
    cluster.kubectl("delete", "crd", f"certificates.{group}", "--wait=false", check=False)


def test_crd_becomes_healthy_when_established(cluster: Cluster, crd_group: str) -> None:
    seen = watch(cluster, HealthChecker(), ("crd", f"certificates.{crd_group}"),
                 lambda h: h is not None and h.status == HEALTHY)
    assert seen[-1] == HealthStatus(HEALTHY, "CRD is healthy")


def apply_certificate(cluster: Cluster, namespace: str, group: str) -> None:
    cluster.wait_established(f"certificates.{group}")
    cert = {"apiVersion": f"{group}/v1", "kind": "Certificate",
            "metadata": {"name": "shop-tls", "namespace": namespace},
            "spec": {"secretName": "shop-tls", "dnsNames": ["shop.example.com"]}}
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(cert))


def set_ready(cluster: Cluster, namespace: str, group: str, status: str, message: str) -> None:
    patch = {"status": {"conditions": [{"type": "Ready", "status": status, "reason": "Test", "message": message,
                                        "lastTransitionTime": "2026-11-26T10:10:09Z"}]}}
    cluster.kubectl("patch", "-n", namespace, f"certificates.{group}/shop-tls", "--subresource=status",
                    "--type=merge", "-p", json.dumps(patch))


def checker_from_configmap(cluster: Cluster, namespace: str, data: dict[str, str]) -> HealthChecker:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm", "namespace": namespace},
          "data": data}
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(cm))
    return HealthChecker(config_from_data(cluster.get("-n", namespace, "configmap/argocd-cm")["data"]))


def test_custom_resource_health_from_a_lua_script_in_a_configmap(cluster: Cluster, namespace: str,
                                                                  crd_group: str) -> None:
    checker = checker_from_configmap(cluster, namespace, {
        f"resource.customizations.health.{crd_group}_Certificate": CERTIFICATE_HEALTH})
    apply_certificate(cluster, namespace, crd_group)
    what = ("-n", namespace, f"certificates.{crd_group}/shop-tls")
    assert checker.check(cluster.get(*what)) == HealthStatus(PROGRESSING, "Waiting for certificate")
    set_ready(cluster, namespace, crd_group, "True", "Certificate is up to date and has not expired")
    assert checker.check(cluster.get(*what)) == HealthStatus(HEALTHY, "Certificate is up to date and has not expired")
    set_ready(cluster, namespace, crd_group, "False", "Issuing certificate as Secret does not exist")
    assert checker.check(cluster.get(*what)) == HealthStatus(DEGRADED, "Issuing certificate as Secret does not exist")


def test_runaway_and_io_scripts_are_unknown_within_the_limit(cluster: Cluster, namespace: str,
                                                             crd_group: str) -> None:
    apply_certificate(cluster, namespace, crd_group)
    cert = cluster.get("-n", namespace, f"certificates.{crd_group}/shop-tls")

    runaway = checker_from_configmap(cluster, namespace, {
        f"resource.customizations.health.{crd_group}_Certificate": "while true do end"})
    start = time.monotonic()
    health = runaway.check(cert)
    elapsed = time.monotonic() - start
    assert health == HealthStatus(UNKNOWN, f"{crd_group}/Certificate/health.lua: Lua script exceeded the 1s time "
                                           "limit (runaway loop?)")
    assert elapsed < 2.0

    # the combined key with a wildcard, as many argocd-cm files have it
    combined = {"*.example.com/Certificate": {"health.lua": 'local f = io.open("/etc/passwd") return nil'}}
    reader = checker_from_configmap(cluster, namespace, {"resource.customizations": yaml.safe_dump(combined)})
    start = time.monotonic()
    health = reader.check(cert)
    assert time.monotonic() - start < 1.0
    assert health == HealthStatus(UNKNOWN, "*.example.com/Certificate/health.lua:1: attempt to index global 'io' "
                                           "(a nil value)")


def test_status_and_sync_use_a_resource_customizations_directory(cluster: Cluster, namespace: str,
                                                                  tmp_path: Path) -> None:
    from conftest import run_cli
    from gitrepo import write_files
    from test_status import CRD, gadget

    group = f"g{uuid.uuid4().hex[:6]}.example.com"
    cluster.kubectl("apply", "-f", "-", stdin=CRD % {"group": group})
    cluster.wait_established(f"gadgets.{group}")
    app = tmp_path / f"gadgets-{namespace}"
    checks = tmp_path / "resource_customizations"
    write_files(app, {"g.yaml": gadget(group, namespace)})
    write_files(checks, {
        # a wildcard directory for the group, as Argo CD's _.crossplane.io/_/ is
        f"_.{group.split('.', 1)[1]}/Gadget/health.lua": """
local charge = obj.status and obj.status.charge
if charge == nil then return {status = "Progressing", message = "no charge reported"} end
if charge < 20 then return {status = "Degraded", message = "battery at " .. charge .. "%"} end
return {status = "Healthy", message = "battery at " .. charge .. "%"}
"""})
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    # kubectl retries while the new CRD's storage initializes (429); then sync finds the gadget in place
    cluster.kubectl("apply", "-f", str(app / "g.yaml"))

    def status(*args: str, extra_env: dict[str, str] | None = None) -> tuple[int, dict]:
        res = run_cli("kubectl-gitops", "status", str(app), "-o", "json", "--config-namespace", namespace, *args,
                      env={**env, **(extra_env or {})})
        assert res.returncode in (0, 1), res.stderr
        return res.returncode, json.loads(res.stdout)

    # sync applies the gadget and waits for its health, which the directory's check reports as Progressing
    # until the status has a charge: the sync times out saying so
    sync = run_cli("kubectl-gitops", "sync", str(app), "--resource-customizations", str(checks), "--timeout", "3",
                   env=env)
    assert "no charge reported" in sync.stdout + sync.stderr, sync.stdout + sync.stderr
    cluster.kubectl("patch", f"gadgets.{group}/g1", "-n", namespace, "--subresource=status", "--type=merge",
                    "-p", '{"status":{"charge":12}}')
    code, doc = status("--resource-customizations", str(checks))
    res = doc["apps"][0]["resources"][0]
    assert (code, res["health"], res["healthMessage"]) == (1, "Degraded", "battery at 12%")
    # the environment variable chooses the directory as well
    code, doc = status(extra_env={"KUBECTL_GITOPS_RESOURCE_CUSTOMIZATIONS": str(checks)})
    assert doc["apps"][0]["resources"][0]["healthMessage"] == "battery at 12%"
    # without it, a custom resource has no health check at all
    code, doc = status()
    assert (code, doc["apps"][0]["resources"][0]["health"]) == (0, None)
    # argocd-cm comes before the directory
    cm = tmp_path / "argocd-cm.yaml"
    cm.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"}, "data": {
        f"resource.customizations.health.{group}_Gadget": 'return {status = "Healthy", message = "argocd-cm"}'}}))
    code, doc = status("--resource-customizations", str(checks), "--argocd-cm", str(cm))
    assert (code, doc["apps"][0]["resources"][0]["healthMessage"]) == (0, "argocd-cm")
