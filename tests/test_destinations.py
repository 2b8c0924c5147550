"""Applications reach their own cluster and never another: two real control planes at once behind one
merged kubeconfig (context `local`, the current one, and context `second`), an App of Apps on the
first whose children go to both, by destination.server and by destination.name."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import Cluster, Clusters, run_cli
from diff_helpers import Repo, cluster_statuses
from faultproxy import FaultProxy, Rule, make_cert
from kubectl_gitops.render.directory import RACY_WINDOW_NS

CREATE_NS = "  syncPolicy: {syncOptions: [CreateNamespace=true]}\n"


def child(name: str, path: str, ns: str, dest: str, wave: int = 0, project: str = "default") -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n"
            f"  annotations: {{argocd.argoproj.io/sync-wave: '{wave}'}}\n"
            f"spec:\n  project: {project}\n  source: {{repoURL: https://git.example.com/team/config.git, "
            f"targetRevision: HEAD, path: {path}}}\n  destination: {{{dest}, namespace: {ns}}}\n{CREATE_NS}")


def cm(name: str, ns: str, value: str = "1") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}}}\ndata: {{v: '{value}'}}\n"


def fleet_repo(tmp_path: Path, ns: str, first: Cluster, second: Cluster, extra: dict[str, str] | None = None) -> Repo:
    """root (in-cluster) → near (first, by server), far-server (second, by server), far-name (second,
    by name), in waves 0, 1, 2."""
    repo = Repo(tmp_path / "config")
    repo.write("apps/root.yaml", child("root", "children", ns, "server: https://kubernetes.default.svc"))
    repo.write("children/near.yaml", child("near", "near", ns, f"server: '{first.server}/'", 0))
    repo.write("children/far-server.yaml", child("far-server", "far1", ns, f"server: '{second.server}'", 1))
    repo.write("children/far-name.yaml", child("far-name", "far2", ns, "name: second", 2))
    repo.write("near/cm.yaml", cm("near-cm", ns))
    repo.write("far1/cm.yaml", cm("far1-cm", ns))
    repo.write("far2/cm.yaml", cm("far2-cm", ns))
    for rel, text in (extra or {}).items():
        repo.write(rel, text)
    repo.commit()
    return repo


def gitops(kubeconfig: Path | str, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`kubectl gitops ARGV` with KUBECONFIG (one file, or several joined by ':')."""
    res = run_cli("kubectl-gitops", *argv, cwd=cwd, env={"KUBECONFIG": str(kubeconfig)})
    assert "Traceback" not in res.stderr, res.stderr
    return res


def names(c: Cluster, kind: str, ns: str) -> set[str]:
    res = c.kubectl("get", kind, "-n", ns, "-o", "json", check=False)
    if res.returncode != 0:
        return set()
    return {o["metadata"]["name"] for o in json.loads(res.stdout)["items"]}


@pytest.fixture
def ns() -> str:
    return f"d-{uuid.uuid4().hex[:8]}"


