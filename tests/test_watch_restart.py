"""The API server restarted under a running watch: its WATCH streams reconnect (from the last version
seen) and the loop goes on without syncing again what it already synced. On a control plane of its own,
so the restart disturbs no other test."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Cluster, _local_cluster, restart_api_server
from test_watch import app_repo
from watchproc import WatchProcess, synced


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Path]]:
    state = tmp_path_factory.mktemp("restart-cluster")
    yield from ((c, state) for c in _local_cluster(state))


def kubectl(c: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c.bin_dir / "kubectl"), "--kubeconfig", str(c.kubeconfig), *args],
                          capture_output=True, text=True, check=check)


def test_watch_resumes_after_an_api_server_restart_without_syncing_again(
        own_cluster: tuple[Cluster, Path], tmp_path: Path) -> None:
    c, state = own_cluster
    ns = "restart"
    kubectl(c, "create", "namespace", ns)
    repo, app = app_repo(tmp_path, ns, "automated: {selfHeal: true}")
    with WatchProcess(f"apps/{app}.yaml", "--config-namespace", ns, "--lock-namespace", ns, "--interval", "1h",
                      "--kubeconfig", str(c.kubeconfig), cwd=repo) as w:
        w.wait_for(lambda e: e.get("msg") == "Synced" and e.get("app") == app)
        restart_api_server(state)
        deadline = time.monotonic() + 60
        while kubectl(c, "get", "--raw", "/readyz", check=False).returncode != 0:
            assert time.monotonic() < deadline, "kube-apiserver did not come back; its log ends:\n" + \
                "\n".join((state / "kube-apiserver.log").read_text(errors="replace").splitlines()[-30:])
            time.sleep(0.2)
        mark = w.mark()
        kubectl(c, "annotate", "configmap", "-n", ns, "settings", "after-restart=1")  # no drift: no sync
        w.wait_for(lambda e: e.get("msg") == "reconciled" and "changed" in e.get("trigger", ""), start=mark,
                   timeout=60)
        assert w.count(synced(app)) == 1, w.log()
        mark = w.mark()
        kubectl(c, "patch", "configmap", "-n", ns, "settings", "--type=merge", "-p", '{"data":{"v":"x"}}')
        w.wait_for(synced(app), start=mark)  # drift is seen through the reopened WATCH, and healed once
        assert json.loads(kubectl(c, "get", "configmap", "-n", ns, "settings", "-o", "json").stdout)["data"] == \
            {"v": "one"}
        assert w.count(synced(app)) == 2
        assert w.stop()[0] == 0
