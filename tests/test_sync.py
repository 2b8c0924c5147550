"""kubectl gitops sync against the real control plane: ordering, hooks, options, prune, locking."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import Cluster, run_cli
from gitrepo import make_repo, write_files


def uid() -> str:
    return uuid.uuid4().hex[:6]


def sync(path: Path, *args: str) -> tuple[int, str, str]:
    res = run_cli("kubectl-gitops", "sync", str(path), "--timeout", "90", *args)
    return res.returncode, res.stdout, res.stderr


def results(stdout_json: str) -> dict[str, str]:
    return {f"{r['kind']}/{r['name']}": r["result"] for r in json.loads(stdout_json)["results"]}


def cm(name: str, ns: str, data: str = "a: '1'", ann: str = "") -> str:
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            f"  annotations: {{{ann}}}\ndata: {{{data}}}\n")


def deployment(name: str, ns: str, ann: str = "", extra_spec: str = "", image: str = "registry.invalid/app:1") -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}, annotations: {{{ann}}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
{extra_spec}  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: c, image: "{image}"}}]
"""


def job(name: str, ns: str, ann: str, name_field: str = "name") -> str:
    return f"""apiVersion: batch/v1
kind: Job
metadata: {{{name_field}: {name}, namespace: {ns}, annotations: {{{ann}}}}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: registry.invalid/job:1}}]
"""


def rv(obj: dict) -> int:
    return int(obj["metadata"]["resourceVersion"])


