"""Faults between us and the real API server, injected by a loopback TLS proxy (faultproxy.py): what is
retried (429 with Retry-After, 5xx and resets of requests safe to repeat), what never is (a POST whose
answer was lost), the deadline of a paused server, the Lease's fencing, LIST pagination with an expired
continue token, and the server's own answer to a request too large."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import VENV_BIN, Cluster, restart_api_server, run_cli
from diff_helpers import apply, configmap, statuses
from faultproxy import Rule
from gitrepo import write_files
from proxy_helpers import Proxied

LEASES = r"/apis/coordination\.k8s\.io/v1/namespaces/default/leases"
WRITE = r"^(?!.*dryRun=All).*fieldManager="  # a real write (not a dry-run) of ours


def _app(tmp_path: Path, namespace: str, n: int = 3, extra: dict[str, str] | None = None) -> Path:
    app = tmp_path / f"app-{namespace}"
    write_files(app, {f"cm{i}.yaml": configmap(namespace, f"cm{i}", {"k": str(i)}) for i in range(n)} | (extra or {}))
    return app


def _lease_gone(cluster: Cluster, app: Path) -> bool:
    return cluster.kubectl("get", "-n", "default", f"lease/kubectl-gitops-sync-{app.name}",
                           check=False).returncode != 0


def _names(cluster: Cluster, namespace: str, kind: str = "configmaps") -> list[str]:
    return sorted(o["metadata"]["name"] for o in cluster.get("-n", namespace, kind)["items"]
                  if o["metadata"]["name"] != "kube-root-ca.crt")


def test_a_429_with_retry_after_on_discovery_is_waited_out(proxied: Proxied, namespace: str, tmp_path: Path) -> None:
    app = _app(tmp_path, namespace, 1)
    proxied.proxy.add(Rule("answer", "GET", r"^/api$", status=429, headers={"Retry-After": "1"}))
    res = proxied.cli("kubectl-gitops-diff", str(app))
    assert res.returncode == 1, res.stderr
    assert statuses(res.stdout) == {(app.name, "ConfigMap", namespace, "cm0"): "Missing"}
    first, second = proxied.proxy.requests("GET", r"^/api$")[:2]
    assert (first.outcome, second.outcome) == ("429", "200")
    assert second.at - first.at >= 1.0  # Retry-After honoured


def test_5xx_and_resets_of_requests_safe_to_repeat_are_retried(cluster: Cluster, proxied: Proxied, namespace: str,
                                                               tmp_path: Path) -> None:
    app = _app(tmp_path, namespace, 6)
    p = proxied.proxy
    for method, status in (("GET", 503), ("PATCH", 500), ("DELETE", 502), ("PUT", 504)):
        p.add(Rule("answer", method, "", status=status, times=0, every=4))  # a quarter of them fail
    p.add(Rule("reset", "GET", "/configmaps", times=1))
    p.add(Rule("reset", "PATCH", WRITE, times=1))
    res = proxied.cli("kubectl-gitops", "sync", str(app), "--timeout", "60")
    assert res.returncode == 0, res.stderr
    assert _names(cluster, namespace) == [f"cm{i}" for i in range(6)]
    outcomes = {s.outcome for s in p.requests()}
    assert {"503", "500", "reset"} <= outcomes
    assert _lease_gone(cluster, app)


def test_a_lost_answer_to_the_lease_create_is_not_sent_again(cluster: Cluster, proxied: Proxied, namespace: str,
                                                             tmp_path: Path) -> None:
    """The create reached the server; its answer did not: the lease found is ours, not another sync's."""
    app = _app(tmp_path, namespace, 1)
    proxied.proxy.add(Rule("lost", "POST", LEASES))
    res = proxied.cli("kubectl-gitops", "sync", str(app), "--timeout", "60")
    assert res.returncode == 0, res.stderr
    assert len(proxied.proxy.requests("POST", LEASES)) == 1
    assert _lease_gone(cluster, app)


