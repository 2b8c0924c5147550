"""kubeconfig as kubectl reads it, checked against the real API server: merged KUBECONFIG files,
relative paths, CA data, insecure-skip-tls-verify, tls-server-name, tokenFile, client certificates and
exec plugins; broken configs are one clear error."""

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

from conftest import Cluster
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
        host, port = request.split()[1].rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
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
