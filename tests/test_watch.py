"""kubectl gitops watch against the real control plane: automated sync, self-heal, retry, prune,
sync windows, signals. Each test runs the real `kubectl-gitops watch` process and stops it by PID."""

from __future__ import annotations

import itertools
import json
import signal
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from conftest import Cluster, run_cli
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


def test_self_heal_reverts_drift_and_records_an_automated_sync(cluster: Cluster, namespace: str,
                                                               tmp_path: Path) -> None:
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

        # An edit of the work tree is read by the next reconcile (here one a watched change triggers),
        # before it is committed, as any work tree is; its commit then finds the app Synced, which the
        # loop says once per revision.
        def poke(n: int) -> None:
            cluster.kubectl("annotate", "--overwrite", "configmap", "-n", namespace, "settings", f"poke={n}")

        def in_sync_at(revision: str) -> Callable[[dict], bool]:
            return lambda e: e.get("app") == app and e.get("msg") == "Synced" and e["revision"] == revision

        head = ev["revision"]
        mark = w.mark()
        write_files(repo, {"manifests/cm.yaml": configmap(namespace, "two")})
        poke(1)
        w.wait_for(lambda e: synced(app)(e) and e["revision"] == head, start=mark)
        assert value(cluster, namespace) == "two"
        poke(2)
        w.wait_for(in_sync_at(head), start=mark)
        mark = w.mark()
        rev = commit(repo, "two")
        poke(3)
        w.wait_for(in_sync_at(rev), start=mark)
        assert value(cluster, namespace) == "two"
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


def refused(app: str) -> Callable[[dict], bool]:
    return lambda e: e.get("msg") == "sync refused" and e.get("app") == app


def reconciled_on_change(e: dict) -> bool:
    return e.get("msg") == "reconciled" and "changed" in e.get("trigger", "")


def shared_with_other_app(cluster: Cluster, ns: str) -> None:
    """The ConfigMap exists, managed by another app: FailOnSharedResource refuses every sync of it."""
    cluster.kubectl("apply", "-f", "-", stdin=(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\n  annotations:\n"
        f"    argocd.argoproj.io/tracking-id: 'other:/ConfigMap:{ns}/settings'\ndata: {{v: other}}\n"))


def test_a_failed_sync_is_not_retried_for_the_same_revision(cluster: Cluster, namespace: str,
                                                             tmp_path: Path) -> None:
    shared_with_other_app(cluster, namespace)
    repo, app = app_repo(tmp_path, namespace, "automated: {}, syncOptions: [FailOnSharedResource=true]")
    with start(repo, app, namespace) as w:
        w.wait_for(refused(app))
        w.wait_for(lambda e: e.get("app") == app and "not retried (no syncPolicy.retry)" in e.get("msg", ""))
        mark = w.mark()
        cluster.kubectl("annotate", "configmap", "-n", namespace, "settings", "poke=1")  # a reconcile, same revision
        w.wait_for(reconciled_on_change, start=mark)
        assert w.count(refused(app)) == 1
        # A new revision is tried again.
        mark = w.mark()
        write_files(repo, {"manifests/cm.yaml": configmap(namespace, "two")})
        commit(repo, "two")
        cluster.kubectl("annotate", "configmap", "-n", namespace, "settings", "poke2=1")
        w.wait_for(refused(app), start=mark)
        assert w.count(refused(app)) == 2
        assert value(cluster, namespace) == "other"
        assert w.stop()[0] == 0


def test_a_failed_sync_is_retried_as_sync_policy_retry_says(cluster: Cluster, namespace: str,
                                                            tmp_path: Path) -> None:
    shared_with_other_app(cluster, namespace)
    repo, app = app_repo(tmp_path, namespace, "automated: {}, syncOptions: [FailOnSharedResource=true], "
                                              "retry: {limit: 2, backoff: {duration: 1s, factor: 2}}")
    with start(repo, app, namespace) as w:
        w.wait_for(lambda e: e.get("app") == app and "retry limit 2 reached" in e.get("msg", ""))
        attempts = [e for e in w.events if refused(app)(e)]
        assert len(attempts) == 3
        syncs = [e for e in w.events if e.get("msg") == "sync" and e.get("app") == app]
        assert [s["reason"] for s in syncs[1:]] == ["retry 1 of the failed sync", "retry 2 of the failed sync"]
        assert w.stop()[0] == 0