def test_app_of_apps_children_land_on_their_own_cluster_only(clusters: Clusters, ns: str, tmp_path: Path) -> None:
    first, second = clusters.first, clusters.second
    repo = fleet_repo(tmp_path, ns, first, second)

    res = gitops(clusters.kubeconfig, repo.root, "sync", "root", "--timeout", "90s")
    assert res.returncode == 0, res.stderr
    assert names(first, "configmaps", ns) - {"kube-root-ca.crt"} == {"near-cm"}
    assert names(second, "configmaps", ns) - {"kube-root-ca.crt"} == {"far1-cm", "far2-cm"}
    # The sync table names each object's cluster; the children ran in the root's wave order.
    rows = [line.split() for line in res.stdout.splitlines()]
    assert rows[0][:2] == ["APP", "CLUSTER"]
    assert [r[:2] for r in rows[1:]] == [["near", "local"], ["far-server", "second"], ["far-name", "second"]]
    # Each app's record lives on its destination cluster, and nowhere else.
    assert names(first, "configmaps", "argocd") >= {"kubectl-gitops-app-near"}
    assert not names(first, "configmaps", "argocd") & {"kubectl-gitops-app-far-server", "kubectl-gitops-app-far-name"}
    assert {"kubectl-gitops-app-far-server", "kubectl-gitops-app-far-name"} <= names(second, "configmaps", "argocd")
    assert "kubectl-gitops-app-near" not in names(second, "configmaps", "argocd")

    # diff shows the cluster of each object; a change on the second cluster is shown there.
    repo.write("far1/cm.yaml", cm("far1-cm", ns, "2"))
    res = gitops(clusters.kubeconfig, repo.root, "diff", "root", "-o", "table")
    assert res.returncode == 1, res.stderr
    table = cluster_statuses(res.stdout)
    assert table[("far-server", "second", "ConfigMap", ns, "far1-cm")] == "OutOfSync"
    assert table[("near", "local", "ConfigMap", ns, "near-cm")] == "Synced"
    assert table[("far-name", "second", "ConfigMap", ns, "far2-cm")] == "Synced"
    doc = json.loads(gitops(clusters.kubeconfig, repo.root, "diff", "root", "-o", "json").stdout)
    assert {a["name"]: a["cluster"] for a in doc["apps"]} == {
        "root": "local", "near": "local", "far-server": "second", "far-name": "second"}

    res = gitops(clusters.kubeconfig, repo.root, "status", "root")
    assert res.returncode == 1, res.stderr  # far-server is OutOfSync
    app_rows = {line.split()[0]: line.split()[1:3] for line in res.stdout.split("\n\n")[1].splitlines()[1:]}
    assert app_rows["far-server"] == ["second", "OutOfSync"] and app_rows["near"] == ["local", "Synced"]
    status = yaml.safe_load(gitops(clusters.kubeconfig, repo.root, "status", "root", "-o", "yaml").stdout)
    assert {a["name"]: a["cluster"] for a in status["apps"]}["far-name"] == "second"


@pytest.mark.parametrize(("dest", "message"), [
    ("server: 'https://127.0.0.1:1'", "app far-name: destination.server 'https://127.0.0.1:1': no such cluster "
                                      "(looked at kubeconfig "),
    ("{server: 'https://127.0.0.1:1', name: second}", "app far-name: destination has both server "
                                                     "'https://127.0.0.1:1' and name 'second'"),
])
def test_an_unresolvable_destination_stops_everything_before_any_write(
        clusters: Clusters, ns: str, tmp_path: Path, dest: str, message: str) -> None:
    bad = child("far-name", "far2", ns, dest.strip("{}"), 2)
    repo = fleet_repo(tmp_path, ns, clusters.first, clusters.second, {"children/far-name.yaml": bad})
    for command in ("sync", "diff"):
        res = gitops(clusters.kubeconfig, repo.root, command, "root")
        assert res.returncode == 2, res.stderr
        assert res.stdout == ""
        assert f"error: {message}" in res.stderr
    for c in (clusters.first, clusters.second):  # nothing written anywhere
        assert c.kubectl("get", "namespace", ns, check=False).returncode != 0


def test_preflight_covers_every_cluster_before_the_first_write(clusters: Clusters, ns: str, tmp_path: Path) -> None:
    """Only the second cluster's API server refuses far's object (a ConfigMap key it does not allow):
    nothing is written to either cluster, though near, on the first, comes first and is valid."""
    bad = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: far1-cm, namespace: {ns}}}\ndata: {{'no/slash': x}}\n"
    repo = fleet_repo(tmp_path, ns, clusters.first, clusters.second, {"far1/cm.yaml": bad})
    cfg = f"records-{ns}"
    res = gitops(clusters.kubeconfig, repo.root, "sync", "root", "--config-namespace", cfg)
    assert res.returncode == 2, res.stderr
    assert "nothing was written" in res.stderr and "ConfigMap \"far1-cm\" is invalid" in res.stderr, res.stderr
    for c in (clusters.first, clusters.second):
        assert c.kubectl("get", "namespace", ns, check=False).returncode != 0
        assert c.kubectl("get", "namespace", cfg, check=False).returncode != 0  # no app record either


