"""Where the cluster is and who we are, resolved the way kubectl resolves it: kubeconfig, then the
in-cluster service account, with kubectl's flags over both.

KUBECONFIG may list several files: the first to define a cluster, user or context name (or a
current-context) wins; relative paths in a file are relative to that file. Credentials: token,
tokenFile, client certificate, basic auth, or an exec plugin (credentials.py); impersonation (`as`,
`as-uid`, `as-groups`, `as-user-extra`, or --as/--as-group/--as-uid) becomes Impersonate-* headers.
Proxy: the cluster's proxy-url, else HTTPS_PROXY/HTTP_PROXY unless NO_PROXY matches (loopback never
goes through a proxy, as in Go). Only the legacy `auth-provider` plugins are left to the kubernetes
client: it takes ~0.3 s to import, a third of a no-change diff of 1,000 objects.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from kubectl_gitops import credentials, yamlio
from kubectl_gitops.credentials import Credentials, Headers, Secret
from kubectl_gitops.errors import GitopsError

Doc = dict[str, Any]
SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SERVICEACCOUNT_DIR_ENV = "KUBECTL_GITOPS_SERVICEACCOUNT_DIR"  # another mount path (tests, sidecars)


@dataclass(frozen=True)
class KubeOptions:
    """kubectl's connection flags."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    server: str | None = None
    token: str | None = None
    certificate_authority: str | None = None
    insecure_skip_tls_verify: bool = False
    as_user: str | None = None
    as_groups: tuple[str, ...] = ()
    as_uid: str | None = None
    request_timeout: float | None = None  # seconds; None: our default, 0: none


@dataclass(frozen=True)
class Tls:
    ca: bytes | None
    insecure: bool
    server_name: str | None
    client: tuple[bytes, bytes] | None = None

    def context(self, client: tuple[bytes, bytes] | None = None) -> ssl.SSLContext:
        # Like kubectl: the cluster's CA when one is named (then the system store, whose loading
        # costs ~30 ms, is not read), else the system's CAs.
        ca = None if self.insecure else self.ca
        ctx = ssl.create_default_context(cadata=ca.decode()) if ca else ssl.create_default_context()
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if client or self.client:
            _load_cert_chain(ctx, *(client or self.client))  # type: ignore[misc]
        return ctx


@dataclass(frozen=True)
class Connection:
    context: str
    server: str
    namespace: str | None
    tls: Tls
    proxy_url: str | None
    credentials: Credentials = field(compare=False)


@dataclass
class _Config:
    """Named entries of the merged files, each with the directory of the file it came from."""

    where: str  # for messages: the path(s) read
    current_context: str
    entries: dict[str, dict[str, tuple[Doc, Path]]]  # "clusters"/"users"/"contexts" -> name -> (doc, dir)


def connection(opts: KubeOptions) -> Connection:
    """The connection for --context (default: current-context) of --kubeconfig, $KUBECONFIG or
    ~/.kube/config; without any kubeconfig, the in-cluster service account (or the flags alone)."""
    cfg = _read(opts.kubeconfig)
    if cfg is None:
        return _in_cluster(opts) or _flags_only(opts)
    names = list(cfg.entries["contexts"])  # in file order
    name = opts.context or cfg.current_context
    if not name:
        raise GitopsError(f"no current-context in {cfg.where}", hint="pass --context")
    if name not in cfg.entries["contexts"]:
        raise GitopsError(f"context {name!r} does not exist in {cfg.where}",
                          hint=f"known contexts: {', '.join(names) or 'none'}")
    ctx, _ = cfg.entries["contexts"][name]
    cluster, cluster_dir = _named(cfg, "clusters", ctx.get("cluster"), name)
    user, user_dir = _named(cfg, "users", ctx.get("user"), name) if ctx.get("user") else ({}, Path("."))
    server = opts.server or cluster.get("server")
    if not server:
        raise GitopsError(f"cluster {ctx.get('cluster')!r} of context {name!r} has no server ({cfg.where})")
    cert, key = _pem(user, "client-certificate", user_dir), _pem(user, "client-key", user_dir)
    tls = _tls(opts, _pem(cluster, "certificate-authority", cluster_dir), bool(cluster.get("insecure-skip-tls-verify")),
               cluster.get("tls-server-name"), (cert, key) if cert and key else None)
    fetch, max_age = _authentication(opts, user, user_dir, cfg, name, ctx.get("user"))
    return _connection(name, server, opts.namespace or ctx.get("namespace"), tls, cluster.get("proxy-url"),
                       Credentials(fetch, _impersonation(opts, user), max_age=max_age))