def test_prune_on_automated_and_a_commit_synced_by_polling(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo, app = app_repo(tmp_path, namespace, "automated: {prune: true}",
                         {"manifests/extra.yaml": configmap(namespace, "e", name="extra")})
    with WatchProcess(f"apps/{app}.yaml", "--config-namespace", namespace, "--lock-namespace", namespace,
                      "--interval", "2s", cwd=repo) as w:
        w.wait_for(synced(app))
        assert value(cluster, namespace, "extra") == "e"
        mark = w.mark()
        (repo / "manifests" / "extra.yaml").unlink()
        rev = commit(repo, "drop extra")
        committed = time.monotonic()
        ev = w.wait_for(synced(app), start=mark)
        assert ev["revision"] == rev and time.monotonic() - committed < 2 + 3
        assert value(cluster, namespace, "extra") is None
        assert value(cluster, namespace) == "one"
        assert w.stop()[0] == 0


def test_each_poll_is_one_reconcile(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    """An idle loop reconciles once per --interval: none starts on the heels of the one before
    (the end of a wait for the poll used to reconcile on the old trees, then at once again)."""
    repo, app = app_repo(tmp_path, namespace, "automated: {}")
    with WatchProcess(f"apps/{app}.yaml", "--config-namespace", namespace, "--lock-namespace", namespace,
                      "--interval", "3s", cwd=repo) as w:
        w.wait_for(synced(app))
        mark = w.mark()
        for _ in range(4):
            w.wait_for(lambda e: e.get("msg") == "reconciled" and e.get("trigger") == "interval", start=w.mark())
        polls = [e for e in w.events[mark:] if e.get("msg") == "reconciled" and e.get("trigger") == "interval"]
        assert w.stop()[0] == 0

    def at(e: dict[str, object]) -> float:
        return datetime.fromisoformat(str(e["time"]).replace("Z", "+00:00")).timestamp()

    # From the end of one to the start of the next: the rest of the interval (3 s less a short
    # compare), never next to nothing.
    gaps = [at(b) - float(str(b["seconds"])) - at(a) for a, b in itertools.pairwise(polls)]
    assert len(polls) >= 4 and min(gaps) > 1.0, gaps


def test_a_deny_window_blocks_automated_sync(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    project = f"p-{uid()}"
    repo, app = app_repo(tmp_path, namespace, "automated: {}")
    app_file = repo / "apps" / f"{app}.yaml"
    text = app_file.read_text().replace("project: default", f"project: {project}")
    app_file.write_text(text + f"""---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {{name: {project}}}
spec:
  sourceRepos: ['*']
  destinations: [{{server: '*', namespace: '*'}}]
  syncWindows:
  - {{kind: deny, schedule: '* * * * *', duration: 1h, applications: ['*'], manualSync: true}}
""")
    commit(repo, "project")
    with start(repo, app, namespace) as w:
        w.wait_for(lambda e: e.get("app") == app and e.get("msg", "").startswith("automated sync blocked"))
        assert value(cluster, namespace) is None
        assert w.count(lambda e: e.get("msg") == "sync") == 0
        assert w.stop()[0] == 0


def waiting_app(tmp_path: Path, ns: str) -> tuple[Path, str]:
    """An app whose sync holds its Lease waiting: no ingress controller runs here, so its Ingress (wave 0)
    stays Progressing and wave 1 (the ConfigMap) is never reached."""
    ing = (f"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: web, namespace: {ns}}}\n"
           "spec: {defaultBackend: {service: {name: web, port: {number: 80}}}}\n")
    wave = "metadata: {annotations: {argocd.argoproj.io/sync-wave: '1'}, "
    later = configmap(ns, "late").replace("metadata: {", wave)
    repo, app = app_repo(tmp_path, ns, "automated: {}", {"manifests/ing.yaml": ing})
    write_files(repo, {"manifests/cm.yaml": later})
    commit(repo, "waves")
    return repo, app


def test_sigterm_during_a_sync_releases_its_lease(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo, app = waiting_app(tmp_path, namespace)
    with start(repo, app, namespace) as w:
        w.wait_for(lambda e: e.get("msg") == "sync" and e.get("app") == app)
        lease = f"kubectl-gitops-sync-{app}"
        deadline = time.monotonic() + 30
        while cluster.kubectl("get", "lease", "-n", namespace, lease, check=False).returncode != 0:
            assert time.monotonic() < deadline, "the sync never took its lease:\n" + w.log()
            time.sleep(0.1)
        rc, took = w.stop(signal.SIGTERM)
        assert rc == 0 and took < 10, w.log()
        w.wait_for(lambda e: e.get("msg") == "watch stopped")
    assert cluster.kubectl("get", "lease", "-n", namespace, lease, check=False).returncode != 0
    assert value(cluster, namespace) is None  # wave 1 was never reached


def test_bad_input_at_the_start_is_one_error_and_exit_2(cluster: Cluster, tmp_path: Path) -> None:
    res = run_cli("kubectl-gitops", "watch", str(tmp_path / "absent"))
    assert res.returncode == 2, res.stderr
    assert "absent: no such file, directory or application" in res.stderr and "Traceback" not in res.stderr
