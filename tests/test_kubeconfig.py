"""kubeconfig as kubectl reads it, checked against the real API server: merged KUBECONFIG files,
relative paths, CA data, insecure-skip-tls-verify, tls-server-name, tokenFile, client certificates and
exec plugins (expiry, refresh on 401), impersonation, proxies from the environment, kubectl's flags,
and the in-cluster service account; broken configs are one clear error."""

from __future__ import annotations

import base64
import os
import select
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from conftest import Cluster, run_cli
from diff_helpers import configmap, diff, error_of, statuses


@pytest.fixture
def app(namespace: str, tmp_path: Path) -> Path:
    """A one-ConfigMap app: a diff that lists it proves the connection and the credentials work."""
    d = tmp_path / "app"
    d.mkdir()
    (d / "cm.yaml").write_text(configmap(namespace, "probe", {"k": "v"}))
    return d


def _works(res: subprocess.CompletedProcess[str], namespace: str) -> None:
    assert res.returncode == 1, res.stderr
    assert statuses(res.stdout) == {("app", "ConfigMap", namespace, "probe"): "Missing"}


def _config(cluster: Cluster) -> dict:
    return yaml.safe_load(cluster.kubeconfig.read_text())


def _admin_token(cluster: Cluster) -> str:
    return next(u["user"]["token"] for u in _config(cluster)["users"] if u["name"] == "admin")


def _write(path: Path, cfg: dict) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _single(cluster: Cluster, cluster_entry: dict, user_entry: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "k", "cluster": cluster_entry}],
            "users": [{"name": "u", "user": user_entry}],
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}


def test_kubeconfig_list_is_merged_first_wins(cluster: Cluster, namespace: str, app: Path, tmp_path: Path) -> None:
    cfg = _config(cluster)
    contexts_only = _write(tmp_path / "a", {"current-context": "local", "contexts": cfg["contexts"]})
    rest = _write(tmp_path / "b", {"clusters": cfg["clusters"], "users": cfg["users"]})
    missing = str(tmp_path / "absent")
    _works(diff(str(app), env={"KUBECONFIG": os.pathsep.join([missing, contexts_only, rest])}), namespace)

    closed = {**cfg, "clusters": [{"name": "local", "cluster": {**cfg["clusters"][0]["cluster"],
                                                                 "server": "https://127.0.0.1:1"}}]}
    closed_file = _write(tmp_path / "closed", closed)
    _works(diff(str(app), env={"KUBECONFIG": os.pathsep.join([str(cluster.kubeconfig), closed_file])}), namespace)
    msg = error_of(diff(str(app), env={"KUBECONFIG": os.pathsep.join([closed_file, str(cluster.kubeconfig)])}))
    assert msg.startswith("error: cannot reach the cluster at https://127.0.0.1:1")


def test_relative_paths_ca_data_and_token_file(cluster: Cluster, namespace: str, app: Path, tmp_path: Path) -> None:
    server = cluster.server
    ca = (cluster.kubeconfig.parent / "ca.crt").read_bytes()
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "ca.pem").write_bytes(ca)
    (tmp_path / "cfg" / "token").write_text(_admin_token(cluster) + "\n")
    relative = _write(tmp_path / "cfg" / "config", _single(
        cluster, {"server": server, "certificate-authority": "ca.pem"}, {"tokenFile": "token"}))
    _works(diff(str(app), "--kubeconfig", relative, cwd=tmp_path), namespace)

    embedded = _write(tmp_path / "embedded", _single(
        cluster, {"server": server, "certificate-authority-data": base64.b64encode(ca).decode()},
        {"token": _admin_token(cluster)}))
    _works(diff(str(app), "--kubeconfig", embedded), namespace)


