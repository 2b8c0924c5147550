"""Live state: one LIST per kind in play (scoped to the namespaces involved), and server-side apply
dry-runs run concurrently with a bounded pool."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from kubectl_gitops.cluster import ApiError, ApiResource, Client, resource_or_error
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.model import ARGO_GROUP, Manifest, Obj, ResourceKey, SyncOptions, key_of, object_options
from kubectl_gitops.settings import ARGOCD_CM
from kubectl_gitops.state import ResourceState
from kubectl_gitops.writes import write_object

WORKERS = 16  # requests in flight: the API server (and etcd, batching writes) keeps up to ~16 busy
MAX_NAMESPACED_LISTS = 3  # above this many namespaces for one kind, one cluster-wide LIST is cheaper
# Kinds listed even when Git no longer has any, so objects whose manifests were all deleted still
# show as extraneous (what sync would prune).
COMMON_KINDS = (("", "ConfigMap"), ("", "Secret"), ("", "Service"), ("", "ServiceAccount"),
                ("", "PersistentVolumeClaim"), ("apps", "Deployment"), ("apps", "StatefulSet"),
                ("apps", "DaemonSet"), ("batch", "Job"), ("batch", "CronJob"),
                ("networking.k8s.io", "Ingress"), ("rbac.authorization.k8s.io", "Role"),
                ("rbac.authorization.k8s.io", "RoleBinding"))

Lister = Callable[[ApiResource, str], list[Obj]]  # (kind, namespace or "" for all) -> its objects
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Scope:
    resource: ApiResource
    namespaces: frozenset[str] | None  # None: cluster-wide
    # Listed only to find extraneous objects: a user who may not list the kind still gets a diff.
    optional: bool = False


def scopes(client: Client, keys: Iterable[ResourceKey], namespaces: set[str]) -> list[Scope]:
    """Which LISTs to send: each desired kind (plus the common kinds) in the namespaces involved."""
    by_kind: dict[tuple[str, str], set[str]] = {}
    for k in keys:
        by_kind.setdefault((k.group, k.kind), set()).add(k.namespace)
    out = []
    for (group, kind), nss in sorted(by_kind.items()):
        res = client.resource_for(group, kind)
        if res is None or "list" not in res.verbs:
            continue
        want = (nss | namespaces) - {""}
        wide = not res.namespaced or len(want) > MAX_NAMESPACED_LISTS
        out.append(Scope(res, None if wide else frozenset(want)))
    # A kind Git no longer has could be anywhere the app once put it: list those cluster-wide.
    for group, kind in COMMON_KINDS:
        res = client.resource_for(group, kind)
        if (group, kind) not in by_kind and res is not None and "list" in res.verbs:
            out.append(Scope(res, None, optional=True))
    return out


class LiveCache:
    """LIST results shared by every app of one run, so an App of Apps lists each kind once."""

    def __init__(self, client: Client, lister: Lister | None = None) -> None:
        self.client = client
        self._list = lister or client.list  # watch: the objects its WATCH streams keep current
        # Each LIST's objects by key, keyed once for every app; namespace "" = cluster-wide.
        self._lists: dict[tuple[ApiResource, str], dict[ResourceKey, Obj]] = {}
        self.forbidden: set[ApiResource] = set()  # optional kinds this user may not list
        self._by_namespace: dict[ApiResource, dict[str, dict[ResourceKey, Obj]]] = {}  # cluster-wide, split

    def objects(self, wanted: list[Scope]) -> dict[ResourceKey, Obj]:
        optional = {s.resource for s in wanted if s.optional}
        pairs = [(s.resource, ns) for s in wanted for ns in _namespaces(s)
                 if not (s.resource in optional and s.resource in self.forbidden)]
        todo = sorted({p for p in pairs if p not in self._lists and (p[0], "") not in self._lists},
                      key=lambda p: (p[0].group, p[0].kind, p[1]))

        def one(job: tuple[ApiResource, str]) -> list[Obj] | None:
            try:
                return self._list(*job)
            except ApiError as e:
                if e.status != 403 or job[0] not in optional:
                    raise
                return None

        for job, items in zip(todo, parallel(one, todo), strict=True):
            if items is None:
                self.forbidden.add(job[0])
            else:
                self._lists[job] = {key_of(o): o for o in items}
        out: dict[ResourceKey, Obj] = {}
        for res, ns in pairs:
            if res in self.forbidden:
                continue
            found = self._lists.get((res, ns))
            if found is None:  # served from a cluster-wide LIST, split by namespace once
                found = self._split(res).get(ns, {})
            out.update(found)
        return out

    def _split(self, res: ApiResource) -> dict[str, dict[ResourceKey, Obj]]:
        split = self._by_namespace.get(res)
        if split is None:
            split = self._by_namespace[res] = {}
            for key, o in self._lists[(res, "")].items():
                split.setdefault(key.namespace, {})[key] = o
        return split


def _namespaces(s: Scope) -> list[str]:
    return sorted(s.namespaces) if s.namespaces else [""]


def parallel(fn: Callable[[T], R], items: list[T], workers: int = WORKERS) -> list[R]:
    """Map with a bounded thread pool; the first error is raised after all finished."""
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def parallel_results(fn: Callable[[T], R], items: list[T],
                     workers: int = WORKERS) -> list[R | GitopsError]:
    """Like `parallel`, but a GitopsError is returned in its slot so every failure can be reported."""

    def guarded(i: T) -> R | GitopsError:
        try:
            return fn(i)
        except GitopsError as e:
            return e

    return parallel(guarded, items, workers)


def argocd_cm(client: Client, namespace: str) -> dict[str, str]:
    """The cluster's argocd-cm data; empty when there is none or we may not read it."""
    try:
        res = client.resource_for("", "ConfigMap")
        cm = client.get(res, namespace, ARGOCD_CM) if res else None
    except ApiError as e:
        if e.status != 403:
            raise
        cm = None  # no permission to read it: run without customizations
    return dict((cm or {}).get("data") or {})