def test_cluster_secrets_reach_a_server_no_kubeconfig_has(clusters: Clusters, ns: str, tmp_path: Path) -> None:
    first, second = clusters.first, clusters.second
    config_ns = f"argocd-{ns}"
    token = (second.kubeconfig.parent / "admin.token").read_text().strip()
    ca = base64.b64encode((second.kubeconfig.parent / "ca.crt").read_bytes()).decode()
    config = json.dumps({"bearerToken": token, "tlsClientConfig": {"caData": ca}})
    first.kubectl("create", "namespace", config_ns)
    first.kubectl("create", "secret", "generic", "edge-cluster", "-n", config_ns, "--from-literal=name=edge",
                  f"--from-literal=server={second.server}", f"--from-literal=config={config}")
    first.kubectl("label", "secret", "edge-cluster", "-n", config_ns, "argocd.argoproj.io/secret-type=cluster")
    repo = Repo(tmp_path / "config")
    repo.write("apps/edge.yaml", child("edge", "edge", ns, "name: edge"))
    repo.write("edge/cm.yaml", cm("edge-cm", ns))
    repo.write("by-server/edge.yaml", child("edge-by-server", "edge2", ns, f"server: '{second.server}/'"))
    repo.write("edge2/cm.yaml", cm("edge2-cm", ns))
    repo.commit()
    only_first = first.kubeconfig  # the second cluster is in no kubeconfig

    res = gitops(only_first, repo.root, "sync", "apps/edge.yaml", "--config-namespace", config_ns)
    assert res.returncode == 2 and "app edge: destination.name 'edge': no such cluster" in res.stderr
    assert "--cluster-secrets" in res.stderr

    res = gitops(only_first, repo.root, "sync", "apps/edge.yaml", "--config-namespace", config_ns, "--cluster-secrets")
    assert res.returncode == 0, res.stderr
    assert names(second, "configmaps", ns) - {"kube-root-ca.crt"} == {"edge-cm"}
    assert not names(first, "configmaps", ns)
    assert [line.split()[:2] for line in res.stdout.splitlines()[1:]] == [["edge", "edge"]]
    assert token not in res.stdout + res.stderr
    res = gitops(only_first, repo.root, "diff", "apps/edge.yaml", "--config-namespace", config_ns, "--cluster-secrets")
    assert res.returncode == 0, res.stderr
    assert token not in res.stdout + res.stderr
    # By server too: the Secret's server is in no kubeconfig.
    res = gitops(only_first, repo.root, "sync", "by-server/edge.yaml", "--config-namespace", config_ns)
    assert res.returncode == 2 and f"destination.server '{second.server}/': no such cluster" in res.stderr
    cache = tmp_path / "cache"  # this run's whole cache: the credentials are never written there
    # The parse cache stores only files older than its racy window; the earlier runs may all have taken
    # less than that (the test failed so once): wait until the app's files have passed it.
    changed = max(f.stat().st_ctime for f in (repo.root / "edge2").rglob("*"))
    time.sleep(max(0.0, changed + RACY_WINDOW_NS / 1e9 + 0.1 - time.time()))
    res = run_cli("kubectl-gitops", "sync", "by-server/edge.yaml", "--config-namespace", config_ns,
                  "--cluster-secrets", cwd=repo.root, env={"KUBECONFIG": str(only_first), "XDG_CACHE_HOME": str(cache)})
    assert res.returncode == 0, res.stderr
    cached = [f for f in cache.rglob("*") if f.is_file()]
    assert cached
    assert not [f for f in cached if token.encode() in f.read_bytes() or ca.encode() in f.read_bytes()]
    assert names(second, "configmaps", ns) - {"kube-root-ca.crt"} == {"edge-cm", "edge2-cm"}
    assert not names(first, "configmaps", ns)
    assert token not in res.stdout + res.stderr


