"""One connection per destination cluster. The run's own context (--context, else current-context)
is the management cluster: argocd-cm, the cluster Secrets and the notifications live there. Every
other cluster is connected when an app first needs it, once, and shared by all its apps (discovery,
LIST cache and Leases are per Client)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from kubectl_gitops import kubeconfig, yamlio
from kubectl_gitops.apps import App
from kubectl_gitops.cluster import ApiError, Client, connect
from kubectl_gitops.destinations import (
    SECRET_TYPE_LABEL,
    ClusterSecret,
    Inventory,
    Target,
    duplicate_names,
    parse_cluster_flags,
    parse_cluster_secret,
    parse_clusters_file,
    resolve,
)
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.kubeconfig import KubeOptions


@dataclass(frozen=True)
class FleetOptions:
    """--cluster, --clusters-file and --cluster-secrets."""

    clusters: tuple[str, ...] = ()
    clusters_file: str | None = None
    cluster_secrets: bool = False
    config_namespace: str = "argocd"  # where the cluster Secrets are read

    def explicit(self) -> dict[str, str]:
        out = {}
        if self.clusters_file:
            path = Path(self.clusters_file)
            try:
                text = path.read_bytes()
            except OSError as e:
                raise GitopsError(f"--clusters-file: cannot read {path}: {e.strerror}") from None
            out.update(parse_clusters_file(yamlio.load(text, str(path)), str(path)))
        out.update(parse_cluster_flags(self.clusters))  # a flag wins over the file
        return out


@dataclass
class Fleet:
    kube: KubeOptions
    management: Client
    inventory: Inventory
    _clients: dict[str, Client] = field(default_factory=dict)
    _targets: dict[str, Target] = field(default_factory=dict)  # app name -> its cluster
    _deadline: tuple[float, float] | None = None  # (monotonic deadline, --timeout) of every client
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def connect(cls, kube: KubeOptions, opts: FleetOptions | None = None) -> Fleet:
        opts = opts or FleetOptions()
        explicit = opts.explicit()
        management = connect(kube)
        where, current, contexts, clusters = kubeconfig.index(kube)
        current = current or management.context
        secrets: tuple[ClusterSecret, ...] = ()
        read = ""
        if opts.cluster_secrets:
            read = f"namespace {opts.config_namespace} of context {current}"
            secrets = tuple(_cluster_secrets(management, opts.config_namespace, read))
        inv = Inventory(where=where, current=current, contexts=contexts, clusters=clusters, explicit=explicit,
                        secrets=secrets, secrets_read=read)
        fleet = cls(kube=kube, management=management, inventory=inv)
        fleet._clients[Target(label=current, context=current).key] = management
        return fleet

    # -- resolution: pure, before anything is read from the app's cluster --------------------------

    def resolve(self, apps: Iterable[App]) -> None:
        for app in apps:
            if app.name not in self._targets:
                self._targets[app.name] = resolve(app.name, app.dest_server, app.dest_name, self.inventory,
                                                  app.project)

    def forget_targets(self) -> None:
        """Resolve every destination again (a watch: a commit may send an app to another cluster);
        the connections are kept."""
        with self._lock:
            self._targets.clear()

    def target_of(self, app: App) -> Target:
        self.resolve([app])
        return self._targets[app.name]

    def named(self) -> list[Target]:
        """The run's own cluster and every other one the user named (--cluster, --clusters-file, the
        cluster Secrets): where app records are looked for when no Application says which cluster."""
        inv = self.inventory
        targets = [Target(label=inv.current, context=inv.current),
                   *(Target(label=c, context=c) for c in inv.explicit.values()),
                   *(Target(label=s.name or s.server, secret=s) for s in inv.secrets)]
        return list({t.key: t for t in targets}.values())

    # -- connections -------------------------------------------------------------------------------

    def client_of(self, app: App) -> Client:
        return self.client_for(self.target_of(app))

    def client_named(self, app: str) -> Client:
        """The client of an app already resolved (by name)."""
        return self.client_for(self._targets[app])

    def client_for(self, target: Target) -> Client:
        with self._lock:
            client = self._clients.get(target.key)
            if client is None:
                client = self._clients[target.key] = self._connect(target)
                if self._deadline is not None:
                    client.deadline, client.budget = self._deadline
            return client

    def _connect(self, t: Target) -> Client:
        # kubectl's flags name the run's own cluster; another cluster keeps only impersonation and the
        # request timeout (its server, token and CA are its own).
        own = replace(self.kube, context=t.context, server=None, token=None, certificate_authority=None,
                      insecure_skip_tls_verify=False)
        if t.secret is None:
            return connect(own)
        return connect(own, kubeconfig.secret_connection(t.label, t.secret.server, dict(t.secret.config), own))

    def set_deadline(self, seconds: float) -> None:
        """One deadline for every cluster, those connected later too."""
        self.management.set_deadline(seconds)
        self._deadline = (self.management.deadline or 0.0, seconds)
        for c in self.clients():
            c.deadline, c.budget = self._deadline

    def clear_deadline(self) -> None:
        """No deadline for any cluster (a watch between its syncs)."""
        self._deadline = None
        for c in self.clients():
            c.deadline = None

    def clients(self) -> list[Client]:
        with self._lock:
            return list({id(c): c for c in self._clients.values()}.values())

    @property
    def requests(self) -> int:
        return sum(c.requests for c in self.clients())

    @property
    def writes(self) -> int:
        return sum(c.writes for c in self.clients())


def _cluster_secrets(client: Client, namespace: str, read: str) -> list[ClusterSecret]:
    try:
        doc = client.request("GET", f"/api/v1/namespaces/{namespace}/secrets",
                             query={"labelSelector": f"{SECRET_TYPE_LABEL}=cluster"},
                             what=f"list cluster Secrets in namespace {namespace}")
    except ApiError as e:
        if e.status == 404:
            return []
        raise
    secrets = [parse_cluster_secret(o, read) for o in doc.get("items") or []]
    duplicate_names(secrets, read)
    return secrets


def unreachable(error: BaseException) -> bool:
    """A failure of the connection itself (no answer): it fails the cluster's apps, not the others'."""
    return isinstance(error, ApiError) and error.status == 0