def test_a_lease_that_vanishes_between_the_409_and_the_get_is_created_again(
        cluster: Cluster, proxied: Proxied, namespace: str, tmp_path: Path) -> None:
    app = _app(tmp_path, namespace, 1)
    conflict = b'{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"AlreadyExists","code":409}'
    proxied.proxy.add(Rule("answer", "POST", LEASES, status=409, body=conflict))
    res = proxied.cli("kubectl-gitops", "sync", str(app), "--timeout", "60")
    assert res.returncode == 0, res.stderr
    assert [s.outcome for s in proxied.proxy.requests("POST", LEASES)] == ["409", "201"]
    assert _names(cluster, namespace) == ["cm0"]


def test_a_create_whose_answer_was_lost_is_reported_not_sent_again(cluster: Cluster, proxied: Proxied,
                                                                   namespace: str, tmp_path: Path) -> None:
    app = tmp_path / "create"
    write_files(app, {"cm.yaml": configmap(namespace, "made", {"k": "v"},
                                           {"argocd.argoproj.io/sync-options": "ServerSideApply=false"})})
    creates = rf"/namespaces/{namespace}/configmaps\?(?!.*dryRun)"  # not the app record's
    proxied.proxy.add(Rule("lost", "POST", creates))
    res = proxied.cli("kubectl-gitops", "sync", str(app), "--timeout", "60")
    assert res.returncode == 1, res.stderr
    assert "may have been carried out, so it is not sent again" in res.stderr
    assert len(proxied.proxy.requests("POST", creates)) == 1
    assert _names(cluster, namespace) == ["made"]  # the server did create it, once
    res = run_cli("kubectl-gitops", "sync", str(app), "--timeout", "60")  # a rerun converges
    assert res.returncode == 0, res.stderr


def test_the_timeout_bounds_every_request_of_a_paused_server(cluster: Cluster, proxied: Proxied, namespace: str,
                                                             tmp_path: Path) -> None:
    app = _app(tmp_path, namespace, 2)
    proxied.proxy.add(Rule("pause", "PATCH", WRITE, times=0))
    start = time.monotonic()
    res = proxied.cli("kubectl-gitops", "sync", str(app), "--timeout", "10")
    took = time.monotonic() - start
    proxied.proxy.release()
    assert res.returncode == 1, res.stderr
    assert "timed out after 10s" in res.stderr
    assert took < 22, took  # the sync's 10 s (+2 s for its last writes), the lease's release (5 s), start-up
    assert _lease_gone(cluster, app)


