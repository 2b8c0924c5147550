"""The fake Node stays Ready for as long as a test session runs, so a Deployment stays Available.

Without a node Lease, the node controller marked the Node Unknown 50 s (its grace period) after the
last status heartbeat, and every pod on it NotReady for good: a Deployment older than that showed
0 available replicas, which stalled health waits in long test runs.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from conftest import Cluster
from test_controlplane import DEPLOYMENT

# Longer than the node controller's grace period (50 s) plus kwok's lease renewal interval (10 s).
OBSERVE_SECONDS = 65


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_deployment_stays_available_past_the_node_grace_period(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("apply", "-f", "-", stdin=DEPLOYMENT % namespace)
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Available", "deployment/web", "--timeout=90s")
    start = time.monotonic()
    samples = []
    while time.monotonic() - start < OBSERVE_SECONDS:
        dep = cluster.get("-n", namespace, "deployment/web")
        pods = cluster.get("-n", namespace, "pods")["items"]
        ready = [c["status"] for p in pods for c in p["status"].get("conditions", []) if c["type"] == "Ready"]
        samples.append((round(time.monotonic() - start), dep["status"].get("availableReplicas", 0), ready))
        assert dep["status"].get("availableReplicas", 0) == 2, samples
        assert ready == ["True", "True"], samples
        time.sleep(5)
    # what keeps the Node alive: a Lease that kwok renews every 10 s
    lease = cluster.get("-n", "kube-node-lease", "lease/kwok-node-0")
    age = datetime.now(UTC) - _parse(lease["spec"]["renewTime"])
    assert age.total_seconds() < 30, lease["spec"]
    node = cluster.get("node/kwok-node-0")
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    pods = node["status"]["allocatable"]["pods"]  # a quantity: the API server writes 1000 as 1k
    assert (int(pods[:-1]) * 1000 if pods.endswith("k") else int(pods)) >= 1000
