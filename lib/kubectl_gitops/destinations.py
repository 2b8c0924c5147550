"""Which cluster each Application goes to, decided before anything is read from or written to it.

Pure: it reads a snapshot of the kubeconfig (contexts and cluster servers), Argo CD cluster Secrets
already fetched (only with --cluster-secrets), and the user's explicit map (--cluster, --clusters-file),
and answers with a Target or one error naming the app, the destination and what was looked at.

Order, as a user expects it: the explicit map; the in-cluster names (the current context); for
`server`, the kubeconfig clusters with that server URL (through the context that uses them), then the
cluster Secrets; for `name`, a context of that name, a kubeconfig cluster of that name, then a Secret's
`name`. Several contexts on one cluster: the run's own, else the one named like the cluster. A
destination with both fields, or one that matches nothing or more than one thing, is an error.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from kubectl_gitops.errors import GitopsError

IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
IN_CLUSTER_NAME = "in-cluster"
SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
SECRET_KEYS = frozenset({"name", "server", "config", "namespaces", "clusterResources", "project", "shard",
                         "clusterResourceBlacklist", "clusterResourceWhitelist"})
CONFIG_KEYS = frozenset({"bearerToken", "tlsClientConfig", "execProviderConfig", "username", "password",
                         "awsAuthConfig", "proxyUrl", "disableCompression"})
HONOURED_CONFIG = frozenset({"bearerToken", "tlsClientConfig", "execProviderConfig", "username", "password"})


@dataclass(frozen=True)
class ClusterSecret:
    """An Argo CD cluster Secret. `config` holds credentials: kept out of repr, never printed."""

    secret: str  # metadata.name, for messages
    name: str
    server: str
    project: str = ""
    config: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Inventory:
    """What resolution looks at: the merged kubeconfig and whatever else the user gave."""

    where: str  # the kubeconfig file(s), for messages
    current: str  # the context of the run (--context, else current-context)
    contexts: Mapping[str, str]  # context name -> its cluster name
    clusters: Mapping[str, str]  # kubeconfig cluster name -> its server URL
    explicit: Mapping[str, str] = field(default_factory=dict)  # NAME_OR_SERVER -> context (--cluster)
    secrets: Sequence[ClusterSecret] = ()
    secrets_read: str = ""  # where the Secrets were read ("" without --cluster-secrets)


@dataclass(frozen=True)
class Target:
    """Where an app goes: a kubeconfig context, or the cluster a Secret describes."""

    label: str  # the CLUSTER column: the context's name, or the Secret's cluster name
    context: str | None = None
    secret: ClusterSecret | None = None

    @property
    def key(self) -> str:
        """One connection per key."""
        return f"context/{self.context}" if self.context is not None else f"secret/{self.label}"


def normalize_server(url: str) -> str:
    """A server URL as compared: scheme and host lowercase, the scheme's default port dropped, no
    trailing slash (`https://Example:443/` is `https://example`)."""
    raw = url.strip()
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"https": 443, "http": 80}.get(scheme)
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def resolve(app: str, server: str, name: str, inv: Inventory, project: str = "default") -> Target:
    """The Target of one app's spec.destination (`server`/`name`, "" when not given)."""
    dest = f"destination.server {server!r}" if server else f"destination.name {name!r}"
    where = f"app {app}: {dest}"
    one_of(app, server, name)
    if not server and not name:
        return Target(label=inv.current, context=inv.current)
    for key, ctx in inv.explicit.items():
        if (name and key == name) or (server and "://" in key and normalize_server(key) == normalize_server(server)):
            if ctx not in inv.contexts:
                raise GitopsError(f"{where}: --cluster maps it to context {ctx!r}, which is not in {inv.where}",
                                  hint=f"known contexts: {', '.join(inv.contexts) or 'none'}")
            return Target(label=ctx, context=ctx)
    if (server and normalize_server(server) == IN_CLUSTER_SERVER) or name == IN_CLUSTER_NAME:
        return Target(label=inv.current, context=inv.current)
    found = _by_server(server, inv) if server else _by_name(name, inv)
    if len(found) == 1:
        target = found[0][0]
        if target.secret and target.secret.project and target.secret.project != project:
            raise GitopsError(f"{where}: cluster Secret {target.secret.secret} is for project "
                              f"{target.secret.project!r}, and the app is in project {project!r}")
        return target
    looked = _looked_at(inv)
    if not found:
        raise GitopsError(f"{where}: no such cluster (looked at {looked})",
                          hint="add it to the kubeconfig, pass --cluster "
                               f"{server or name}=CONTEXT, or --cluster-secrets to read Argo CD's cluster Secrets")
    raise GitopsError(f"{where}: {len(found)} candidates: {', '.join(why for _, why in found)}",
                      hint=f"choose one with --cluster {server or name}=CONTEXT")


def one_of(app: str, server: str, name: str) -> None:
    """A destination names its cluster by server or by name, not both (Argo CD refuses both)."""
    if server and name:
        raise GitopsError(f"app {app}: destination has both server {server!r} and name {name!r}; Argo CD "
                          "takes one or the other", hint="remove one of spec.destination.server and .name")


def _by_server(server: str, inv: Inventory) -> list[tuple[Target, str]]:
    want = normalize_server(server)
    clusters = {c for c, url in inv.clusters.items() if normalize_server(url) == want}
    contexts = _preferred([c for c, cl in inv.contexts.items() if cl in clusters], inv)
    found = [(Target(label=c, context=c), f"context {c}") for c in contexts]
    if found:
        return found
    return [(Target(label=s.name or s.server, secret=s), f"cluster Secret {s.secret}")
            for s in inv.secrets if normalize_server(s.server) == want]