def test_a_sync_whose_lease_was_taken_over_stops_before_its_next_write(cluster: Cluster, proxied: Proxied,
                                                                       namespace: str, tmp_path: Path) -> None:
    """A sync held up past its lease's expiry finds, when it renews, that another sync holds the lease:
    it sends no further write and leaves the other's lease alone."""
    app = tmp_path / f"fenced-{namespace}"
    waves = {f"w{i}.yaml": configmap(namespace, f"w{i}", {"k": "v"}, {"argocd.argoproj.io/sync-wave": str(i)})
             for i in range(3)}
    write_files(app, waves)
    p = proxied.proxy
    lease = f"kubectl-gitops-sync-{app.name}"
    p.add(Rule("pause", "PATCH", r"/configmaps/w1\?(?!.*dryRun)"))
    proc = subprocess.Popen([str(VENV_BIN / "kubectl-gitops"), "sync", str(app),
                             "--timeout", "120", "-o", "json", "--kubeconfig", str(proxied.kubeconfig)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: p.requests("PATCH", r"/configmaps/w1\?(?!.*dryRun)"), "the write of w1")
        # Another sync takes over the (expired) lease meanwhile.
        held = cluster.get("-n", "default", f"lease/{lease}")
        held["spec"]["holderIdentity"] = "other@elsewhere/1"
        held["metadata"].pop("managedFields", None)
        cluster.kubectl("replace", "-f", "-", stdin=json.dumps(held))
        _wait_for(lambda: [s for s in p.requests("PUT", lease) if s.outcome == "409"], "a renewal to conflict", 30)
        p.release()
        out, err = proc.communicate(timeout=60)
    finally:
        p.release()
        proc.kill()
    assert proc.returncode == 1, err
    assert "lost the sync lease" in err and "held by other@elsewhere/1" in err and "Traceback" not in err
    assert not p.requests("PATCH", r"/configmaps/w2\?(?!.*dryRun)")  # no write after the loss
    assert cluster.get("-n", "default", f"lease/{lease}")["spec"]["holderIdentity"] == "other@elsewhere/1"
    assert _names(cluster, namespace) == ["w0", "w1"]
    assert {r["name"]: r["result"] for r in json.loads(out)["results"]} == {"w0": "created", "w1": "created"}


def test_lists_are_paged_and_an_expired_continue_token_starts_over(cluster: Cluster, proxied: Proxied,
                                                                  namespace: str, tmp_path: Path) -> None:
    many = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"other-{i:04d}", "namespace": namespace}}
        for i in range(1100)]}
    cluster.kubectl("create", "-f", "-", stdin=json.dumps(many))
    probe = configmap(namespace, "zz-probe", {"k": "v"})  # listed last: on the third page
    apply(cluster, probe)
    app = tmp_path / "paged"
    write_files(app, {"probe.yaml": probe})
    expired = b'{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410}'
    proxied.proxy.add(Rule("answer", "GET", r"/configmaps\?.*continue=", status=410, body=expired))
    res = proxied.cli("kubectl-gitops-diff", str(app))
    assert res.returncode == 0, res.stdout + res.stderr
    assert statuses(res.stdout) == {(app.name, "ConfigMap", namespace, "zz-probe"): "Synced"}
    pages = [s.outcome for s in proxied.proxy.requests("GET", rf"/namespaces/{namespace}/configmaps\?limit=500")]
    assert pages == ["200", "410", "200", "200", "200"]


def test_a_write_refused_as_too_large_reports_the_servers_answer(cluster: Cluster, namespace: str,
                                                                  tmp_path: Path) -> None:
    app = tmp_path / "huge"
    write_files(app, {"cm.yaml": configmap(namespace, "huge", {"blob": "x" * (50 << 20)})})
    res = run_cli("kubectl-gitops-diff", str(app))
    assert res.returncode == 2, res.stderr
    assert "too large (413)" in res.stderr and "cannot reach" not in res.stderr


def test_a_rotated_service_account_token_is_read_again(cluster: Cluster, proxied: Proxied, namespace: str,
                                                        tmp_path: Path) -> None:
    """In a Pod the kubelet replaces the token file; a 401 makes us read it again (the proxy answers the
    first request 401, as the server does for an expired token, while the file is rotated)."""
    sa = f"rotating-{namespace}"
    cluster.kubectl("create", "serviceaccount", sa, "-n", namespace)
    cluster.kubectl("create", "clusterrolebinding", sa, "--clusterrole=cluster-admin",
                    f"--serviceaccount={namespace}:{sa}")
    try:
        token = cluster.kubectl("create", "token", sa, "-n", namespace).stdout.strip()
        mount = tmp_path / "serviceaccount"
        mount.mkdir()
        (mount / "token").write_text("expired-token")
        (mount / "ca.crt").write_bytes((cluster.kubeconfig.parent / "ca.crt").read_bytes())
        (mount / "namespace").write_text(namespace)
        unauthorized = b'{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}'
        proxied.proxy.add(Rule("answer", "GET", r"^/api$", status=401, body=unauthorized,
                               hook=lambda: (mount / "token").write_text(token)))
        app = _app(tmp_path, namespace, 1)
        res = run_cli("kubectl-gitops-diff", str(app), env={
            "KUBECONFIG": str(tmp_path / "absent"), "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": proxied.proxy.url.rsplit(":", 1)[1],
            "KUBECTL_GITOPS_SERVICEACCOUNT_DIR": str(mount)})
        assert res.returncode == 1, res.stderr
        first, second = proxied.proxy.requests("GET", r"^/api$")[:2]
        assert (first.authorization, first.outcome) == ("Bearer expired-token", "401")
        assert (second.authorization, second.outcome) == (f"Bearer {token}", "200")
    finally:
        cluster.kubectl("delete", "clusterrolebinding", sa, check=False)


