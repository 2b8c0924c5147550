"""The one place that talks to the API server: connection, discovery, and each verb we use.

Bodies are (de)serialized with orjson and requests go straight to a pool of keep-alive connections
(transport.py): the kubernetes client's model deserialization is far slower than the API server, and
importing it takes ~0.3 s. Every request goes through `Client.request` (requester.py), which owns its
fate: timeout, retries, credentials, errors.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from kubectl_gitops import discovery, kubeconfig
from kubectl_gitops.discovery import ApiResource
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.kubeconfig import KubeOptions
from kubectl_gitops.model import (
    FIELD_MANAGER,
    Obj,
    ResourceKey,
    unknown_kind,
)
from kubectl_gitops.requester import APPLY_PATCH, REQUEST_TIMEOUT, ApiError, Requester
from kubectl_gitops.transport import Transport

__all__ = ["ApiError", "ApiResource", "Client", "KubeOptions", "connect"]

PAGE_SIZE = 500  # objects per LIST page
LIST_RESTARTS = 3  # expired continue tokens before one unpaginated LIST
DISCOVERY_WORKERS = 8
Objs = list[Obj]  # (named here: inside Client, `list` is a method)


@dataclass
class Client(Requester):
    """A connection to one cluster: discovery and each verb we use, over the one request function
    (requester.py). Thread-safe: requests may run from a worker pool."""

    _discovery_lock: threading.Lock = field(default_factory=threading.Lock)
    _resources: dict[tuple[str, str], ApiResource] | None = None

    # -- discovery ---------------------------------------------------------------------------------

    def resources(self) -> dict[tuple[str, str], ApiResource]:
        """(group, kind) -> preferred-version resource, discovered once (until `forget_discovery`)."""
        with self._discovery_lock:  # threads asking at once wait for one discovery
            if self._resources is None:
                self._resources = _discover(self)
            return self._resources

    def resource_for(self, group: str, kind: str) -> ApiResource | None:
        return self.resources().get((group, kind))

    def server_version(self) -> str:
        """The cluster's Kubernetes version (`/version` gitVersion), for Helm's --kube-version."""
        return str((self.request("GET", "/version", what="version") or {}).get("gitVersion", ""))

    def forget_discovery(self) -> None:
        """After creating CRDs, their kinds appear only in fresh discovery."""
        self._resources = None

    # -- verbs -------------------------------------------------------------------------------------

    def list(self, res: ApiResource, namespace: str = "") -> list[Obj]:
        return self.list_versioned(res, namespace)[0]

    def list_versioned(self, res: ApiResource, namespace: str = "") -> tuple[Objs, str]:
        """Every object, in pages of PAGE_SIZE, and the resourceVersion the LIST was served at (where a
        WATCH starts). An expired continue token (410) starts the LIST over, and after a few of those
        one unpaginated LIST is sent."""
        what = f"list {res.plural}"
        for _ in range(LIST_RESTARTS):
            items: list[Obj] = []
            token = ""
            while True:
                query = {"limit": str(PAGE_SIZE), **({"continue": token} if token else {})}
                try:
                    doc = self.request("GET", res.path(namespace), query=query, what=what)
                except ApiError as e:
                    if e.status == 410 and token:
                        break
                    raise
                items += doc.get("items") or []
                token = (doc.get("metadata") or {}).get("continue") or ""
                if not token:
                    return _typed(items, res), str((doc.get("metadata") or {}).get("resourceVersion") or "")
        doc = self.request("GET", res.path(namespace), what=what)
        return _typed(doc.get("items") or [], res), str((doc.get("metadata") or {}).get("resourceVersion") or "")

    def get(self, res: ApiResource, namespace: str, name: str) -> Obj | None:
        try:
            return self.request("GET", res.path(namespace, name), what=f"get {res.plural}/{name}")
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def apply(self, res: ApiResource, obj: Obj, *, dry_run: bool) -> Obj:
        """Server-side apply as our field manager; conflicts forced since Git is the source of truth."""
        meta = obj["metadata"]
        query = {"fieldManager": FIELD_MANAGER, "force": "true", "fieldValidation": "Strict"}
        if dry_run:
            query["dryRun"] = "All"
        return self.request("PATCH", res.path(meta.get("namespace", ""), meta["name"]), query=query,
                            body=obj, content_type=APPLY_PATCH,
                            what=f"apply {res.plural}/{meta['name']}")

    def create(self, res: ApiResource, obj: Obj, *, dry_run: bool = False, validate: bool = True) -> Obj:
        ns = obj["metadata"].get("namespace", "")
        return self.request("POST", res.path(ns), query=_write_query(dry_run, validate), body=obj,
                            what=f"create {res.plural}")

    def replace(self, res: ApiResource, obj: Obj, *, dry_run: bool = False, validate: bool = True) -> Obj:
        meta = obj["metadata"]
        return self.request("PUT", res.path(meta.get("namespace", ""), meta["name"]),
                            query=_write_query(dry_run, validate), body=obj,
                            what=f"replace {res.plural}/{meta['name']}")

    def delete(self, res: ApiResource, namespace: str, name: str, *, propagation: str = "Foreground",
               dry_run: bool = False) -> bool:
        """False when the object was already gone."""
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        query = {"dryRun": "All"} if dry_run else None
        try:
            self.request("DELETE", res.path(namespace, name), query=query, body=body,
                         what=f"delete {res.plural}/{name}")
        except ApiError as e:
            if e.status == 404:
                return False
            raise
        return True

    def wait_gone(self, res: ApiResource, namespace: str, name: str, timeout: float = 120.0) -> None:
        """Foreground deletion keeps the object until its dependents are gone: wait for that."""
        deadline = time.monotonic() + timeout
        while self.get(res, namespace, name) is not None:
            if time.monotonic() > deadline:
                raise GitopsError(f"{res.kind} {namespace}/{name} still exists {timeout:.0f}s after its deletion")
            time.sleep(0.25)

    def merge_patch(self, res: ApiResource, namespace: str, name: str, patch: Obj, *, dry_run: bool = False,
                    validate: bool = True) -> Obj:
        return self.request("PATCH", res.path(namespace, name), query=_write_query(dry_run, validate), body=patch,
                            content_type="application/merge-patch+json", what=f"patch {res.plural}/{name}")


def connect(opts: KubeOptions, conn: kubeconfig.Connection | None = None) -> Client:
    """Connect the way kubectl does (kubeconfig or in-cluster, and kubectl's flags), or through
    `conn` (a destination's cluster Secret)."""
    conn = conn or kubeconfig.connection(opts)
    creds = conn.credentials
    transport = Transport(conn.server, conn.tls.context(creds.client_certificate), conn.tls.server_name,
                          conn.proxy_url)
    creds.on_new_certificate = lambda cert, key: transport.use_tls(conn.tls.context((cert, key)))
    timeout = REQUEST_TIMEOUT if opts.request_timeout is None else (opts.request_timeout or None)
    return Client(transport=transport, host=conn.server, context=conn.context,
                  namespace=opts.namespace or conn.namespace or "default", credentials=creds,
                  request_timeout=timeout)


def resource_or_error(client: Client, key: ResourceKey, where: str) -> ApiResource:
    res = client.resource_for(key.group, key.kind)
    if res is None:
        raise unknown_kind(key, where)
    return res


def _discover(requester: Requester) -> discovery.Found:
    """Two requests with aggregated discovery, else the legacy documents of every group-version,
    fetched in parallel."""
    found: discovery.Found = {}
    legacy: list[str] = []
    for path in ("/api", "/apis"):
        doc = requester.request("GET", path, accept=discovery.ACCEPT, what=f"discovery {path}")
        if discovery.is_aggregated(doc):
            discovery.add_aggregated(doc, found)
        else:
            legacy += discovery.legacy_group_versions(doc)
    with ThreadPoolExecutor(max_workers=DISCOVERY_WORKERS) as pool:
        docs = list(pool.map(lambda gv: _group_version(requester, gv), legacy))
    for gv, doc in zip(legacy, docs, strict=True):
        discovery.add_legacy(gv, doc, found)
    return found


def _group_version(requester: Requester, gv: str) -> Obj:
    try:
        return requester.request("GET", discovery.legacy_path(gv), what=f"discovery {gv}")
    except ApiError as e:
        if e.status in (404, 503):  # an aggregated API that is down: its kinds stay unknown, like kubectl
            return {}
        raise


def _write_query(dry_run: bool, validate: bool) -> dict[str, str]:
    """The query of a create, replace or merge patch (apply has its own: forced, always Strict)."""
    query = {"fieldManager": FIELD_MANAGER, "fieldValidation": "Strict" if validate else "Ignore"}
    if dry_run:
        query["dryRun"] = "All"
    return query


def _typed(items: list[Obj], res: ApiResource) -> list[Obj]:
    for item in items:  # LIST items carry no apiVersion/kind
        item.setdefault("apiVersion", res.api_version)
        item.setdefault("kind", res.kind)
    return items