def _by_name(name: str, inv: Inventory) -> list[tuple[Target, str]]:
    if name in inv.contexts:
        return [(Target(label=name, context=name), f"context {name}")]
    if name in inv.clusters:
        contexts = _preferred([c for c, cl in inv.contexts.items() if cl == name], inv)
        return [(Target(label=c, context=c), f"context {c} (of cluster {name})") for c in contexts]
    return [(Target(label=s.name, secret=s), f"cluster Secret {s.secret}") for s in inv.secrets if s.name == name]


def _preferred(contexts: list[str], inv: Inventory) -> list[str]:
    """Of several contexts reaching one cluster: the run's own, else the one named like its cluster
    (the usual admin context: kind, minikube, `kubectl config set-context`); else all, to choose from."""
    if len(contexts) < 2:
        return contexts
    if inv.current in contexts:
        return [inv.current]
    same = [c for c in contexts if inv.contexts[c] == c]
    return same or contexts


def _looked_at(inv: Inventory) -> str:
    parts = [f"kubeconfig {inv.where}: contexts {', '.join(inv.contexts) or 'none'}, cluster servers "
             f"{', '.join(sorted(set(inv.clusters.values()))) or 'none'}"]
    if inv.explicit:
        parts.append(f"--cluster {', '.join(inv.explicit)}")
    if inv.secrets_read:
        parts.append(f"cluster Secrets in {inv.secrets_read}: "
                     f"{', '.join(f'{s.name} ({s.server})' for s in inv.secrets) or 'none'}")
    else:
        parts.append("no cluster Secrets (--cluster-secrets reads them)")
    return "; ".join(parts)


# -- inputs -----------------------------------------------------------------------------------------

def parse_cluster_flags(values: Sequence[str], where: str = "--cluster") -> dict[str, str]:
    """`NAME_OR_SERVER=CONTEXT` pairs; the last '=' splits, since a server URL may hold none."""
    out: dict[str, str] = {}
    for v in values:
        key, sep, ctx = v.rpartition("=")
        if not sep or not key.strip() or not ctx.strip():
            raise GitopsError(f"{where}: {v!r} is not NAME_OR_SERVER=CONTEXT")
        out[key.strip()] = ctx.strip()
    return out


def parse_clusters_file(doc: Any, where: str) -> dict[str, str]:
    """A mapping file: `clusters: {NAME_OR_SERVER: CONTEXT, …}` (YAML or JSON)."""
    if not isinstance(doc, dict) or set(doc) != {"clusters"} or not isinstance(doc["clusters"], dict):
        raise GitopsError(f"{where}: expected one key, `clusters`, mapping each destination name or server "
                          "to a kubeconfig context")
    bad = [k for k, v in doc["clusters"].items() if not isinstance(k, str) or not isinstance(v, str) or not v]
    if bad:
        raise GitopsError(f"{where}: clusters.{bad[0]}: the context must be a non-empty string")
    return dict(doc["clusters"])


def parse_cluster_secret(obj: Mapping[str, Any], where: str) -> ClusterSecret:
    """An Argo CD cluster Secret's data; unknown or unhonoured keys are refused by name."""
    name = (obj.get("metadata") or {}).get("name") or "?"
    where = f"{where}: cluster Secret {name}"
    data = {k: _decode(v, f"{where}: data.{k}") for k, v in (obj.get("data") or {}).items()}
    data.update(obj.get("stringData") or {})
    unknown = sorted(set(data) - SECRET_KEYS)
    if unknown:
        raise GitopsError(f"{where}: unknown key {unknown[0]!r}", hint=f"known keys: {', '.join(sorted(SECRET_KEYS))}")
    limits = sorted(k for k in ("namespaces", "clusterResources", "clusterResourceBlacklist",
                                "clusterResourceWhitelist", "shard") if data.get(k))
    if limits:
        raise GitopsError(f"{where}: {limits[0]} is not supported by kubectl-gitops yet; refused rather than "
                          "ignored", hint=f"remove {limits[0]} from the Secret, or use Argo CD for this cluster")
    if not data.get("server"):
        raise GitopsError(f"{where}: no server")
    try:
        config = orjson.loads(data.get("config") or "{}")
    except orjson.JSONDecodeError:
        raise GitopsError(f"{where}: config is not JSON") from None  # its text may hold a token: not shown
    if not isinstance(config, dict):
        raise GitopsError(f"{where}: config must be a JSON object")
    refused = sorted((set(config) - HONOURED_CONFIG) & {k for k, v in config.items() if v not in (None, {}, "")})
    if refused:
        what = "unknown" if refused[0] not in CONFIG_KEYS else "not supported by kubectl-gitops yet:"
        raise GitopsError(f"{where}: config: {what} {refused[0]!r}",
                          hint="bearerToken, username/password, tlsClientConfig and execProviderConfig are")
    return ClusterSecret(secret=name, name=data.get("name") or "", server=data["server"].rstrip("/"),
                         project=data.get("project") or "", config=config)


def _decode(value: Any, where: str) -> str:
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise GitopsError(f"{where}: not base64 text") from None


def duplicate_names(secrets: Sequence[ClusterSecret], where: str) -> None:
    """Argo CD's cluster names are unique: two Secrets with one name would make `name` ambiguous."""
    seen: dict[str, str] = {}
    for s in secrets:
        if s.name and s.name in seen:
            raise GitopsError(f"{where}: cluster Secrets {seen[s.name]} and {s.secret} both name cluster {s.name!r}")
        seen[s.name] = s.secret
