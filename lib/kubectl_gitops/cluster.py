"""The one place that talks to the API server: connection, discovery, and each verb we use.

Bodies are (de)serialized with orjson and requests go straight to a pool of keep-alive connections
(transport.py): the kubernetes client's model deserialization is far slower than the API server, and
importing it takes ~0.3 s.
HTTP failures are mapped to GitopsError here, once, with the verb and resource named.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from kubectl_gitops import kubeconfig
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.masking import mask_message
from kubectl_gitops.model import (
    FIELD_MANAGER,
    FORCE,
    REPLACE,
    SERVER_SIDE_APPLY,
    VALIDATE,
    Obj,
    ResourceKey,
    SyncOptions,
    is_secret,
    unknown_kind,
)
from kubectl_gitops.transport import Transport

NO_REPLACE_KINDS = ("CustomResourceDefinition", "Namespace")  # updated, never replaced
AGGREGATED_DISCOVERY = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;q=0.9"
)


@dataclass(frozen=True)
class KubeOptions:
    """kubectl's connection flags."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None


@dataclass(frozen=True)
class ApiResource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str = "", name: str = "") -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        return f"{base}/{quote(name)}" if name else base


class ApiError(GitopsError):
    """An API call failed; `status` is the HTTP status (0 when the server was not reached)."""

    def __init__(self, message: str, *, status: int, reason: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.reason = reason


@dataclass
class Client:
    """A connection to one cluster. Thread-safe: requests may run from a worker pool."""

    transport: Transport
    host: str
    context: str
    namespace: str
    authorization: str | None = None  # the Authorization header, unless a client certificate authenticates
    requests: int = 0
    writes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _discovery_lock: threading.Lock = field(default_factory=threading.Lock)
    _resources: dict[tuple[str, str], ApiResource] | None = None

    # -- transport ---------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, query: dict[str, str] | None = None,
                body: Obj | None = None, content_type: str = "application/json",
                accept: str = "application/json", what: str = "") -> Any:
        headers = {"Accept": accept, "Content-Type": content_type, "User-Agent": "kubectl-gitops"}
        if self.authorization:
            headers["Authorization"] = self.authorization
        url = path + (f"?{urlencode(query)}" if query else "")
        with self._lock:
            self.requests += 1
            if method != "GET" and not (query or {}).get("dryRun"):
                self.writes += 1
        try:
            status, data = self.transport.request(
                method, url, orjson.dumps(body) if body is not None else None, headers)
        except (OSError, http.client.HTTPException) as e:  # every way of not getting an answer
            raise ApiError(f"cannot reach the cluster at {self.host} (context {self.context!r}): "
                           f"{_root_cause(e)}", status=0) from None
        if status >= 400:
            raise _api_error(status, data, method, what or path, self)
        return orjson.loads(data) if data else None

    # -- discovery ---------------------------------------------------------------------------------

    def resources(self) -> dict[tuple[str, str], ApiResource]:
        """(group, kind) -> preferred-version resource; two requests via aggregated discovery."""
        with self._discovery_lock:  # threads asking at once wait for one discovery
            if self._resources is None:
                found: dict[tuple[str, str], ApiResource] = {}
                for path in ("/api", "/apis"):
                    doc = self.request("GET", path, accept=AGGREGATED_DISCOVERY, what=f"discovery {path}")
                    _add_discovered(doc, found)
                self._resources = found
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
        doc = self.request("GET", res.path(namespace), what=f"list {res.plural}")
        items = doc.get("items") or []
        for item in items:  # LIST items carry no apiVersion/kind
            item.setdefault("apiVersion", res.api_version)
            item.setdefault("kind", res.kind)
        return items

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
                            body=obj, content_type="application/apply-patch+yaml",
                            what=f"apply {res.plural}/{meta['name']}")

    def create(self, res: ApiResource, obj: Obj, *, dry_run: bool = False, validate: bool = True) -> Obj:
        query = {"fieldManager": FIELD_MANAGER, "fieldValidation": "Strict" if validate else "Ignore"}
        if dry_run:
            query["dryRun"] = "All"
        ns = obj["metadata"].get("namespace", "")
        return self.request("POST", res.path(ns), query=query, body=obj, what=f"create {res.plural}")

    def replace(self, res: ApiResource, obj: Obj, *, dry_run: bool = False, validate: bool = True) -> Obj:
        meta = obj["metadata"]
        query = {"fieldManager": FIELD_MANAGER, "fieldValidation": "Strict" if validate else "Ignore"}
        if dry_run:
            query["dryRun"] = "All"
        return self.request("PUT", res.path(meta.get("namespace", ""), meta["name"]), query=query,
                            body=obj, what=f"replace {res.plural}/{meta['name']}")

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
        query = {"fieldManager": FIELD_MANAGER, "fieldValidation": "Strict" if validate else "Ignore",
                 **({"dryRun": "All"} if dry_run else {})}
        return self.request("PATCH", res.path(namespace, name), query=query, body=patch,
                            content_type="application/merge-patch+json", what=f"patch {res.plural}/{name}")