def test_tls_verification(cluster: Cluster, namespace: str, app: Path, tmp_path: Path) -> None:
    token = {"token": _admin_token(cluster)}
    ca = str(cluster.kubeconfig.parent / "ca.crt")
    no_ca = _write(tmp_path / "no-ca", _single(cluster, {"server": cluster.server}, token))
    msg = error_of(diff(str(app), "--kubeconfig", no_ca))
    assert msg.startswith(f"error: cannot reach the cluster at {cluster.server}") and "CERTIFICATE_VERIFY_FAILED" in msg

    insecure = _write(tmp_path / "insecure", _single(
        cluster, {"server": cluster.server, "insecure-skip-tls-verify": True}, token))
    _works(diff(str(app), "--kubeconfig", insecure), namespace)

    # The serving certificate names `kubernetes`, not `wrong.example`.
    for name, ok in (("kubernetes", True), ("wrong.example", False)):
        path = _write(tmp_path / name, _single(
            cluster, {"server": cluster.server, "certificate-authority": ca, "tls-server-name": name}, token))
        res = diff(str(app), "--kubeconfig", path)
        if ok:
            _works(res, namespace)
        else:
            assert "CERTIFICATE_VERIFY_FAILED" in error_of(res)


def _client_cert(cluster: Cluster, d: Path) -> tuple[Path, Path]:
    """A client certificate the cluster's CA signed, for a member of system:masters."""
    pki = cluster.kubeconfig.parent
    key, csr, crt = d / "client.key", d / "client.csr", d / "client.crt"
    d.mkdir(parents=True, exist_ok=True)
    for args in (["req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
                  "-subj", "/O=system:masters/CN=cert-admin"],
                 ["x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
                  "-CAcreateserial", "-CAserial", str(d / "ca.srl"), "-days", "1", "-out", str(crt)]):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    return crt, key


def test_client_certificate(cluster: Cluster, namespace: str, app: Path, tmp_path: Path) -> None:
    crt, key = _client_cert(cluster, tmp_path / "pki")
    server = {"server": cluster.server, "certificate-authority": str(cluster.kubeconfig.parent / "ca.crt")}
    files = _write(tmp_path / "files", _single(cluster, server, {"client-certificate": str(crt),
                                                                 "client-key": str(key)}))
    _works(diff(str(app), "--kubeconfig", files), namespace)
    data = _write(tmp_path / "data", _single(cluster, server, {
        "client-certificate-data": base64.b64encode(crt.read_bytes()).decode(),
        "client-key-data": base64.b64encode(key.read_bytes()).decode()}))
    _works(diff(str(app), "--kubeconfig", data), namespace)


def test_exec_plugin(cluster: Cluster, namespace: str, app: Path, tmp_path: Path) -> None:
    plugin = tmp_path / "get-token"
    plugin.write_text("#!/bin/sh\n"
                      'case "$KUBERNETES_EXEC_INFO" in *ExecCredential*) ;; *) exit 3 ;; esac\n'
                      'printf \'{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", '
                      '"status": {"token": "%s"}}\' "$TOKEN"\n')
    plugin.chmod(0o755)
    server = {"server": cluster.server, "certificate-authority": str(cluster.kubeconfig.parent / "ca.crt")}
    exec_user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin),
                          "env": [{"name": "TOKEN", "value": _admin_token(cluster)}]}}
    good = _write(tmp_path / "exec", _single(cluster, server, exec_user))
    _works(diff(str(app), "--kubeconfig", good), namespace)

    failing = {"exec": {**exec_user["exec"], "command": "false"}}
    msg = error_of(diff(str(app), "--kubeconfig", _write(tmp_path / "failing", _single(cluster, server, failing))))
    assert msg.startswith("error: kubeconfig user 'u': exec plugin 'false' failed (exit 1)"), msg
    absent = {"exec": {**exec_user["exec"], "command": "no-such-plugin", "installHint": "install no-such-plugin"}}
    msg = error_of(diff(str(app), "--kubeconfig", _write(tmp_path / "absent", _single(cluster, server, absent))))
    assert msg.startswith("error: kubeconfig user 'u': exec plugin 'no-such-plugin' could not run"), msg
    assert "hint: install no-such-plugin" in msg


