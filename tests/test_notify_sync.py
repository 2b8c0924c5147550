"""`kubectl gitops sync` sends what the subscribed triggers say, once per state change across runs,
to a loopback receiver; a broken ConfigMap stops the sync before any write; a dead receiver never
fails it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import VENV_BIN, Cluster, run_cli
from gitrepo import commit, make_repo, write_files
from notify_servers import SECRETS, HttpRecorder, dead_port, http_recorder, write_settings

SUB = "notifications.argoproj.io/subscribe"


def configmap(name: str, value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata: {{a: '{value}'}}\n"


def application(name: str, repo: Path, ns: str, annotations: dict[str, str]) -> str:
    ann = "".join(f"\n    {k}: '{v}'" for k, v in annotations.items())
    return f"""apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
  namespace: argocd
  annotations:{ann}
spec:
  project: default
  source: {{repoURL: "file://{repo}", path: app, targetRevision: HEAD}}
  destination: {{server: "https://kubernetes.default.svc", namespace: {ns}}}
"""


def sync(target: Path, ns: str, *args: str) -> tuple[int, str, str]:
    r = run_cli("kubectl-gitops", "sync", str(target), "--timeout", "90", "--config-namespace", ns,
                "--lock-namespace", ns, *args)
    return r.returncode, r.stdout, r.stderr


def events(http: HttpRecorder) -> list[tuple[str, str]]:
    return [(r.json()["event"], r.json().get("revision", "")) for r in http.requests]


def install_settings(cluster: Cluster, tmp: Path, ns: str, receiver: str) -> None:
    cm, secret = write_settings(tmp, receiver=receiver, slack_api="http://127.0.0.1:9/api/", smtp_port=25)
    cluster.kubectl("apply", "-n", ns, "-f", str(cm), "-f", str(secret))


def test_sync_sends_once_per_state_change(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    name = f"n-{namespace}"
    make_repo(repo, {"app/cm.yaml": configmap("a", "1"), "apps/app.yaml": application(
        name, repo, namespace, {f"{SUB}.on-sync-succeeded.receiver": "", f"{SUB}.on-deployed.receiver": ""})})
    target = repo / "apps" / "app.yaml"
    with http_recorder() as http:
        install_settings(cluster, tmp_path, namespace, http.url)
        code, out, err = sync(target, namespace)
        assert code == 0, err
        deployed, first = sorted(http.requests, key=lambda r: r.json()["event"])
        assert (deployed.json()["event"], first.json()["event"]) == ("deployed", "sync-succeeded")
        body = first.json()
        rev1 = body["revision"]
        assert body["app"] == name and rev1 and body["resources"] == ["ConfigMap/a"]
        assert first.path == f"/events/{name}"
        assert first.headers["X-Api-Token"] == SECRETS["receiver-token"]
        for text in (out, err):
            assert all(v not in text for v in SECRETS.values())

        # a second sync with no change: same revision, same state, nothing sent, nothing written
        code, _out, err = sync(target, namespace)
        assert code == 0, err
        assert len(http.requests) == 2
        assert "(0 writes)" in err

        # a new commit: a new revision is synced and deployed, once
        write_files(repo, {"app/cm.yaml": configmap("a", "2")})
        commit(repo, "change")
        assert sync(target, namespace)[0] == 0
        assert sync(target, namespace)[0] == 0
        got = events(http)[2:]
        assert sorted(got) == [("deployed", got[0][1]), ("sync-succeeded", got[0][1])] and got[0][1] != rev1

    record = cluster.get("-n", namespace, f"configmap/kubectl-gitops-app-{name}")["data"]  # the app record
    keys = dict(json.loads(record["record.json"])["notified"])
    assert sorted(k.split(":")[1] for k in keys) == ["on-deployed", "on-deployed", "on-sync-succeeded",
                                                     "on-sync-succeeded"]
    assert all(v not in json.dumps(record) for v in SECRETS.values())


def test_failed_degraded_sync_sends_sync_failed_and_health_degraded(cluster: Cluster, namespace: str,
                                                                     tmp_path: Path) -> None:
    app = tmp_path / f"degraded-{namespace}"
    write_files(app, {
        "d.yaml": f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: stuck, namespace: {namespace}}}
spec:
  replicas: 1
  progressDeadlineSeconds: 1
  selector: {{matchLabels: {{app: stuck}}}}
  template:
    metadata: {{labels: {{app: stuck}}}}
    spec:
      nodeSelector: {{no-such: node}}
      containers: [{{name: c, image: registry.invalid/app:1}}]
""",
        "post.yaml": configmap("post", "1").replace("  name: post\n", "  name: post\n  annotations: "
                                                    "{argocd.argoproj.io/hook: PostSync}\n"),
    })
    subs = ("  subscriptions: |\n    - recipients: [receiver]\n"
            "      triggers: [on-sync-failed, on-health-degraded, on-sync-succeeded]\n")
    with http_recorder() as http:
        cm, secret = write_settings(tmp_path, receiver=http.url, slack_api="http://127.0.0.1:9/api/", smtp_port=25,
                                    extra=subs)
        code, _out, err = sync(app, namespace, "--notifications-cm", str(cm), "--notifications-secret", str(secret))
        assert code == 1, err
        assert sorted(e for e, _ in events(http)) == ["degraded", "sync-failed"]
        failed = next(r.json() for r in http.requests if r.json()["event"] == "sync-failed")
        assert "is Degraded" in failed["message"]