def _waves(tmp_path: Path, namespace: str, n: int = 3) -> Path:
    app = tmp_path / f"waves-{namespace}"
    write_files(app, {f"w{i}.yaml": configmap(namespace, f"w{i}", {"k": "v"}, {"argocd.argoproj.io/sync-wave": str(i)})
                      for i in range(n)})
    return app


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_writes_releases_the_lease_and_reports_what_was_done(
        cluster: Cluster, proxied: Proxied, namespace: str, tmp_path: Path, signum: int, code: int) -> None:
    app = _waves(tmp_path, namespace)
    p = proxied.proxy
    p.add(Rule("pause", "PATCH", r"/configmaps/w1\?(?!.*dryRun)"))
    proc = subprocess.Popen([str(VENV_BIN / "kubectl-gitops"), "sync", str(app), "--timeout", "120", "-o", "json",
                             "--kubeconfig", str(proxied.kubeconfig)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: p.requests("PATCH", r"/configmaps/w1\?(?!.*dryRun)"), "the write of w1")
        signalled = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        p.release()
        proc.kill()
    assert proc.returncode == code, err
    assert f"interrupted by {signal.Signals(signum).name}; no further write was sent" in err
    assert "Traceback" not in err
    assert {r["name"]: r["result"] for r in json.loads(out)["results"]} == {"w0": "created"}
    later = [s for s in p.requests() if s.at > signalled and s.method != "GET" and "/configmaps/w1" not in s.path]
    assert [(s.method, "leases" in s.path) for s in later] == [("DELETE", True)]  # only the lease's release
    assert _lease_gone(cluster, app)


def test_the_api_server_killed_mid_sync_and_restarted_converges_on_rerun(cluster: Cluster, namespace: str,
                                                                         tmp_path: Path) -> None:
    app = tmp_path / f"restart-{namespace}"
    names = [f"c{i:02d}" for i in range(30)]
    write_files(app, {f"{n}.yaml": configmap(namespace, n, {"k": n}, {"argocd.argoproj.io/sync-wave": str(i // 10)})
                      for i, n in enumerate(names)})
    proc = subprocess.Popen([str(VENV_BIN / "kubectl-gitops"), "sync", str(app), "--timeout", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _names(cluster, namespace), "the first object")
        restart_api_server(cluster.kubeconfig.parent)
        log_file = cluster.kubeconfig.parent / "kube-apiserver.log"
        _wait_for(lambda: cluster.kubectl("get", "--raw", "/readyz", check=False).returncode == 0,
                  "the API server to be ready again", 120, lambda: log_file.read_text(errors="replace")[-2000:])
        _, err = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert "Traceback" not in err and proc.returncode in (0, 1), err
    res = run_cli("kubectl-gitops", "sync", str(app), "--timeout", "120")
    assert res.returncode == 0, res.stderr
    assert _names(cluster, namespace) == names  # each once
    res = run_cli("kubectl-gitops", "sync", str(app), "--timeout", "120")
    assert res.returncode == 0 and "(0 writes)" in res.stderr, res.stderr


def _wait_for(probe, what: str, timeout: float = 60, why=lambda: "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"gave up waiting for {what}: {why()}"
        time.sleep(0.1)