def test_explicit_map_sends_a_name_to_a_context(clusters: Clusters, ns: str, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "config")
    repo.write("apps/web.yaml", child("web", "web", ns, "name: staging"))
    repo.write("web/cm.yaml", cm("web-cm", ns))
    repo.write("clusters.yaml", "clusters: {staging: second}\n")
    repo.commit()
    res = gitops(clusters.kubeconfig, repo.root, "diff", "apps/web.yaml")
    assert res.returncode == 2 and "destination.name 'staging': no such cluster" in res.stderr
    res = gitops(clusters.kubeconfig, repo.root, "sync", "apps/web.yaml", "--cluster", "staging=second")
    assert res.returncode == 0, res.stderr
    assert "web-cm" in names(clusters.second, "configmaps", ns)
    assert not names(clusters.first, "configmaps", ns)
    res = gitops(clusters.kubeconfig, repo.root, "diff", "apps/web.yaml", "--clusters-file", "clusters.yaml")
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("when", [
    # The first write of the run, once every Lease is held: far's writes fail.
    r"PATCH /namespaces/{ns}/configmaps/near-cm\?(?!.*dryRun)",
    # After pre-flight, when the first Lease is taken (near's, on the first cluster): far's Lease fails.
    "POST /namespaces/default/leases",
], ids=["at-the-first-write", "after-preflight-before-its-lease"])
def test_a_cluster_stopped_mid_run_fails_only_its_apps(clusters: Clusters, ns: str, tmp_path: Path,
                                                       when: str) -> None:
    """The second cluster (behind a proxy) stops answering as soon as the first cluster receives the
    request `when` (every connection to it is reset from then on, kept-alive ones too): the apps on the
    second fail, with one line naming it; the others are synced."""
    first, second = clusters.first, clusters.second
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cert_a = make_cert(first.kubeconfig.parent, tmp_path / "a")
    cert_b = make_cert(second.kubeconfig.parent, tmp_path / "b")
    proxy_a = FaultProxy(first.server, first.kubeconfig.parent / "ca.crt", *cert_a)
    proxy_b = FaultProxy(second.server, second.kubeconfig.parent / "ca.crt", *cert_b)
    try:
        files = []
        for c, proxy in ((first, proxy_a), (second, proxy_b)):
            cfg = yaml.safe_load(c.kubeconfig.read_text())
            cfg["clusters"][0]["cluster"]["server"] = proxy.url
            files.append(tmp_path / f"{cfg['clusters'][0]['name']}.kubeconfig")
            files[-1].write_text(yaml.safe_dump(cfg))
        kubeconfig = ":".join(map(str, files))
        repo = Repo(tmp_path / "config")
        repo.write("apps/root.yaml", child("root", "children", ns, "server: https://kubernetes.default.svc"))
        repo.write("children/near.yaml", child("near", "near", ns, "name: local", 0))
        repo.write("children/far.yaml", child("far", "far1", ns, "name: second", 1))
        repo.write("children/later.yaml", child("later", "later", ns, "name: in-cluster", 2))
        for d, name in (("near", "near-cm"), ("far1", "far1-cm"), ("later", "later-cm")):
            repo.write(f"{d}/cm.yaml", cm(name, ns))
        repo.commit()
        method, path = when.format(ns=ns).split(" ", 1)
        proxy_a.add(Rule("delay", method, path, seconds=0.0, hook=lambda: proxy_b.add(Rule("reset", times=0))))

        res = gitops(kubeconfig, repo.root, "sync", "root", "--timeout", "90s")
        assert res.returncode == 1, res.stderr  # it wrote to the first cluster
        lines = [line for line in res.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1, res.stderr
        assert lines[0].startswith("error: cluster second: apps far failed: cannot reach"), res.stderr
        assert names(first, "configmaps", ns) - {"kube-root-ca.crt"} == {"near-cm", "later-cm"}
        assert "far1-cm" not in names(second, "configmaps", ns)
        assert "near-cm" not in names(second, "configmaps", ns)
        asked = proxy_b.requests("POST", r"/leases")
        assert asked  # far's Lease was asked for on its own cluster
        if "leases" in when:  # and never reached it
            assert {s.outcome for s in asked} == {"reset"}, asked
    finally:
        proxy_a.stop()
        proxy_b.stop()


def test_diff_and_status_show_the_apps_of_the_clusters_that_answer(clusters: Clusters, ns: str,
                                                                   tmp_path: Path) -> None:
    """A context whose API server does not answer (nothing listens on its port): its app fails with
    one line, exit 2; the app on the cluster that answers is compared and shown."""
    cfg = yaml.safe_load(clusters.second.kubeconfig.read_text())
    cfg["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(yaml.safe_dump(cfg))
    repo = Repo(tmp_path / "config")
    repo.write("apps/near.yaml", child("near", "near", ns, "name: in-cluster"))
    repo.write("apps/far.yaml", child("far", "far", ns, "name: second"))
    repo.write("near/cm.yaml", cm("near-cm", ns))
    repo.write("far/cm.yaml", cm("far-cm", ns))
    repo.commit()
    kubeconfig = f"{clusters.first.kubeconfig}:{dead}"
    for command in ("diff", "status"):
        res = gitops(kubeconfig, repo.root, command, "apps/", "--request-timeout", "2s")
        assert res.returncode == 2, res.stderr
        errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith(
            "error: cluster second: apps far failed: cannot reach the cluster at https://127.0.0.1:1"), res.stderr
        assert f"near  local    ConfigMap  {ns}" in res.stdout
        assert "far-cm" not in res.stdout


def records(kubeconfig: str, cwd: Path, cfg: str, *flags: str) -> dict[str, dict]:
    """`list` without a TARGET, as JSON: each app's Application document, by name."""
    res = gitops(kubeconfig, cwd, "list", "--config-namespace", cfg, "-o", "json", *flags)
    assert res.returncode == 0, res.stderr
    return {a["metadata"]["name"]: a for a in json.loads(res.stdout)["items"]}


def test_history_and_list_read_each_record_on_its_apps_cluster(clusters: Clusters, ns: str, tmp_path: Path) -> None:
    """Sync keeps each app's record on the app's destination cluster; history finds it there through
    the Application in the repository, and list without Git reads every cluster the flags name."""
    first, second = clusters.first, clusters.second
    cfg = f"records-{ns}"
    repo = fleet_repo(tmp_path, ns, first, second)
    res = gitops(clusters.kubeconfig, repo.root, "sync", "root", "--config-namespace", cfg)
    assert res.returncode == 0, res.stderr
    one = repo.git("rev-parse", "HEAD").strip()
    repo.write("far1/cm.yaml", cm("far1-cm", ns, "2"))
    two = repo.commit()
    res = gitops(clusters.kubeconfig, repo.root, "sync", "root", "--config-namespace", cfg)
    assert res.returncode == 0, res.stderr

    # The Application file says which cluster.
    res = gitops(clusters.kubeconfig, repo.root, "history", "children/far-server.yaml", "--config-namespace", cfg,
                 "-o", "json")
    assert res.returncode == 0, res.stderr
    assert [h["revision"] for h in json.loads(res.stdout)["history"]] == [one, two]
    res = gitops(clusters.kubeconfig, repo.root, "history", "children/far-name.yaml", "--config-namespace", cfg)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == 2  # far-name did not change: one deployment
    header, row = (line.split() for line in res.stdout.splitlines())
    assert header[3] == "CLUSTER" and row[3] == "second"

    elsewhere = tmp_path / "elsewhere"  # no checkout: the current cluster, and the clusters named
    elsewhere.mkdir()
    res = gitops(clusters.kubeconfig, elsewhere, "history", "far-server", "--config-namespace", cfg)
    assert res.returncode == 2
    assert f"error: app far-server: no record in namespace {cfg} of cluster local:" in res.stderr
    res = gitops(clusters.kubeconfig, elsewhere, "history", "far-server", "--config-namespace", cfg,
                 "--cluster", "second=second", "-o", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["cluster"] == "second" and [h["revision"] for h in doc["history"]] == [one, two]
    res = gitops(clusters.kubeconfig, elsewhere, "history", "near", "--config-namespace", cfg)
    assert res.returncode == 0, res.stderr
    assert set(records(clusters.kubeconfig, elsewhere, cfg)) == {"near"}
    both = records(clusters.kubeconfig, elsewhere, cfg, "--cluster", "second=second")
    assert set(both) == {"near", "far-server", "far-name"}
    assert both["far-server"]["spec"]["destination"]["server"] == second.server
    assert both["near"]["spec"]["destination"]["server"] == first.server
    assert [h["revision"] for h in both["far-server"]["status"]["history"]] == [one, two]


def test_rollback_history_and_windows_take_the_cluster_flags(clusters: Clusters, ns: str, tmp_path: Path) -> None:
    """An app whose destination only --cluster resolves: rollback and history act on that cluster (where
    its record is), windows shows it; without the flag each stops with the destination named."""
    first, second = clusters.first, clusters.second
    cfg, staging = f"records-{ns}", ("--cluster", "staging=second")
    repo = Repo(tmp_path / "config")
    repo.write("apps/web.yaml", child("web", "site", ns, "name: staging", project="windowed"))
    repo.write("apps/project.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: windowed}\n"
               "spec:\n  sourceRepos: ['*']\n  destinations: [{name: '*', namespace: '*'}]\n"
               "  clusterResourceWhitelist: [{group: '*', kind: '*'}]\n"
               "  syncWindows: [{kind: allow, schedule: '* * * * *', duration: 1h, applications: ['*']}]\n")
    one = ""
    for value in ("one", "two"):
        repo.write("site/cm.yaml", cm("web-cm", ns, value))
        commit = repo.commit()
        res = gitops(clusters.kubeconfig, repo.root, "sync", "web", "--config-namespace", cfg, *staging)
        assert res.returncode == 0, res.stderr
        one = one or commit

    for argv in (("history", "web"), ("rollback", "web"), ("windows", "web")):
        res = gitops(clusters.kubeconfig, repo.root, *argv, "--config-namespace", cfg)
        assert res.returncode == 2, res.stderr
        assert "app web: destination.name 'staging': no such cluster" in res.stderr
    res = gitops(clusters.kubeconfig, repo.root, "windows", "web", "--config-namespace", cfg, *staging,
                 "-o", "json")
    assert res.returncode == 0, res.stderr
    [row] = json.loads(res.stdout)["windows"]
    assert row["app"] == "web" and row["cluster"] == "second" and row["sync"] == "allowed"

    res = gitops(clusters.kubeconfig, repo.root, "rollback", "web", "--config-namespace", cfg, *staging)
    assert res.returncode == 0, res.stderr
    assert second.get("configmap", "-n", ns, "web-cm")["data"] == {"v": "one"}
    assert not names(first, "configmaps", ns)
    res = gitops(clusters.kubeconfig, repo.root, "history", "web", "--config-namespace", cfg, *staging)
    assert res.returncode == 0, res.stderr
    last = res.stdout.splitlines()[-1]
    assert len(res.stdout.splitlines()) == 4 and one in last and "(rollback)" in last
