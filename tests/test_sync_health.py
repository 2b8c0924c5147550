"""When sync waits for health (as gitops-engine: only a sync of more than one step, and hooks) and
when --wait makes it wait anyway; --timeout takes kubectl durations."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Cluster, run_cli
from faultproxy import Rule
from gitrepo import git, make_repo, write_files
from proxy_helpers import Proxied
from test_sync import cm, deployment


def ingress(name: str, ns: str) -> str:
    """No ingress controller runs here: its status never gets a load balancer, so it stays Progressing."""
    return f"""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: {name}, namespace: {ns}}}
spec:
  defaultBackend: {{service: {{name: {name}, port: {{number: 80}}}}}}
"""


def sync(path: Path, *args: str) -> tuple[int, dict, str]:
    res = run_cli("kubectl-gitops", "sync", str(path), "-o", "json", *args)
    return res.returncode, json.loads(res.stdout) if res.stdout else {}, res.stderr


def rows(doc: dict) -> dict[str, tuple[str, str]]:
    return {f"{r['kind']}/{r['name']}": (r["result"], r["health"]) for r in doc["results"]}


def test_a_single_step_sync_ends_when_applied_and_reports_health_as_it_is(cluster: Cluster, namespace: str,
                                                                          tmp_path: Path) -> None:
    app = tmp_path / f"one-step-{namespace}"
    write_files(app, {"ing.yaml": ingress("web", namespace), "cm.yaml": cm("settings", namespace)})
    code, doc, err = sync(app, "--timeout", "2m")
    assert code == 0, err
    assert rows(doc) == {"Ingress/web": ("created", "Progressing"), "ConfigMap/settings": ("created", "")}
    assert [(a["name"], a["phase"], a["health"]) for a in doc["apps"]] == [(app.name, "Succeeded", "Progressing")]
    assert "waiting for" not in err and f"app {app.name}: synced, Progressing (not awaited" in err
    status = run_cli("kubectl-gitops", "status", str(app), "-o", "json")
    assert json.loads(status.stdout)["apps"][0]["health"] == "Progressing"


def test_wait_fails_when_an_object_never_becomes_healthy(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / f"wait-{namespace}"
    write_files(app, {"ing.yaml": ingress("web", namespace)})
    code, doc, err = sync(app, "--wait", "--timeout", "3s")
    assert code == 1, err
    assert f"timed out after 3s waiting for 1 object(s) to become healthy, e.g. Ingress.networking.k8s.io " \
           f"{namespace}/web (Progressing" in err
    assert [(a["phase"], a["message"].startswith("timed out after 3s")) for a in doc["apps"]] == [("Failed", True)]
    assert cluster.get("-n", namespace, "ingress/web")["metadata"]["name"] == "web"  # it was applied


def test_a_poll_the_deadline_cuts_short_fails_as_the_health_wait(proxied: Proxied, namespace: str,
                                                                 tmp_path: Path) -> None:
    """A slow API server: once the Ingress is applied, every LIST of ingresses takes longer than the
    time left, so the wait's own poll times out; the message is still the wait's, naming the object."""
    app = tmp_path / f"slow-{namespace}"
    write_files(app, {"ing.yaml": ingress("web", namespace)})
    p = proxied.proxy
    slow = Rule("delay", "GET", r"/ingresses(\?|$)", seconds=8.0, times=0)
    p.add(Rule("delay", "PATCH", r"/ingresses/web\?(?!.*dryRun)", hook=lambda: p.add(slow)))
    res = proxied.cli("kubectl-gitops", "sync", str(app), "-o", "json", "--wait", "--timeout", "3s")
    assert res.returncode == 1, res.stderr
    assert slow.fired >= 1  # the wait polled, and its poll was the slow one
    expected = f"timed out after 3s waiting for 1 object(s) to become healthy, e.g. Ingress.networking.k8s.io " \
               f"{namespace}/web"
    assert [(a["phase"], a["message"]) for a in json.loads(res.stdout)["apps"]] == [("Failed", expected)]
    assert "(--timeout) waiting for list" not in res.stderr


def test_wait_waits_until_healthy(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / f"healthy-{namespace}"
    write_files(app, {"d.yaml": deployment("web", namespace)})
    code, doc, err = sync(app, "--wait", "--timeout", "2m")
    assert code == 0, err
    assert rows(doc) == {"Deployment/web": ("created", "Healthy")}
    assert cluster.get("-n", namespace, "deployment/web")["status"].get("availableReplicas") == 1


def test_the_result_names_the_commit_it_synced(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / f"repo-{namespace}", {"app/cm.yaml": cm("c", namespace)})
    head = git(repo, "rev-parse", "HEAD").strip()
    code, doc, err = sync(repo / "app", "--revision", "main")
    assert code == 0, err
    assert [(a["phase"], a["revision"], a["source"]) for a in doc["apps"]] == [("Succeeded", head, "rev main")]
    started, finished = doc["apps"][0]["startedAt"], doc["apps"][0]["finishedAt"]
    assert started.endswith("Z") and started <= finished
    code, doc, err = sync(repo / "app")  # the work tree: the commit checked out (what an app record keeps)
    assert code == 0, err
    assert [(a["revision"], a["source"]) for a in doc["apps"]] == [(head, "work tree")]

