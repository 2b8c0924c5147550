"""Notifications from watch mode: an automated sync sends what the subscribed triggers say, once per
state change, to a loopback receiver; idle reconciles and a self-heal of the same revision send
nothing more; a new commit's sync sends once more."""

from __future__ import annotations

import signal
from pathlib import Path

from conftest import Cluster
from gitrepo import commit, git, make_repo, write_files
from notify_servers import SECRETS, http_recorder, write_settings
from test_watch import configmap, uid, value
from watchproc import WatchProcess, synced

SUB = "notifications.argoproj.io/subscribe"


def application(name: str, repo: Path, ns: str) -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n"
            f"  annotations: {{{SUB}.on-sync-succeeded.receiver: ''}}\n"
            f"spec:\n  project: default\n  source: {{repoURL: 'file://{repo}', path: manifests, "
            f"targetRevision: main}}\n  destination: {{server: 'https://kubernetes.default.svc', namespace: {ns}}}\n"
            f"  syncPolicy: {{automated: {{selfHeal: true}}}}\n")


def test_a_watch_driven_sync_notifies_once(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app, repo = f"wn-{uid()}", tmp_path / "repo"
    # The manifests come from a remote that commits reach by a push, all at once: in the watch's own work
    # tree a reconcile may fall between a file's write and its commit and sync it under the old revision.
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    make_repo(work, {"manifests/cm.yaml": configmap(namespace, "one")}, origin=f"file://{remote}")
    git(work, "push", "-q", "origin", "main")
    make_repo(repo, {f"apps/{app}.yaml": application(app, remote, namespace)})
    with http_recorder() as http:
        cm, secret = write_settings(tmp_path, receiver=http.url, slack_api="http://127.0.0.1:9/api/", smtp_port=25)
        # Git read every second: each reconcile after the sync is an idle one.
        with WatchProcess(f"apps/{app}.yaml", "--config-namespace", namespace, "--lock-namespace", namespace,
                          "--interval", "1s", "--jitter", "1s", "--notifications-cm", str(cm),
                          "--notifications-secret", str(secret), cwd=repo) as w:
            first = w.wait_for(synced(app))
            assert w.events[0]["msg"] == "watch started" and w.events[0]["jitter"] == "1s"
            assert [(r.json()["event"], r.json()["app"]) for r in http.requests] == [("sync-succeeded", app)]
            assert http.requests[0].json()["revision"] == first["revision"]
            assert http.requests[0].headers["X-Api-Token"] == SECRETS["receiver-token"]

            mark = w.mark()
            for _ in range(3):  # three idle reconciles: nothing more sent
                w.wait_for(lambda e: e.get("msg") == "reconciled", start=mark)
                mark = w.mark()
            assert len(http.requests) == 1

            # A self-heal sync of the same revision: on-sync-succeeded fires once per revision (oncePer).
            mark = w.mark()
            cluster.kubectl("patch", "configmap", "-n", namespace, "settings", "--type=merge",
                            "-p", '{"data":{"v":"x"}}')
            w.wait_for(synced(app), start=mark)
            assert value(cluster, namespace) == "one" and len(http.requests) == 1

            # A new commit: synced, and notified once more, for its revision.
            mark = w.mark()
            write_files(work, {"manifests/cm.yaml": configmap(namespace, "two")})
            rev = commit(work, "two")
            git(work, "push", "-q", "origin", "main")
            w.wait_for(lambda e: synced(app)(e) and e.get("revision") == rev, start=mark)
            mark = w.mark()
            w.wait_for(lambda e: e.get("msg") == "reconciled", start=mark)
            assert [(r.json()["event"], r.json()["revision"]) for r in http.requests[1:]] == [("sync-succeeded", rev)]
            rc, _ = w.stop(signal.SIGTERM)
    assert rc == 0
    assert all(v not in w.log() for v in SECRETS.values())