def connect(opts: KubeOptions) -> Client:
    """Connect the way kubectl does (--kubeconfig, KUBECONFIG, --context, -n)."""
    conn = kubeconfig.connection(opts.kubeconfig, opts.context)
    transport = Transport(conn.server, conn.ssl_context, conn.tls_server_name, conn.proxy_url)
    return Client(transport=transport, host=conn.server, context=conn.context,
                  namespace=opts.namespace or conn.namespace or "default", authorization=conn.authorization)


def write_object(client: Client, res: ApiResource, obj: Obj, live: Obj | None, opts: SyncOptions, *,
                 dry_run: bool) -> Obj:
    """Create/update `obj` the way its sync options ask; the same path serves the dry-run and the write.

    Default: server-side apply. Replace=true: PUT (POST when absent). ServerSideApply=false or
    Validate=false (server-side apply always checks the schema): POST, else a JSON merge patch.
    Force=true: delete and re-create when the change hits an immutable field. What the server says
    about a Secret it refused is masked: it quotes the values it could not take.
    """
    try:
        return _write_object(client, res, obj, live, opts, dry_run=dry_run)
    except ApiError as e:
        if not is_secret(obj):
            raise
        raise ApiError(mask_message(e.message, obj), status=e.status, reason=e.reason, hint=e.hint) from None


def _write_object(client: Client, res: ApiResource, obj: Obj, live: Obj | None, opts: SyncOptions, *,
                  dry_run: bool) -> Obj:
    validate = not opts.is_false(VALIDATE)
    meta = obj["metadata"]
    if opts.is_true(REPLACE) and obj.get("kind") not in NO_REPLACE_KINDS:
        if live is None:
            return client.create(res, obj, dry_run=dry_run, validate=validate)
        if opts.is_true(FORCE):
            return _recreate(client, res, obj, dry_run=dry_run, validate=validate)
        body = {**obj, "metadata": {**meta, "resourceVersion": live["metadata"]["resourceVersion"]}}
        return client.replace(res, body, dry_run=dry_run, validate=validate)
    if opts.is_false(SERVER_SIDE_APPLY) or not validate:
        if live is None:
            return client.create(res, obj, dry_run=dry_run, validate=validate)
        return client.merge_patch(res, meta.get("namespace", ""), meta["name"], obj, dry_run=dry_run,
                                  validate=validate)
    try:
        return client.apply(res, obj, dry_run=dry_run)
    except ApiError as e:
        if e.status != 422 or not opts.is_true(FORCE) or live is None:
            raise
        return _recreate(client, res, obj, dry_run=dry_run, validate=validate)


def _recreate(client: Client, res: ApiResource, obj: Obj, *, dry_run: bool, validate: bool) -> Obj:
    meta = obj["metadata"]
    if dry_run:  # validate the new object under a generated name that cannot collide with the live one
        probe = {**obj, "metadata": {k: v for k, v in meta.items() if k != "name"}}
        probe["metadata"]["generateName"] = meta["name"] + "-"
        result = client.create(res, probe, dry_run=True, validate=validate)
        result["metadata"]["name"] = meta["name"]
        return result
    client.delete(res, meta.get("namespace", ""), meta["name"], propagation="Foreground")
    client.wait_gone(res, meta.get("namespace", ""), meta["name"])
    return client.create(res, obj, validate=validate)


def resource_or_error(client: Client, key: ResourceKey, where: str) -> ApiResource:
    res = client.resource_for(key.group, key.kind)
    if res is None:
        raise unknown_kind(key, where)
    return res


def _add_discovered(doc: Obj, found: dict[tuple[str, str], ApiResource]) -> None:
    for group in doc.get("items") or []:
        gname = group.get("metadata", {}).get("name", "")
        versions = group.get("versions") or []
        # The first version listed is the preferred one.
        for version in versions:
            for r in version.get("resources") or []:
                kind = (r.get("responseKind") or {}).get("kind")
                if not kind:
                    continue
                found.setdefault((gname, kind), ApiResource(
                    group=gname, version=version["version"], kind=kind, plural=r["resource"],
                    namespaced=r.get("scope") == "Namespaced", verbs=frozenset(r.get("verbs") or [])))


def _api_error(status: int, data: bytes, method: str, what: str, client: Client) -> ApiError:
    try:
        doc = orjson.loads(data)
        message, reason = doc.get("message", ""), doc.get("reason", "")
    except orjson.JSONDecodeError:
        message, reason = data.decode(errors="replace")[:200], ""
    if status == 401:
        return ApiError(f"unauthorized (401) for {what} on {client.host}: check the credentials of "
                        f"context {client.context!r}", status=status, reason=reason)
    if status == 403:
        return ApiError(f"forbidden (403): cannot {what}: {message}", status=status, reason=reason,
                        hint=f"the user of context {client.context!r} lacks RBAC permission for it")
    return ApiError(f"{what}: {message or reason} ({status})", status=status, reason=reason)


def _root_cause(e: BaseException) -> str:
    if isinstance(e, ssl.SSLError) or not isinstance(e, OSError):
        return str(e) or type(e).__name__
    return e.strerror or str(e) or type(e).__name__  # "Connection refused", not "[Errno 111] ..."