def repository_secrets(client: Client, namespace: str) -> list[tuple[str, str, str, bool]]:
    """Argo CD's repository Secrets in `namespace` (label argocd.argoproj.io/secret-type: repository, or
    repo-creds for a URL prefix): (url, username, password, is_prefix) each; none when we may not list
    Secrets there. The values go to helm on stdin only: never printed, logged or cached."""
    res = client.resource_for("", "Secret")
    if res is None:
        return []
    try:
        doc = client.request("GET", res.path(namespace), what="list repository Secrets",
                             query={"labelSelector": "argocd.argoproj.io/secret-type in (repository,repo-creds)"})
    except ApiError as e:
        if e.status in (401, 403, 404):
            return []
        raise
    out = []
    for secret in (doc or {}).get("items") or []:
        data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}
        kind = ((secret.get("metadata") or {}).get("labels") or {}).get("argocd.argoproj.io/secret-type")
        if data.get("url"):
            out.append((data["url"], data.get("username", ""), data.get("password", ""), kind == "repo-creds"))
    return out


def app_projects(client: Client, namespace: str) -> list[Manifest]:
    """AppProject objects in the config namespace; none when Argo CD's CRDs are not installed."""
    res = client.resource_for(ARGO_GROUP, "AppProject")
    if res is None:
        return []
    return [Manifest(o, f"cluster: AppProject {namespace}/{(o.get('metadata') or {}).get('name', '')}")
            for o in client.list(res, namespace)]


def existing_namespaces(client: Client, names: set[str]) -> set[str]:
    """Which of `names` exist (one GET each); all of them when the server serves no Namespace kind."""
    res = client.resource_for("", "Namespace")
    if res is None:
        return set(names)
    ordered = sorted(names)
    return {ns for ns, obj in zip(ordered, parallel(lambda n: client.get(res, "", n), ordered), strict=True)
            if obj is not None}


def dry_run(client: Client, states: list[ResourceState], app_options: SyncOptions) -> list[Obj]:
    """What the server would make of each desired object (server-side apply, dryRun=All), sent
    concurrently. Every failure is reported together; nothing has been written."""
    def one(rs: ResourceState) -> Obj:
        res = resource_or_error(client, rs.key, rs.origin)
        opts = app_options.merged(object_options(rs.desired or {}, rs.origin))
        return write_object(client, res, rs.desired or {}, rs.live, opts, dry_run=True)

    results = parallel_results(one, states)
    failures = [f"  {rs.origin}: {rs.key}: {r}" for rs, r in zip(states, results, strict=True)
                if isinstance(r, GitopsError)]
    if failures:
        raise GitopsError(f"server-side dry-run failed for {len(failures)} object(s); nothing was written:\n"
                          + "\n".join(failures))
    return [r for r in results if not isinstance(r, GitopsError)]