def test_broken_kubeconfigs(cluster: Cluster, namespace: str, app: Path, tmp_path: Path) -> None:
    cfg = _single(cluster, {"server": cluster.server}, {"token": "t"})
    no_current = _write(tmp_path / "no-current", {**cfg, "current-context": ""})
    assert error_of(diff(str(app), "--kubeconfig", no_current)) == (
        f"error: no current-context in {no_current}\nhint: pass --context\n")
    dangling = _write(tmp_path / "dangling", {**cfg, "users": []})
    assert error_of(diff(str(app), "--kubeconfig", dangling)) == (
        f"error: context 'c' names user 'u', which is not in {dangling}\n")
    (tmp_path / "invalid").write_text("clusters: [\n")
    msg = error_of(diff(str(app), "--kubeconfig", str(tmp_path / "invalid")))
    assert msg.startswith(f"error: {tmp_path / 'invalid'}:2:1: invalid YAML")


class _ConnectProxy(threading.Thread):
    """A real HTTP CONNECT proxy on 127.0.0.1 that records each tunnel request it serves."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.seen: list[str] = []  # the request line and headers of each CONNECT

    def run(self) -> None:
        while True:
            client, _ = self.listener.accept()
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += client.recv(4096)
        request = head.decode()
        self.seen.append(request)
        _, port = request.split()[1].rsplit(":", 1)
        upstream = socket.create_connection(("127.0.0.1", int(port)))  # whatever the name: loopback only
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        socks = [client, upstream]
        while True:
            for s in select.select(socks, [], [])[0]:
                data = s.recv(65536)
                if not data:
                    client.close()
                    upstream.close()
                    return
                (upstream if s is client else client).sendall(data)


def test_proxy_url_tunnels_through_the_proxy(cluster: Cluster, namespace: str, app: Path, tmp_path: Path) -> None:
    proxy = _ConnectProxy()
    proxy.start()
    api = cluster.server.removeprefix("https://")
    path = _write(tmp_path / "proxied", _single(cluster, {
        "server": cluster.server, "certificate-authority": str(cluster.kubeconfig.parent / "ca.crt"),
        "tls-server-name": "kubernetes", "proxy-url": f"http://user:p%40ss@127.0.0.1:{proxy.port}"},
        {"token": _admin_token(cluster)}))
    _works(diff(str(app), "--kubeconfig", path), namespace)
    assert proxy.seen, "no request went through the proxy"
    auth = "Proxy-Authorization: Basic " + base64.b64encode(b"user:p@ss").decode()
    assert all(r.startswith(f"CONNECT {api} HTTP/1.") and auth in r for r in proxy.seen), proxy.seen


def test_https_proxy_from_the_environment_and_loopback_never_proxied(cluster: Cluster, namespace: str, app: Path,
                                                                     tmp_path: Path) -> None:
    proxy = _ConnectProxy()
    proxy.start()
    port = cluster.server.rsplit(":", 1)[1]
    ca = str(cluster.kubeconfig.parent / "ca.crt")
    by_name = _write(tmp_path / "by-name", _single(cluster, {"server": f"https://kubernetes.default.svc:{port}",
                                                              "certificate-authority": ca},
                                                   {"token": _admin_token(cluster)}))
    env = {"HTTPS_PROXY": f"127.0.0.1:{proxy.port}", "NO_PROXY": "example.com,.cluster.local"}
    _works(diff(str(app), "--kubeconfig", by_name, env=env), namespace)
    assert proxy.seen and all(r.startswith(f"CONNECT kubernetes.default.svc:{port} ") for r in proxy.seen)
    tunnels = len(proxy.seen)
    _works(diff(str(app), env=env), namespace)  # the cluster's own kubeconfig names 127.0.0.1
    assert len(proxy.seen) == tunnels


@pytest.mark.parametrize(("no_proxy", "server", "proxied"), [
    ("", "https://api.example.com:6443", True),
    ("example.com", "https://api.example.com:6443", False),
    (".example.com", "https://example.com", True),
    ("*.example.com", "https://a.example.com", False),
    ("api.example.com:443", "https://api.example.com:6443", True),
    ("api.example.com:6443", "https://api.example.com:6443", False),
    ("10.0.0.0/8", "https://10.1.2.3", False),
    ("*", "https://10.1.2.3", False),
    ("", "https://127.0.0.1:6443", False),
    ("", "https://localhost:6443", False),
])
def test_no_proxy_matches_like_go(monkeypatch: pytest.MonkeyPatch, no_proxy: str, server: str, proxied: bool) -> None:
    from kubectl_gitops.kubeconfig import proxy_from_environment

    monkeypatch.setenv("HTTPS_PROXY", "proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    assert proxy_from_environment(server) == ("http://proxy.example:3128" if proxied else None)


def _sync(app: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    res = run_cli("kubectl-gitops", "sync", str(app), "--timeout", "60", *args, env=env)
    assert "Traceback" not in res.stderr, res.stderr
    return res


def test_impersonation_from_the_kubeconfig_and_the_flags(cluster: Cluster, namespace: str, app: Path,
                                                         tmp_path: Path) -> None:
    """A user entry with `as:` writes as the impersonated user, never as the base identity."""
    server = {"server": cluster.server, "certificate-authority": str(cluster.kubeconfig.parent / "ca.crt")}
    as_limited = _write(tmp_path / "as", _single(cluster, server, {"token": _admin_token(cluster), "as": "limited"}))
    res = _sync(app, "--kubeconfig", as_limited)
    assert res.returncode == 2 and 'User "limited" cannot' in res.stderr, res.stderr
    res = _sync(app, "--as", "nobody")
    assert res.returncode == 2 and 'User "nobody" cannot' in res.stderr, res.stderr
    assert cluster.kubectl("get", "-n", namespace, "configmap/probe", check=False).returncode != 0
    msg = error_of(diff(str(app), "--as", "limited"))  # a diff's dry-run needs the right to patch
    assert 'User "limited" cannot patch' in msg and "impersonated user 'limited' lacks RBAC permission" in msg
    res = _sync(app, "--as", "nobody", "--as-group", "system:masters", "--as-group", "system:authenticated")
    assert res.returncode == 0, res.stderr
    extra = _write(tmp_path / "extra", _single(cluster, server, {"token": _admin_token(cluster), "as-groups": ["x"]}))
    msg = error_of(diff(str(app), "--kubeconfig", extra))
    assert "needs a user to impersonate" in msg


def test_flags_replace_the_kubeconfig(cluster: Cluster, namespace: str, app: Path, tmp_path: Path) -> None:
    """--server, --token, --certificate-authority and --insecure-skip-tls-verify work without any kubeconfig."""
    ca = str(cluster.kubeconfig.parent / "ca.crt")
    none = {"KUBECONFIG": str(tmp_path / "absent")}
    _works(diff(str(app), "-s", cluster.server, "--token", _admin_token(cluster), "--certificate-authority", ca,
                env=none), namespace)
    _works(diff(str(app), "--server", cluster.server, "--token", _admin_token(cluster), "--insecure-skip-tls-verify",
                env=none), namespace)
    res = diff(str(app), "--server", cluster.server, "--token", _admin_token(cluster), env=none)
    assert res.returncode == 2 and "certificate verify failed" in res.stderr, res.stderr
    res = diff(str(app), "--token", "wrong")
    assert res.returncode == 2 and "unauthorized (401)" in res.stderr, res.stderr
    msg = error_of(diff(str(app), env=none))
    assert "no kubeconfig found" in msg and "not running in a cluster" in msg
    res = diff(str(app), "--request-timeout", "1m30s")
    assert res.returncode == 1, res.stderr
    res = diff(str(app), "--request-timeout", "soon")
    assert res.returncode == 2 and "'soon' is not a duration" in res.stderr


def test_exec_credentials_are_fetched_again_on_401_and_when_expired(cluster: Cluster, namespace: str, app: Path,
                                                                    tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    plugin = tmp_path / "get-token"
    # The first run hands out a token the server rejects; each run counts itself.
    plugin.write_text("#!/bin/sh\n"
                      f'echo x >> {runs}\n'
                      f'if [ "$(wc -l < {runs})" -eq 1 ]; then t=expired; else t="$TOKEN"; fi\n'
                      'printf \'{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", '
                      '"status": {"token": "%s", "expirationTimestamp": "%s"}}\' "$t" "$EXPIRES"\n')
    plugin.chmod(0o755)
    server = {"server": cluster.server, "certificate-authority": str(cluster.kubeconfig.parent / "ca.crt")}

    def user(expires: str) -> dict:
        return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin),
                         "env": [{"name": "TOKEN", "value": _admin_token(cluster)},
                                 {"name": "EXPIRES", "value": expires}]}}

    later = _write(tmp_path / "later", _single(cluster, server, user("2999-01-01T00:00:00Z")))
    _works(diff(str(app), "--kubeconfig", later), namespace)
    assert runs.read_text().count("x") == 2  # the rejected one, and once more after the 401
    runs.unlink()
    runs.write_text("x\n")  # the plugin now always hands out the good token
    expired = _write(tmp_path / "expired", _single(cluster, server, user("2000-01-01T00:00:00Z")))
    _works(diff(str(app), "--kubeconfig", expired), namespace)
    assert runs.read_text().count("x") > 3  # fetched again for each request: it is always expired


def test_in_cluster_service_account(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    """No kubeconfig anywhere: the Pod's service account (a real token of a real ServiceAccount and the
    cluster's CA, at the mount path KUBECTL_GITOPS_SERVICEACCOUNT_DIR points to) and its namespace."""
    sa = f"deployer-{namespace}"
    cluster.kubectl("create", "serviceaccount", sa, "-n", namespace)
    cluster.kubectl("create", "clusterrolebinding", sa, "--clusterrole=cluster-admin",
                    f"--serviceaccount={namespace}:{sa}")
    try:
        mount = tmp_path / "serviceaccount"
        mount.mkdir()
        (mount / "token").write_text(cluster.kubectl("create", "token", sa, "-n", namespace).stdout.strip())
        (mount / "ca.crt").write_bytes((cluster.kubeconfig.parent / "ca.crt").read_bytes())
        (mount / "namespace").write_text(namespace)
        host, port = cluster.server.removeprefix("https://").rsplit(":", 1)
        env = {"KUBECONFIG": str(tmp_path / "absent"), "KUBERNETES_SERVICE_HOST": host,
               "KUBERNETES_SERVICE_PORT": port, "KUBECTL_GITOPS_SERVICEACCOUNT_DIR": str(mount)}
        app = tmp_path / "app"
        app.mkdir()
        (app / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: in-pod}\ndata: {k: v}\n")
        res = diff(str(app), env=env)
        assert res.returncode == 1, res.stderr
        assert statuses(res.stdout) == {("app", "ConfigMap", namespace, "in-pod"): "Missing"}
        res = _sync(app, "--lock-namespace", namespace, env=env)
        assert res.returncode == 0, res.stderr
        cm = cluster.get("-n", namespace, "configmap/in-pod")
        assert cm["data"] == {"k": "v"}
        (mount / "token").write_text("not-a-token")
        res = diff(str(app), env=env)
        assert res.returncode == 2 and "unauthorized (401)" in res.stderr, res.stderr
    finally:
        cluster.kubectl("delete", "clusterrolebinding", sa, check=False)