def index(opts: KubeOptions) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """What the kubeconfig offers, for choosing a destination's cluster: (the file(s), the run's
    context, context -> cluster name, cluster name -> server). Without a kubeconfig: the in-cluster
    service account alone."""
    cfg = _read(opts.kubeconfig)
    if cfg is None:
        return "the in-cluster service account", "in-cluster", {}, {}
    contexts = {n: str((c or {}).get("cluster") or "") for n, (c, _) in cfg.entries["contexts"].items()}
    clusters = {n: str((c or {}).get("server") or "") for n, (c, _) in cfg.entries["clusters"].items()}
    return cfg.where, opts.context or cfg.current_context, contexts, clusters


def secret_connection(label: str, server: str, config: Doc, opts: KubeOptions) -> Connection:
    """A connection from an Argo CD cluster Secret's `config` (bearerToken, username/password,
    tlsClientConfig, execProviderConfig); its credentials stay in memory."""
    where = f"cluster Secret {label}"
    tls_cfg = config.get("tlsClientConfig") or {}
    ca, cert, key = (base64.b64decode(tls_cfg[k]) if tls_cfg.get(k) else None
                     for k in ("caData", "certData", "keyData"))
    tls = Tls(ca=ca, insecure=bool(tls_cfg.get("insecure")), server_name=tls_cfg.get("serverName") or None,
              client=(cert, key) if cert and key else None)
    fetch: credentials.Fetch | None = None
    exec_cfg = config.get("execProviderConfig")
    if exec_cfg:  # Argo CD's env is a map; kubeconfig's a list of {name, value}
        env = [{"name": k, "value": v} for k, v in (exec_cfg.get("env") or {}).items()]
        fetch = credentials.exec_plugin({**exec_cfg, "env": env}, where)
    elif config.get("bearerToken"):
        fetch = _static(f"Bearer {config['bearerToken']}")
    elif config.get("username") and config.get("password"):
        fetch = _static("Basic " + base64.b64encode(f"{config['username']}:{config['password']}".encode()).decode())
    return _connection(label, server, None, tls, None, Credentials(fetch, _impersonation(opts, {})))


def _connection(context: str, server: str, namespace: str | None, tls: Tls, proxy_url: str | None,
                creds: Credentials) -> Connection:
    server = server.rstrip("/")
    if "://" not in server:  # kubectl accepts host:port
        server = f"https://{server}"
    return Connection(context=context, server=server, namespace=namespace, tls=tls,
                      proxy_url=proxy_url or proxy_from_environment(server), credentials=creds)


def _tls(opts: KubeOptions, ca: bytes | None, insecure: bool, server_name: str | None,
         client: tuple[bytes, bytes] | None) -> Tls:
    if opts.certificate_authority and opts.insecure_skip_tls_verify:
        raise GitopsError("--certificate-authority and --insecure-skip-tls-verify exclude each other")
    if opts.certificate_authority:
        ca, insecure = _read_file(opts.certificate_authority, "--certificate-authority"), False
    return Tls(ca=ca, insecure=insecure or opts.insecure_skip_tls_verify, server_name=server_name, client=client)


