"""watch's webhook listener and metrics endpoint, over real HTTP on 127.0.0.1, and two watch processes
sharing apps through their Leases."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import Cluster
from gitrepo import commit, write_files
from test_watch import app_repo, configmap, start, value, waiting_app
from watchproc import WatchProcess, synced

SECRET = "s3cret-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def get(port: int, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return resp.status, resp.read().decode()


def github_push(repo: Path) -> bytes:
    return json.dumps({"ref": "refs/heads/main", "repository": {"clone_url": f"file://{repo}",
                                                                "html_url": "https://example.invalid/x"}}).encode()


def test_webhook_refreshes_at_once_and_rejects_a_bad_signature(cluster: Cluster, namespace: str,
                                                               tmp_path: Path) -> None:
    repo, app = app_repo(tmp_path, namespace, "automated: {}")
    hook, metrics = free_port(), free_port()
    with WatchProcess(f"apps/{app}.yaml", "--config-namespace", namespace, "--lock-namespace", namespace,
                      "--interval", "1h", "--webhook-addr", f"127.0.0.1:{hook}", "--metrics-addr",
                      f"127.0.0.1:{metrics}", cwd=repo,
                      env={"KUBECTL_GITOPS_WEBHOOK_SECRET_GITHUB": SECRET,
                           "KUBECTL_GITOPS_WEBHOOK_SECRET_GITLAB": SECRET}) as w:
        w.wait_for(lambda e: e.get("msg") == "Synced" and e.get("app") == app)  # after our own writes came back
        write_files(repo, {"manifests/cm.yaml": configmap(namespace, "two")})
        rev = commit(repo, "two")
        body = github_push(repo)
        mark = w.mark()
        bad = "sha256=" + hmac.new(b"wrong", body, hashlib.sha256).hexdigest()
        assert post(hook, body, {"X-GitHub-Event": "push", "X-Hub-Signature-256": bad})[0] == 401
        assert post(hook, body, {"X-GitHub-Event": "push"})[0] == 401  # unsigned, while a secret is set
        assert post(hook, body, {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "nope"})[0] == 401
        w.wait_for(lambda e: e.get("msg") == "webhook refused" and e.get("status") == 401, start=mark)
        assert w.count(lambda e: e.get("msg") == "reconciled" and e.get("trigger") == "github push") == 0
        assert value(cluster, namespace) == "one"

        good = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        sent = time.monotonic()
        code, text = post(hook, body, {"X-GitHub-Event": "push", "X-Hub-Signature-256": good})
        assert (code, text.strip()) == (200, "refreshing 1 app(s)")
        ev = w.wait_for(synced(app), start=mark)
        assert ev["revision"] == rev and time.monotonic() - sent < 2 + 1
        assert value(cluster, namespace) == "two"
        w.wait_for(lambda e: e.get("msg") == "Synced" and e.get("app") == app, start=mark)

        code, text = get(metrics, "/metrics")
        assert code == 200
        assert f'kubectl_gitops_syncs_total{{app="{app}",result="Succeeded"}} 2.0' in text
        assert 'kubectl_gitops_apps{health="Healthy",sync_status="Synced"} 1.0' in text
        assert "kubectl_gitops_reconcile_duration_seconds_count" in text
        assert "kubectl_gitops_git_fetch_errors_total 0.0" in text
        assert get(metrics, "/healthz") == (200, "ok\n")
        assert w.stop()[0] == 0


def test_two_watches_never_sync_one_app_at_once(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo, app = app_repo(tmp_path, namespace, "automated: {selfHeal: true}")
    with start(repo, app, namespace, "--identity", "a") as a, start(repo, app, namespace, "--identity", "b") as b:
        a.wait_for(lambda e: e.get("msg") == "reconciled")
        b.wait_for(lambda e: e.get("msg") == "reconciled")
        deadline = time.monotonic() + 30
        while value(cluster, namespace) != "one":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        for i in range(3):  # drift, healed by one of them each time
            before = value(cluster, namespace)
            assert before == "one"
            marks = a.mark(), b.mark()
            cluster.kubectl("patch", "configmap", "-n", namespace, "settings", "--type=merge",
                            "-p", json.dumps({"data": {"v": f"x{i}"}}))
            deadline = time.monotonic() + 20
            # Reverted, and the heal's own end logged (the objects are back before its record is written).
            while value(cluster, namespace) != "one" or a.count(synced(app)) + b.count(synced(app)) < i + 2:
                assert time.monotonic() < deadline, a.log() + "\n---\n" + b.log()
                time.sleep(0.1)
            a.wait_for(lambda e: e.get("msg") == "reconciled", start=marks[0])
            b.wait_for(lambda e: e.get("msg") == "reconciled", start=marks[1])
        spans = []  # (start, end) of each sync that held the Lease; a deferred one wrote nothing
        for w in (a, b):
            begun = ""
            for e in w.events:
                if e.get("app") != app:
                    continue
                if e.get("msg", "").startswith(f"{app}: phase") and not begun:
                    begun = e["time"]  # the first write, under the Lease
                elif e.get("msg") in ("synced", "sync failed", "sync refused"):
                    spans.append((begun, e["time"]))
                    begun = ""
        assert len(spans) >= 4  # the first sync and three heals
        spans.sort()
        overlaps = [(x, y) for x, y in itertools.pairwise(spans) if x[1] > y[0]]
        assert not overlaps, "\n".join(map(str, spans)) + a.log() + "\n---\n" + b.log()

        # One is killed: the other goes on healing the app alone. Killed while it held the app's Lease (a
        # reconcile that saw the drift before the other's heal reached its cache syncs too), it would leave
        # the Lease to expire (60 s): that takeover is the test below; here it is killed between syncs.
        deadline = time.monotonic() + 20
        while cluster.kubectl("get", "lease", "-n", namespace, f"kubectl-gitops-sync-{app}",
                              check=False).returncode == 0:
            assert time.monotonic() < deadline, a.log() + "\n---\n" + b.log()
            time.sleep(0.1)
        a.stop(signal.SIGKILL)
        mark = b.mark()
        cluster.kubectl("patch", "configmap", "-n", namespace, "settings", "--type=merge", "-p", '{"data":{"v":"k"}}')
        b.wait_for(synced(app), start=mark)
        assert value(cluster, namespace) == "one"
        assert b.stop()[0] == 0


def scrape(port: int, name: str) -> float:
    _, text = get(port, "/metrics")
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def test_an_idle_loop_sends_no_list_and_no_write(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo, app = app_repo(tmp_path, namespace, "automated: {selfHeal: true}")
    port = free_port()
    with WatchProcess(f"apps/{app}.yaml", "--config-namespace", namespace, "--lock-namespace", namespace,
                      "--interval", "1s", "--metrics-addr", f"127.0.0.1:{port}", cwd=repo) as w:
        w.wait_for(lambda e: e.get("msg") == "Synced" and e.get("app") == app)
        mark = w.mark()
        w.wait_for(lambda e: e.get("msg") == "reconciled" and e.get("trigger") == "interval", start=mark)
        lists, writes = scrape(port, "kubectl_gitops_list_requests"), scrape(port, "kubectl_gitops_write_requests")
        assert lists >= 1 and writes >= 1  # the first LISTs, the first sync
        mark = w.mark()
        for _ in range(3):  # three more Git polls and compares, nothing changed
            w.wait_for(lambda e: e.get("msg") == "reconciled" and e.get("trigger") == "interval", start=mark)
            mark = w.mark()
        assert scrape(port, "kubectl_gitops_list_requests") == lists
        assert scrape(port, "kubectl_gitops_write_requests") == writes
        assert w.stop()[0] == 0


def test_a_replica_killed_mid_sync_has_its_app_taken_over_when_the_lease_expires(
        cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    repo, app = waiting_app(tmp_path, namespace)
    waiting = f"{app}: phase Sync wave 0"
    with start(repo, app, namespace, "--identity", "a") as a, start(repo, app, namespace, "--identity", "b") as b:
        deadline = time.monotonic() + 30
        while not (holder := next((w for w in (a, b) if w.count(lambda e: e.get("msg", "").startswith(waiting))),
                                  None)):
            assert time.monotonic() < deadline, a.log() + "\n---\n" + b.log()
            time.sleep(0.1)
        other = b if holder is a else a
        holder.stop(signal.SIGKILL)  # its Lease stays behind, renewed no more
        killed = time.monotonic()
        mark = other.mark()
        other.wait_for(lambda e: e.get("msg") == "sync deferred", start=mark)
        other.wait_for(lambda e: e.get("msg", "").startswith(waiting), start=mark, timeout=90)
        took = time.monotonic() - killed
        assert 45 < took < 80, took  # the lease's 60 s since its last renewal, then the next try (5 s)
        assert other.stop()[0] == 0