def test_a_dead_receiver_does_not_fail_the_sync(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app = tmp_path / f"dead-{namespace}"
    write_files(app, {"cm.yaml": configmap("a", "1").replace("  name: a\n", f"  name: a\n  namespace: {namespace}\n")})
    subs = "  subscriptions: |\n    - recipients: [receiver]\n      triggers: [on-sync-succeeded]\n"
    with dead_port() as port:
        cm, secret = write_settings(tmp_path, receiver=f"http://127.0.0.1:{port}", slack_api="http://127.0.0.1:9/",
                                    smtp_port=25, extra=subs)
        code, out, err = sync(app, namespace, "--notifications-cm", str(cm), "--notifications-secret", str(secret))
    assert code == 0, err
    assert "notification on-sync-succeeded to receiver: failed" in err and "Connection refused" in err
    assert "Traceback" not in err
    assert cluster.get("-n", namespace, "configmap/a")["data"] == {"a": "1"}
    assert all(v not in out + err for v in SECRETS.values())


def test_a_trigger_with_a_syntax_error_stops_the_sync_before_any_write(cluster: Cluster, namespace: str,
                                                                       tmp_path: Path) -> None:
    app = tmp_path / f"syntax-{namespace}"
    write_files(app, {"cm.yaml": configmap("a", "1").replace("  name: a\n", f"  name: a\n  namespace: {namespace}\n")})
    bad = "  trigger.on-typo: |\n    - when: app.status.health.status = 'Degraded'\n      send: [app-deployed]\n"
    cm, secret = write_settings(tmp_path, receiver="http://127.0.0.1:9", slack_api="http://127.0.0.1:9/",
                                smtp_port=25, extra=bad)
    cluster.kubectl("apply", "-n", namespace, "-f", str(cm), "-f", str(secret))
    code, out, err = sync(app, namespace)
    assert code == 2 and out == ""
    assert "trigger 'on-typo' condition [0] when: syntax error" in err and "column 26" in err
    assert cluster.kubectl("get", "-n", namespace, "configmap/a", check=False).returncode != 0


def test_a_sync_refused_before_writing_sends_sync_failed(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    shared = (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: {namespace}\n"
              "  annotations:\n    {ann}\ndata: {{a: '{value}'}}\n")
    cluster.kubectl("apply", "-f", "-", stdin=shared.format(
        ann=f"argocd.argoproj.io/tracking-id: 'other:/ConfigMap:{namespace}/shared'", value="1"))
    app = tmp_path / f"refused-{namespace}"
    write_files(app, {"a.yaml": shared.format(ann="argocd.argoproj.io/sync-options: FailOnSharedResource=true",
                                              value="2")})
    subs = "  subscriptions: |\n    - recipients: [receiver]\n      triggers: [on-sync-failed]\n"
    with http_recorder() as http:
        cm, secret = write_settings(tmp_path, receiver=http.url, slack_api="http://127.0.0.1:9/", smtp_port=25,
                                    extra=subs)
        code, out, err = sync(app, namespace, "--notifications-cm", str(cm), "--notifications-secret", str(secret))
        assert code == 2 and out == "", err
        assert len(http.requests) == 1, err
        message = http.requests[0].json()
        assert message["event"] == "sync-failed" and "already managed by app 'other'" in message["message"]
    assert cluster.get("-n", namespace, "configmap/shared")["data"] == {"a": "1"}


def test_without_settings_a_sync_loads_none_of_the_sending_machinery(cluster: Cluster, namespace: str,
                                                                     tmp_path: Path) -> None:
    """No argocd-notifications-cm: nothing can be sent, so the notifier's modules (≈ 40 ms of imports
    in every sync) stay unloaded; with the settings they load."""
    repo = tmp_path / "repo"
    make_repo(repo, {"app/cm.yaml": configmap("a", "1"),
                     "apps/app.yaml": application(f"q-{namespace}", repo, namespace, {})})
    for settings in (False, True):
        if settings:
            install_settings(cluster, tmp_path, namespace, "http://127.0.0.1:9/")
        r = subprocess.run([sys.executable, "-X", "importtime", str(VENV_BIN / "kubectl-gitops"), "sync",
                            str(repo / "apps" / "app.yaml"), "--config-namespace", namespace,
                            "--lock-namespace", namespace], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "kubectl_gitops.syncing" in imported  # the measurement itself works
        assert ("kubectl_gitops.notify.onsync" in imported) == settings, f"settings: {settings}"
        assert ("kubectl_gitops.notify.config" in imported) == settings