def _authentication(opts: KubeOptions, user: Doc, user_dir: Path, cfg: _Config, context: str,
                    user_name: str | None) -> tuple[credentials.Fetch | None, float | None]:
    where = f"kubeconfig user {user_name!r}"
    if opts.token:
        return _static(f"Bearer {opts.token}"), None
    if user.get("exec"):
        return credentials.exec_plugin(user["exec"], where), None
    if user.get("token"):
        return _static(f"Bearer {user['token']}"), None
    if user.get("tokenFile"):
        return credentials.token_file(Path(_file(user["tokenFile"], user_dir)), where), credentials.TOKEN_FILE_SECONDS
    if user.get("username") and user.get("password"):
        return _static("Basic " + base64.b64encode(f"{user['username']}:{user['password']}".encode()).decode()), None
    if user.get("auth-provider"):
        return _static(_auth_provider(cfg, context)), None
    return None, None


def _static(authorization: str | None) -> credentials.Fetch:
    secret = Secret(authorization=authorization)
    return lambda: secret


def _impersonation(opts: KubeOptions, user: Doc) -> Headers:
    """Impersonate-* headers; each flag replaces its kubeconfig field, as in kubectl."""
    name = opts.as_user or user.get("as")
    groups = list(opts.as_groups) or list(user.get("as-groups") or [])
    uid = opts.as_uid or user.get("as-uid")
    extra = user.get("as-user-extra") or {}
    if not name and (groups or uid or extra):
        raise GitopsError("impersonating groups, a UID or extra fields needs a user to impersonate too",
                          hint="set `as` in the kubeconfig user, or pass --as")
    if not name:
        return []
    out = [("Impersonate-User", str(name)), *(("Impersonate-Group", str(g)) for g in groups)]
    if uid:
        out.append(("Impersonate-Uid", str(uid)))
    for key, values in extra.items():
        out += [(f"Impersonate-Extra-{quote(str(key), safe='')}", str(v)) for v in values or []]
    return out


def _in_cluster(opts: KubeOptions) -> Connection | None:
    """A Pod's own service account: the token and CA the kubelet mounts, the API server's Service."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return None
    d = Path(os.environ.get(SERVICEACCOUNT_DIR_ENV) or SERVICEACCOUNT_DIR)
    where = f"in-cluster service account ({d})"
    if not (d / "token").is_file():
        raise GitopsError(f"{where}: no token at {d / 'token'}", hint="mount the service account token, "
                          "or pass --kubeconfig")
    ns = (d / "namespace").read_text().strip() if (d / "namespace").is_file() else None
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    fetch = _static(f"Bearer {opts.token}") if opts.token else credentials.token_file(d / "token", where)
    ca = _read_file(str(d / "ca.crt"), where) if (d / "ca.crt").is_file() else None
    return _connection("in-cluster", opts.server or f"https://{authority}", opts.namespace or ns,
                       _tls(opts, ca, False, None, None), None,
                       Credentials(fetch, _impersonation(opts, {}),
                                   max_age=None if opts.token else credentials.TOKEN_FILE_SECONDS))


def _flags_only(opts: KubeOptions) -> Connection:
    _, where = _paths(opts.kubeconfig)
    if not opts.server:
        raise GitopsError(f"no kubeconfig found at {where}, and not running in a cluster "
                          "(KUBERNETES_SERVICE_HOST is not set)",
                          hint="pass --kubeconfig or set KUBECONFIG (or --server)")
    fetch = _static(f"Bearer {opts.token}") if opts.token else None
    return _connection("", opts.server, opts.namespace, _tls(opts, None, False, None, None), None,
                       Credentials(fetch, _impersonation(opts, {})))


def proxy_from_environment(server: str) -> str | None:
    """HTTPS_PROXY (HTTP_PROXY for an http:// server) unless NO_PROXY matches; loopback is never proxied."""
    url = urlsplit(server)
    host = (url.hostname or "").lower()
    env = "https_proxy" if url.scheme == "https" else "http_proxy"
    proxy = os.environ.get(env.upper()) or os.environ.get(env)
    if not proxy or host == "localhost" or _is_loopback(host):
        return None
    no_proxy = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    port = str(url.port or (443 if url.scheme == "https" else 80))
    if any(_no_proxy_matches(entry.strip().lower(), host, port) for entry in no_proxy.split(",")):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _no_proxy_matches(entry: str, host: str, port: str) -> bool:
    """One NO_PROXY entry, as Go reads it: `*`, an IP or CIDR, or a domain (`.d` or `d`: the domain's
    hosts), each optionally with `:port`."""
    if not entry:
        return False
    if entry == "*":
        return True
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        pass
    name, sep, entry_port = entry.rpartition(":") if entry.count(":") == 1 else ("", "", "")
    if sep:
        if entry_port != port:
            return False
        entry = name
    entry = entry.removeprefix("*")
    if entry.startswith("."):
        return host.endswith(entry)
    return host == entry or host.endswith("." + entry)


def _paths(explicit: str | None) -> tuple[list[Path], str]:
    if explicit:
        return [Path(explicit)], explicit
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p], env
    default = Path.home() / ".kube" / "config"
    return [default], str(default)


