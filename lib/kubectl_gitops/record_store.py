"""Reading and writing app records (see `record`) on a cluster, through `cluster` only, and finding
an app's record among the clusters of a run.

Writes use optimistic concurrency: the record is read, updated and written back with the
resourceVersion it was read at; a conflict (another writer in between) reads it again. Only a sync
holding the app's Lease writes its record, so conflicts are rare (a watch loop's notification state,
a manual `rollback` marker) and a few rounds always settle them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubectl_gitops.apps import App, app_named
from kubectl_gitops.cluster import ApiError, ApiResource, Client
from kubectl_gitops.destinations import Target
from kubectl_gitops.engine import CompareOptions, single_app
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.fleet import Fleet
from kubectl_gitops.model import Obj
from kubectl_gitops.record import RECORD_LABEL, AppRecord, configmap_name, from_configmap, to_configmap

WRITE_ROUNDS = 5


def _configmaps(client: Client) -> ApiResource:
    res = client.resource_for("", "ConfigMap")
    if res is None:
        raise GitopsError(f"the cluster at {client.host} serves no ConfigMaps")
    return res


def read_record(client: Client, namespace: str, app: str) -> tuple[AppRecord, str] | None:
    """(record, resourceVersion), or None when the app has never been synced to this cluster."""
    cm = client.get(_configmaps(client), namespace, configmap_name(app))
    if cm is None:
        return None
    return from_configmap(cm), cm["metadata"]["resourceVersion"]


def list_records(client: Client, namespace: str) -> list[AppRecord]:
    """Every app record in `namespace` (one LIST, selected by label), by app name."""
    res = _configmaps(client)
    doc = client.request("GET", res.path(namespace), query={"labelSelector": f"{RECORD_LABEL}=true"},
                         what=f"list app records in namespace {namespace}")
    return sorted((from_configmap(cm) for cm in (doc or {}).get("items") or []), key=lambda r: r.app)


def write_record(client: Client, namespace: str, app: str,
                 update: Callable[[AppRecord | None], AppRecord]) -> AppRecord:
    """Apply `update` to the stored record (None: there is none yet) and store the result."""
    res = _configmaps(client)
    for _ in range(WRITE_ROUNDS):
        current = read_record(client, namespace, app)
        new = update(current[0] if current else None)
        try:
            if current is None:
                _create(client, res, to_configmap(new, namespace), namespace)
            else:
                client.replace(res, to_configmap(new, namespace, resource_version=current[1]))
            return new
        except ApiError as e:
            if e.status != 409:  # 409: written (or created) by someone else since we read it
                raise
    raise GitopsError(f"app {app}: its record {namespace}/{configmap_name(app)} kept changing while it "
                      f"was written ({WRITE_ROUNDS} attempts)")


def _create(client: Client, res: ApiResource, cm: Obj, namespace: str) -> None:
    try:
        client.create(res, cm)
    except ApiError as e:
        if e.status != 404:
            raise
        # The config namespace does not exist on this cluster yet (no Argo CD here): make it.
        ns_res = client.resource_for("", "Namespace")
        if ns_res is None:
            raise
        try:
            client.create(ns_res, {"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": namespace,
                                                "labels": {"app.kubernetes.io/managed-by": "kubectl-gitops"}}})
        except ApiError as ns_error:
            if ns_error.status != 409:
                raise
        client.create(res, cm)


@dataclass(frozen=True)
class Found:
    """Where an app's record was looked for, and the records found there."""

    name: str
    here: App | None  # the Application the name names in this checkout, if any
    looked: tuple[Target, ...]
    records: tuple[tuple[Target, AppRecord], ...]

    def one(self, namespace: str) -> tuple[Target, AppRecord]:
        if not self.records:
            raise GitopsError(f"app {self.name}: no record in namespace {namespace} of cluster "
                              f"{', '.join(t.label for t in self.looked)}: it was never synced there by kubectl gitops",
                              hint="`kubectl gitops list` shows the apps that have one; --cluster NAME=CONTEXT "
                                   "looks on another cluster too")
        if len(self.records) > 1:
            raise GitopsError(f"app {self.name}: a record in namespace {namespace} of clusters "
                              f"{', '.join(t.label for t, _ in self.records)}", hint="choose one with --context")
        return self.records[0]


def find_records(fleet: Fleet, namespace: str, app: str) -> Found:
    """APP's record, where sync wrote it: on the destination cluster of the Application APP names here
    (its file, or its name in ./apps); else (no Git) on the current cluster and on every cluster the
    flags name."""
    here = single_app(CompareOptions(target=app)) if Path(app).is_file() or app_named(app) else None
    name, targets = (here.name, [fleet.target_of(here)]) if here else (app, fleet.named())
    found = tuple((t, rec[0]) for t in targets for rec in [read_record(fleet.client_for(t), namespace, name)] if rec)
    return Found(name, here, tuple(targets), found)