def test_waves_and_presync_hook_order_proven_by_the_server(cluster: Cluster, tmp_path: Path) -> None:
    ns = f"waves-{uid()}"
    app = tmp_path / f"app-{ns}"
    write_files(app, {
        "ns.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"
                   "  annotations: {argocd.argoproj.io/sync-wave: '-1'}\n",
        "cm.yaml": cm("settings", ns, ann="argocd.argoproj.io/sync-wave: '0'"),
        "deploy.yaml": deployment("web", ns, ann="argocd.argoproj.io/sync-wave: '1'"),
        "hook.yaml": job("migrate", ns, "argocd.argoproj.io/hook: PreSync"),
    })
    code, out, err = sync(app, "-o", "json")
    assert code == 0, err
    assert results(out) == {"Namespace/" + ns: "created", "Job/migrate": "hook succeeded",
                            "ConfigMap/settings": "created", "Deployment/web": "created"}
    nsobj = cluster.get("namespace", ns)
    hook = cluster.get("-n", ns, "job/migrate")
    cmobj = cluster.get("-n", ns, "configmap/settings")
    dep = cluster.get("-n", ns, "deployment/web")
    # The hook had completed (its last status write) before wave 0 started, and wave 0 before wave 1.
    assert hook["status"].get("succeeded") == 1
    assert rv(nsobj) < rv(hook) < rv(cmobj) < int(dep["metadata"]["resourceVersion"])
    assert dep["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] == f"{app.name}:apps/Deployment:{ns}/web"
    assert dep["status"].get("availableReplicas") == 1  # the final wave was awaited to Healthy


def test_second_sync_writes_nothing(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / f"idem-{namespace}"
    write_files(app, {"a.yaml": cm("a", namespace), "d.yaml": deployment("d", namespace)})
    assert sync(app)[0] == 0
    code, out, err = sync(app, "-o", "json")
    assert code == 0, err
    assert set(results(out).values()) == {"unchanged"}
    assert "(0 writes)" in err
    # Nor does it read more than a diff: no dry-run, no lease, no second look at what compare listed;
    # only the argocd-notifications-cm GET (absent here, so nothing else) is sync's own.
    diff = run_cli("kubectl-gitops", "diff", str(app))
    assert diff.returncode == 0, diff.stderr
    assert requests(err) == requests(diff.stderr) + 1


def test_first_sync_dry_runs_each_object_once(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    """compare's server-side dry-run of a missing object validates it: preflight does not repeat it."""
    app = tmp_path / f"once-{namespace}"
    write_files(app, {f"{n}.yaml": cm(n, namespace) for n in ("a", "b", "c")})
    diff = run_cli("kubectl-gitops", "diff", str(app))  # discovery, argocd-cm, LISTs, a dry-run per object
    assert diff.returncode == 1, diff.stderr
    code, _, err = sync(app, "--config-namespace", namespace)  # the app record goes in an existing namespace
    assert code == 0, err
    # what the diff sent, then: the argocd-notifications-cm GET, the namespaces LIST, the lease (create,
    # delete), one apply per object, one LIST for the health of what was applied, the app record (GET, create)
    assert requests(err) == requests(diff.stderr) + 1 + 1 + 2 + 3 + 1 + 2


def requests(stderr: str) -> int:
    m = re.search(r"^(\d+) API requests", stderr, re.M)
    assert m, stderr
    return int(m.group(1))


def test_degraded_deployment_fails_the_sync_and_runs_syncfail_hooks(cluster: Cluster, namespace: str,
                                                                    tmp_path: Path) -> None:
    app = tmp_path / f"degraded-{namespace}"
    never = "  progressDeadlineSeconds: 1\n"
    write_files(app, {
        "d.yaml": deployment("stuck", namespace, extra_spec=never).replace(
            "containers:", "nodeSelector: {no-such: node}\n      containers:"),
        "fail.yaml": cm("sync-failed", namespace, ann="argocd.argoproj.io/hook: SyncFail"),
        "post.yaml": cm("post", namespace, ann="argocd.argoproj.io/hook: PostSync"),
    })
    code, _out, err = sync(app, "-o", "json")
    assert code == 1, err
    assert "Deployment.apps" in err and "is Degraded" in err
    assert cluster.kubectl("get", "-n", namespace, "configmap/sync-failed", check=False).returncode == 0
    assert cluster.kubectl("get", "-n", namespace, "configmap/post", check=False).returncode != 0


def test_prune_prune_false_and_mass_prune_refusal(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / f"prune-{namespace}"
    files = {f"{n}.yaml": cm(n, namespace) for n in ("a", "b", "c", "d")}
    files["keep.yaml"] = cm("keep", namespace, ann="argocd.argoproj.io/sync-options: Prune=false")
    files["ask.yaml"] = cm("ask", namespace, ann="argocd.argoproj.io/sync-options: Prune=confirm")
    write_files(app, files)
    assert sync(app)[0] == 0
    for f in ("d", "keep", "ask"):
        (app / f"{f}.yaml").unlink()
    code, out, _ = sync(app, "-o", "json")
    assert code == 0 and results(out)["ConfigMap/d"] == "pruneSkipped"  # pruning not enabled
    code, out, err = sync(app, "--prune", "-o", "json")
    assert code == 0, err
    assert results(out)["ConfigMap/d"] == "pruned" and results(out)["ConfigMap/keep"] == "pruneSkipped"
    assert results(out)["ConfigMap/ask"] == "pruneSkipped" and "--confirm-prune" in out
    code, out, err = sync(app, "--prune", "--confirm-prune", "-o", "json")
    assert code == 0 and results(out)["ConfigMap/ask"] == "pruned", err
    assert cluster.kubectl("get", "-n", namespace, "configmap/d", check=False).returncode != 0
    assert cluster.kubectl("get", "-n", namespace, "configmap/keep", check=False).returncode == 0
    for f in app.glob("*.yaml"):
        f.unlink()
    code, _, err = sync(app, "--prune")
    assert code == 2 and "refusing to prune" in err and "render is empty" in err
    assert cluster.kubectl("get", "-n", namespace, "configmap/a", check=False).returncode == 0
    code, _, err = sync(app, "--prune", "--force-prune")
    assert code == 0, err
    assert cluster.kubectl("get", "-n", namespace, "configmap/a", check=False).returncode != 0


def test_a_second_sync_of_the_same_app_is_refused(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / f"locked-{namespace}"
    write_files(app, {"a.yaml": cm("a", namespace)})
    now = datetime.now(UTC)

    def lease(renewed: datetime) -> str:
        t = renewed.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        return (f"apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: kubectl-gitops-sync-{app.name}\n"
                f"  namespace: default\nspec:\n  holderIdentity: alice@ci-runner/42\n  leaseDurationSeconds: 60\n"
                f"  acquireTime: '{t}'\n  renewTime: '{t}'\n")

    cluster.kubectl("apply", "-f", "-", stdin=lease(now))
    code, _, err = sync(app)
    assert code == 2
    assert "another sync is running" in err and "alice@ci-runner/42" in err
    assert cluster.kubectl("get", "-n", namespace, "configmap/a", check=False).returncode != 0
    cluster.kubectl("apply", "-f", "-", stdin=lease(now - timedelta(hours=1)))  # stale: expired
    code, _, err = sync(app)
    assert code == 0, err
    assert cluster.kubectl("get", "-n", "default", f"lease/kubectl-gitops-sync-{app.name}",
                           check=False).returncode != 0  # released


def test_invalid_object_stops_everything_before_the_first_write(cluster: Cluster, namespace: str,
                                                                tmp_path: Path) -> None:
    app = tmp_path / f"invalid-{namespace}"
    write_files(app, {"a.yaml": cm("good", namespace),
                      "b.yaml": deployment("bad", namespace).replace("replicas: 1", "replicas: many")})
    code, _, err = sync(app)
    assert code == 2
    assert "b.yaml" in err and "Deployment.apps" in err and "nothing was written" in err
    assert cluster.kubectl("get", "-n", namespace, "configmap/good", check=False).returncode != 0


def test_hook_delete_policies_and_generate_name(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / f"hooks-{namespace}"
    write_files(app, {
        "a.yaml": cm("a", namespace),
        "gone.yaml": job("gone", namespace, "argocd.argoproj.io/hook: PostSync, "
                                            "argocd.argoproj.io/hook-delete-policy: HookSucceeded"),
        "gen.yaml": job("report-", namespace, "argocd.argoproj.io/hook: PostSync, "
                                              "argocd.argoproj.io/hook-delete-policy: HookFailed",
                        name_field="generateName"),
    })
    for _ in range(2):
        code, _, err = sync(app)
        assert code == 0, err
    jobs = cluster.get("-n", namespace, "jobs")["items"]
    names = sorted(j["metadata"]["name"] for j in jobs)
    assert "gone" not in names  # HookSucceeded: deleted once it succeeded
    assert len([n for n in names if n.startswith("report-")]) == 2  # a fresh name per sync, kept on success


def test_a_failed_hook_fails_the_sync_and_hook_failed_deletes_it(cluster: Cluster, namespace: str,
                                                                  tmp_path: Path) -> None:
    app = tmp_path / f"hookfail-{namespace}"
    stuck = deployment("check", namespace, ann="argocd.argoproj.io/hook: PreSync, "
                       "argocd.argoproj.io/hook-delete-policy: HookFailed",
                       extra_spec="  progressDeadlineSeconds: 1\n").replace(
        "containers:", "nodeSelector: {no-such: node}\n      containers:")
    write_files(app, {"hook.yaml": stuck, "a.yaml": cm("a", namespace)})
    code, out, err = sync(app, "-o", "json")
    assert code == 1, err
    assert results(out)["Deployment/check"] == "hook failed"
    assert cluster.kubectl("get", "-n", namespace, "deployment/check", check=False).returncode != 0
    assert cluster.kubectl("get", "-n", namespace, "configmap/a", check=False).returncode != 0  # Sync never ran


def test_crd_is_created_before_its_custom_resources(cluster: Cluster, tmp_path: Path) -> None:
    group = f"g{uid()}.example.com"
    ns = f"crd-{uid()}"
    app = tmp_path / f"crd-{ns}"
    write_files(app, {
        "crd.yaml": f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{group}, annotations: {{argocd.argoproj.io/sync-wave: "5"}}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget}}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}
""",
        "ns.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n",
        "w.yaml": f"apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w1, namespace: {ns}}}\nspec: {{size: 3}}\n",
    })
    code, out, err = sync(app, "-o", "json")
    assert code == 0, err
    assert list(results(out)) == ["Namespace/" + ns, "CustomResourceDefinition/widgets." + group, "Widget/w1"]
    assert cluster.get("-n", ns, f"widgets.{group}/w1")["spec"]["size"] == 3


def application(name: str, repo: Path, path: str, ns: str, options: list[str], extra: str = "") -> str:
    opts = "".join(f"\n      - {o}" for o in options) or " []"
    return f"""apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: {name}, namespace: argocd}}
spec:
  project: default
  source: {{repoURL: "file://{repo}", path: {path}, targetRevision: HEAD}}
  destination: {{server: "https://kubernetes.default.svc", namespace: {ns}}}
  syncPolicy:
    syncOptions:{opts}
{extra}"""


def test_create_namespace_with_managed_metadata(cluster: Cluster, tmp_path: Path) -> None:
    ns = f"created-{uid()}"
    repo = tmp_path / "repo"
    extra = "    managedNamespaceMetadata: {labels: {team: platform}, annotations: {owner: ops}}\n"
    make_repo(repo, {"app/cm.yaml": cm("a", ns).replace(f"  namespace: {ns}\n", ""),
                     "apps/app.yaml": application(f"cn-{ns}", repo, "app", ns, ["CreateNamespace=true"], extra)})
    code, _, err = sync(repo / "apps" / "app.yaml")
    assert code == 0, err
    nsobj = cluster.get("namespace", ns)
    assert nsobj["metadata"]["labels"]["team"] == "platform"
    assert nsobj["metadata"]["annotations"]["owner"] == "ops"
    assert cluster.get("-n", ns, "configmap/a")["data"] == {"a": "1"}


IGNORE_REPLICAS = "  ignoreDifferences:\n    - {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}\n"


@pytest.mark.parametrize("respect", [True, False])
def test_respect_ignore_differences(cluster: Cluster, namespace: str, tmp_path: Path, respect: bool) -> None:
    repo = tmp_path / "repo"
    opts = ["RespectIgnoreDifferences=true"] if respect else []
    make_repo(repo, {"app/d.yaml": deployment("d", namespace),
                     "apps/app.yaml": application(f"rid-{namespace}", repo, "app", namespace, opts, IGNORE_REPLICAS)})
    assert sync(repo / "apps" / "app.yaml")[0] == 0
    cluster.kubectl("scale", "-n", namespace, "deployment/d", "--replicas=3")
    (repo / "app" / "d.yaml").write_text(deployment("d", namespace, image="registry.invalid/app:2"))
    code, _, err = sync(repo / "apps" / "app.yaml")
    assert code == 0, err
    dep = cluster.get("-n", namespace, "deployment/d")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.invalid/app:2"
    assert dep["spec"]["replicas"] == (3 if respect else 1)


IGNORE_JQ = ("  ignoreDifferences:\n    - group: apps\n      kind: Deployment\n      jqPathExpressions:\n"
             "        - .spec.replicas\n"
             "        - '.spec.template.spec.containers[] | select(.name == \"c\") | .image'\n")


def test_respect_ignore_differences_with_jq_paths(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {"app/d.yaml": deployment("d", namespace),
                     "apps/app.yaml": application(f"rjq-{namespace}", repo, "app", namespace,
                                                  ["RespectIgnoreDifferences=true"], IGNORE_JQ)})
    assert sync(repo / "apps" / "app.yaml")[0] == 0
    cluster.kubectl("scale", "-n", namespace, "deployment/d", "--replicas=3")
    cluster.kubectl("set", "image", "-n", namespace, "deployment/d", "c=registry.invalid/app:live")
    # Git changes both ignored fields and one that is not: only the last reaches the cluster.
    (repo / "app" / "d.yaml").write_text(deployment("d", namespace, ann="team: web", image="registry.invalid/app:2")
                                         .replace("replicas: 1", "replicas: 2"))
    code, _, err = sync(repo / "apps" / "app.yaml")
    assert code == 0, err
    dep = cluster.get("-n", namespace, "deployment/d")
    assert dep["metadata"]["annotations"]["team"] == "web"
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.invalid/app:live"


@pytest.mark.parametrize("out_of_sync_only", [True, False])
def test_apply_out_of_sync_only_skips_objects_differing_only_in_ignored_fields(
        cluster: Cluster, namespace: str, tmp_path: Path, out_of_sync_only: bool) -> None:
    repo = tmp_path / "repo"
    opts = ["ApplyOutOfSyncOnly=true"] if out_of_sync_only else []
    make_repo(repo, {"app/d.yaml": deployment("d", namespace),
                     "apps/app.yaml": application(f"oos-{namespace}", repo, "app", namespace, opts, IGNORE_REPLICAS)})
    assert sync(repo / "apps" / "app.yaml")[0] == 0
    cluster.kubectl("scale", "-n", namespace, "deployment/d", "--replicas=2")
    code, out, err = sync(repo / "apps" / "app.yaml", "-o", "json")
    assert code == 0, err
    assert results(out)["Deployment/d"] == ("unchanged" if out_of_sync_only else "configured")
    assert cluster.get("-n", namespace, "deployment/d")["spec"]["replicas"] == (2 if out_of_sync_only else 1)


def test_fail_on_shared_resource(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    cluster.kubectl("apply", "-f", "-", stdin=cm("shared", namespace, ann=(
        f"argocd.argoproj.io/tracking-id: 'other:/ConfigMap:{namespace}/shared'")))
    app = tmp_path / f"share-{namespace}"
    write_files(app, {"a.yaml": cm("shared", namespace, data="a: '2'",
                                   ann="argocd.argoproj.io/sync-options: FailOnSharedResource=true")})
    code, _, err = sync(app)
    assert code == 2 and "already managed by app 'other'" in err
    assert cluster.get("-n", namespace, "configmap/shared")["data"] == {"a": "1"}


def test_replace_puts_the_whole_object(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / f"replace-{namespace}"
    write_files(app, {"a.yaml": cm("r", namespace, ann="argocd.argoproj.io/sync-options: Replace=true")})
    assert sync(app)[0] == 0
    cluster.kubectl("label", "-n", namespace, "configmap/r", "added-by=someone")
    write_files(app, {"a.yaml": cm("r", namespace, data="a: '2'", ann="argocd.argoproj.io/sync-options: Replace=true")})
    code, _, err = sync(app)
    assert code == 0, err
    live = cluster.get("-n", namespace, "configmap/r")
    assert live["data"] == {"a": "2"} and "added-by" not in (live["metadata"].get("labels") or {})


def test_server_side_apply_false_uses_create_and_merge_patch(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / f"csa-{namespace}"
    write_files(app, {"a.yaml": cm("c", namespace, ann="argocd.argoproj.io/sync-options: ServerSideApply=false")})
    assert sync(app)[0] == 0
    live = cluster.get("-n", namespace, "configmap/c", "--show-managed-fields")
    managers = {(m["manager"], m["operation"]) for m in live["metadata"]["managedFields"]}
    assert ("kubectl-gitops", "Update") in managers and ("kubectl-gitops", "Apply") not in managers


def test_validate_false_ignores_unknown_fields(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / f"validate-{namespace}"
    write_files(app, {"a.yaml": cm("v", namespace) + "bogusField: 1\n"})
    code, _, err = sync(app)
    assert code == 2 and "bogusField" in err
    write_files(app, {"a.yaml": cm("v", namespace, ann="argocd.argoproj.io/sync-options: Validate=false")
                      + "bogusField: 1\n"})
    code, _, err = sync(app)
    assert code == 0, err
    assert cluster.get("-n", namespace, "configmap/v")["data"] == {"a": "1"}


def test_force_recreates_an_object_with_an_immutable_change(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / f"force-{namespace}"
    write_files(app, {"a.yaml": cm("f", namespace) + "immutable: true\n"})
    assert sync(app)[0] == 0
    uid_before = cluster.get("-n", namespace, "configmap/f")["metadata"]["uid"]
    write_files(app, {"a.yaml": cm("f", namespace, data="a: '2'") + "immutable: true\n"})
    code, _, err = sync(app)
    assert code == 2 and "immutable" in err  # the dry-run already shows an apply cannot change it
    write_files(app, {"a.yaml": cm("f", namespace, data="a: '2'", ann="argocd.argoproj.io/sync-options: Force=true")
                      + "immutable: true\n"})
    code, _, err = sync(app)
    assert code == 0, err
    live = cluster.get("-n", namespace, "configmap/f")
    assert live["data"] == {"a": "2"} and live["metadata"]["uid"] != uid_before


def test_prune_propagation_orphan_keeps_dependents(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / f"orphan-{namespace}"
    write_files(app, {"d.yaml": deployment("d", namespace, ann=(
        "argocd.argoproj.io/sync-options: PrunePropagationPolicy=orphan")), "a.yaml": cm("a", namespace),
        "b.yaml": cm("b", namespace)})
    assert sync(app)[0] == 0
    (app / "d.yaml").unlink()
    code, _, err = sync(app, "--prune")
    assert code == 0, err
    assert cluster.kubectl("get", "-n", namespace, "deployment/d", check=False).returncode != 0
    assert len(cluster.get("-n", namespace, "replicasets")["items"]) == 1  # orphaned, not deleted


def test_dry_run_prints_the_plan_and_writes_nothing(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / f"plan-{namespace}"
    write_files(app, {"a.yaml": cm("a", namespace, ann="argocd.argoproj.io/sync-wave: '2'"),
                      "h.yaml": job("h", namespace, "argocd.argoproj.io/hook: PreSync")})
    res = run_cli("kubectl-gitops", "sync", str(app), "--dry-run")
    assert res.returncode == 0, res.stderr
    lines = [line.split() for line in res.stdout.splitlines()]
    assert lines[0][:4] == ["APP", "CLUSTER", "PHASE", "WAVE"]
    assert lines[1][1:5] == ["local", "PreSync", "0", "Job"] and lines[2][1:5] == ["local", "Sync", "2", "ConfigMap"]
    assert cluster.kubectl("get", "-n", namespace, "configmap/a", check=False).returncode != 0


@pytest.fixture
def example_namespaces(cluster: Cluster) -> Iterator[None]:
    """The example's fixed namespaces (its apps are named after them), deleted afterwards like a test's own."""
    yield
    cluster.kubectl("delete", "namespace", "api-dev", "cache-dev", "web-dev", "--wait=false", "--ignore-not-found")


@pytest.mark.usefixtures("example_namespaces")
def test_example_platform_config_app_of_apps_syncs_to_healthy(cluster: Cluster, tmp_path: Path) -> None:
    """What `make demo` does: the root app syncs both child apps (overlays, waves, PreSync hook)."""
    import shutil

    repo = tmp_path / "platform-config"
    shutil.copytree(Path(__file__).resolve().parent.parent / "examples" / "platform-config", repo)
    make_repo(repo, {}, origin="https://git.example.com/platform/platform-config.git")
    root = repo / "apps" / "root-app.yaml"
    code, out, err = sync(root, "-o", "json")
    assert code == 0, err
    rows = json.loads(out)["results"]
    # children in the root's wave order: cache-dev (a Helm chart, wave 1) between api-dev and web-dev
    assert [r["app"] for r in rows] == ["api-dev"] * 6 + ["cache-dev"] * 3 + ["web-dev"] * 6
    assert {(r["kind"], r["result"]) for r in rows if r["kind"] == "Job"} == {("Job", "hook succeeded")}
    for svc in ("api", "web"):
        dep = cluster.get("-n", f"{svc}-dev", f"deployment/{svc}")
        assert dep["status"]["availableReplicas"] == 1
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == f"registry.invalid/platform/{svc}:1.2.0"
        # HookSucceeded: the migration Job is gone once it succeeded
        assert cluster.kubectl("get", "-n", f"{svc}-dev", f"job/{svc}-migrate", check=False).returncode != 0
    status = run_cli("kubectl-gitops", "status", str(root))
    assert status.returncode == 0, status.stdout + status.stderr
    assert [line.split()[:4] for line in status.stdout.splitlines()[-4:]] == [
        ["root", "local", "Synced", "Healthy"], ["api-dev", "local", "Synced", "Healthy"],
        ["cache-dev", "local", "Synced", "Healthy"], ["web-dev", "local", "Synced", "Healthy"]]
    # the Helm-based service: rendered with its values-dev.yaml, a parameter and its releaseName
    assert cluster.get("-n", "cache-dev", "configmap/cache-config")["data"] == {
        "maxmemory": "128mb", "maxmemory-policy": "volatile-lru"}
