"""--share-apps: replicas of a watch share its apps out through Leases. The pure sharing rule, then two
real watch processes on four apps: each app is reconciled and synced by exactly one of them, a replica
that joins gets its share, a manual sync is never blocked by a watcher, and the survivor takes a killed
replica's apps over once their Leases expire."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

from conftest import Cluster, run_cli
from gitrepo import make_repo
from kubectl_gitops.watch.share import fair_share, rebalance
from test_watch import application, configmap, uid
from watchproc import Event, WatchProcess

APPS = 4
LEASE = 4  # seconds: short, so that a takeover is seen quickly


def test_fair_share_and_rebalance() -> None:
    assert [fair_share(4, n) for n in (0, 1, 2, 3, 4, 5)] == [4, 4, 2, 2, 1, 1]
    apps = {"a", "b", "c", "d"}
    claim, back = rebalance(apps, set(), apps, 1, "me")
    assert set(claim) == apps and back == []
    # A second replica appears: the first hands back two, keeps two, claims none.
    claim, back = rebalance(apps, apps, set(), 2, "me")
    assert claim == [] and len(back) == 2
    # The newcomer claims up to its share of the free ones only.
    claim, back = rebalance(apps, set(), set(back), 2, "other")
    assert len(claim) == 2 and back == []
    # An app gone from the target is handed back; nothing is claimed past the share.
    claim, back = rebalance({"a", "b"}, {"a", "c"}, {"b"}, 2, "me")
    assert claim == [] and back == ["c"]
    # Replicas rank apps differently, so two starting together mostly claim different ones.
    firsts = {rebalance(apps, set(), apps, 4, who)[0][0] for who in ("r1", "r2", "r3", "r4", "r5", "r6")}
    assert len(firsts) > 1


def owners(cluster: Cluster, ns: str) -> dict[str, str]:
    """app -> the PID in the holder of its ownership Lease."""
    leases = json.loads(cluster.kubectl("get", "leases", "-n", ns, "-o", "json").stdout)["items"]
    prefix = "kubectl-gitops-watch-app-"
    return {o["metadata"]["name"].removeprefix(prefix): o["spec"]["holderIdentity"].split("/")[1]
            for o in leases if o["metadata"]["name"].startswith(prefix)}


def synced_apps(w: WatchProcess, start: int = 0) -> list[str]:
    return [e["app"] for e in w.events[start:] if e.get("msg") == "synced"]


def start(repo: Path, ns: str, who: str) -> WatchProcess:
    return WatchProcess("apps", "--config-namespace", ns, "--lock-namespace", ns, "--interval", "1h",
                        "--share-apps", "--share-lease", f"{LEASE}s", "--identity", who, cwd=repo)


def wait(cond: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def drift_and_heal(cluster: Cluster, ns: str, apps: list[str], ws: list[WatchProcess]) -> dict[str, list[str]]:
    """Change each app's ConfigMap; wait until all are healed; who synced each (by identity)."""
    marks = [w.mark() for w in ws]
    for app in apps:
        cluster.kubectl("patch", "configmap", "-n", ns, app, "--type=merge", "-p", '{"data":{"v":"x"}}')

    def healed() -> bool:
        values = [json.loads(cluster.kubectl("get", "configmap", "-n", ns, a, "-o", "json").stdout)["data"]["v"]
                  for a in apps]
        return values == ["one"] * len(apps) and sum(len(synced_apps(w, m)) for w, m in zip(ws, marks,
                                                                                             strict=True)) >= len(apps)

    wait(healed, "\n---\n".join(w.log() for w in ws))
    time.sleep(1.0)  # a second sync of one app, if there were one, would show by now
    by: dict[str, list[str]] = {}
    for w, m in zip(ws, marks, strict=True):
        for app in synced_apps(w, m):
            by.setdefault(app, []).append(str(w.proc.pid))
    return by


def test_two_replicas_share_the_apps_and_the_survivor_takes_over(cluster: Cluster, namespace: str,
                                                                 tmp_path: Path) -> None:
    repo, tag = tmp_path / "repo", uid()
    names = [f"s{i}-{tag}" for i in range(APPS)]
    files = {f"apps/{n}.yaml": application(n, repo, namespace, "automated: {selfHeal: true}").replace(
        "path: manifests", f"path: m/{n}") for n in names}
    files |= {f"m/{n}/cm.yaml": configmap(namespace, "one", name=n) for n in names}
    make_repo(repo, files)
    # A replica that died an hour ago left its membership Lease: not counted, and deleted.
    stale = "kubectl-gitops-watch-member-gone"
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": stale, "namespace": namespace},
        "spec": {"holderIdentity": "gone@host/1/abc", "leaseDurationSeconds": LEASE,
                 "renewTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() - 3600))}}))
    with start(repo, namespace, "a") as a:
        wait(lambda: sorted(synced_apps(a)) == sorted(names), a.log())  # alone, it owns and syncs all four
        assert sorted(owners(cluster, namespace)) == sorted(names)
        wait(lambda: cluster.kubectl("get", "lease", "-n", namespace, stale, check=False).returncode != 0,
             "the stale membership Lease was not deleted")
        with start(repo, namespace, "b") as b:
            # B joins: A hands two back, B claims them; nothing is synced again.
            wait(lambda: sorted(owners(cluster, namespace).values()) == sorted([str(a.proc.pid)] * 2 +
                                                                                [str(b.proc.pid)] * 2),
                 a.log() + "\n---\n" + b.log())
            b.wait_for(lambda e: e.get("msg") == "Synced" and e.get("app") in names)
            assert synced_apps(b) == [] and sorted(synced_apps(a)) == sorted(names)

            # Drift on every app: each is healed once, by the replica that owns it.
            own = owners(cluster, namespace)
            by = drift_and_heal(cluster, namespace, names, [a, b])
            assert by == {n: [own[n]] for n in names}, a.log() + "\n---\n" + b.log()

            # Owning an app is not holding its sync Lease: a manual sync finds none to wait for.
            leases = json.loads(cluster.kubectl("get", "leases", "-n", namespace, "-o", "json").stdout)["items"]
            assert not [o for o in leases if o["metadata"]["name"].startswith("kubectl-gitops-sync-")]
            res = run_cli("kubectl-gitops", "sync", f"apps/{names[0]}.yaml", "--config-namespace", namespace,
                          "--lock-namespace", namespace, "--timeout", "60s", cwd=repo)
            assert res.returncode == 0, res.stderr

            # A dies: its Leases stay behind, renewed no more; B takes its apps over once they expire.
            theirs = sorted(n for n in names if own[n] == str(a.proc.pid))
            a.stop(signal.SIGKILL)
            killed, mark = time.monotonic(), b.mark()

            gained: set[str] = set()

            def took_over(e: Event) -> bool:  # each of A's Leases expires on its own: maybe one event each
                if e.get("msg") == "apps owned":
                    gained.update(e["apps"].split(","))
                return set(theirs) <= gained

            b.wait_for(took_over, start=mark, timeout=LEASE * 4)
            took = time.monotonic() - killed
            assert LEASE - 1 < took < LEASE + 4, took  # the Leases' duration, then B's next look
            assert set(owners(cluster, namespace).values()) == {str(b.proc.pid)}
            by = drift_and_heal(cluster, namespace, theirs, [b])
            assert by == {n: [str(b.proc.pid)] for n in theirs}, b.log()

            # SIGTERM: B hands its apps back (its ownership Leases are deleted) and exits 0.
            rc, took = b.stop(signal.SIGTERM)
            assert rc == 0 and took < 10
            assert all(pid != str(b.proc.pid) for pid in owners(cluster, namespace).values())