def _read(explicit: str | None) -> _Config | None:
    """The merged kubeconfig files; None when none exists (an explicit --kubeconfig must)."""
    paths, where = _paths(explicit)
    existing = [p for p in paths if p.is_file()]
    if not existing:
        if explicit:
            raise GitopsError(f"no kubeconfig found at {where}", hint="check --kubeconfig")
        return None
    cfg = _Config(where=where, current_context="", entries={"clusters": {}, "users": {}, "contexts": {}})
    for path in existing:
        doc = yamlio.load(path.read_bytes(), str(path)) or {}
        if not isinstance(doc, dict):
            raise GitopsError(f"{path}: not a kubeconfig (a mapping)")
        cfg.current_context = cfg.current_context or doc.get("current-context") or ""
        for section, entries in cfg.entries.items():
            for item in doc.get(section) or []:
                key = section[:-1]  # clusters -> cluster
                if isinstance(item, dict) and item.get("name") and item["name"] not in entries:
                    entries[item["name"]] = (item.get(key) or {}, path.parent)
    return cfg


def _named(cfg: _Config, section: str, name: str | None, context: str) -> tuple[Doc, Path]:
    if not name or name not in cfg.entries[section]:
        raise GitopsError(f"context {context!r} names {section[:-1]} {name!r}, which is not in {cfg.where}")
    return cfg.entries[section][name]


def _file(value: str, base: Path) -> str:
    path = Path(os.path.expanduser(value))
    return str(path if path.is_absolute() else base / path)


def _read_file(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise GitopsError(f"{what}: cannot read {e.filename}: {e.strerror}") from None


def _pem(doc: Doc, key: str, base: Path) -> bytes | None:
    """`key`-data (base64) or the file `key` names."""
    if doc.get(f"{key}-data"):
        return base64.b64decode(doc[f"{key}-data"])
    if doc.get(key):
        return _read_file(_file(doc[key], base), f"kubeconfig {key}")
    return None


def _load_cert_chain(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """ssl loads client certificates only from files: write them to a private directory for a moment."""
    with tempfile.TemporaryDirectory(prefix="kubectl-gitops-") as d:
        cert_file, key_file = Path(d) / "client.crt", Path(d) / "client.key"
        cert_file.write_bytes(cert)
        key_file.touch(mode=0o600)
        key_file.write_bytes(key)
        try:
            ctx.load_cert_chain(str(cert_file), str(key_file))
        except ssl.SSLError as e:
            raise GitopsError(f"kubeconfig client certificate/key cannot be used: {e}") from None


def _auth_provider(cfg: _Config, context: str) -> str | None:
    """Legacy auth-provider plugins (oidc, …): the kubernetes client's loader, imported only here."""
    from kubernetes import client
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigLoader

    merged = {section: [{"name": n, section[:-1]: doc} for n, (doc, _) in entries.items()]
              for section, entries in cfg.entries.items()}
    conf = client.Configuration()
    try:
        KubeConfigLoader(config_dict=merged, active_context=context).load_and_set(conf)
    except ConfigException as e:
        raise GitopsError(f"invalid kubeconfig {cfg.where}: {e}") from None
    return conf.get_api_key_with_prefix("authorization")
