"""Where an app's notification state lives between runs: the fired keys (as Argo CD's
notified.notifications.argoproj.io annotation holds them), the app's last health and since when, and
the last deliveries. Until app records exist (the records issue), a ConfigMap per app on the
destination cluster holds them; RecordStore is the seam a record-backed store plugs into."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kubectl_gitops.notify.triggers import NOTIFIED_ANNOTATION, NotifiedState

if TYPE_CHECKING:
    from kubectl_gitops.cluster import Client

STORE_PREFIX = "kubectl-gitops-notified-"


@dataclass(frozen=True)
class NotifyRecord:
    fired: dict[str, int] = field(default_factory=dict)
    health: str = ""
    health_since: str = ""  # RFC 3339: when `health` was first seen
    deliveries: tuple[dict[str, Any], ...] = ()  # the last pass's sends: trigger, destination, ok, detail


class RecordStore(Protocol):
    def load(self, app: str) -> NotifyRecord: ...

    def save(self, app: str, record: NotifyRecord) -> None: ...


class ConfigMapStore:
    """ConfigMap kubectl-gitops-notified-<app> in `namespace`, written with server-side apply."""

    def __init__(self, client: Client, namespace: str) -> None:
        self.client, self.namespace = client, namespace

    def _res(self) -> Any:
        return self.client.resource_for("", "ConfigMap")

    def load(self, app: str) -> NotifyRecord:
        cm = self.client.get(self._res(), self.namespace, STORE_PREFIX + app) or {}
        data = cm.get("data") or {}
        try:
            deliveries = tuple(json.loads(data.get("deliveries") or "[]"))
        except ValueError:
            deliveries = ()
        return NotifyRecord(NotifiedState.from_json(data.get(NOTIFIED_ANNOTATION)).keys, data.get("health", ""),
                            data.get("healthSince", ""), deliveries)

    def save(self, app: str, record: NotifyRecord) -> None:
        data = {NOTIFIED_ANNOTATION: NotifiedState(record.fired).to_json(), "health": record.health,
                "healthSince": record.health_since, "deliveries": json.dumps(list(record.deliveries))}
        obj = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": STORE_PREFIX + app, "namespace": self.namespace,
                            "labels": {"app.kubernetes.io/managed-by": "kubectl-gitops"}},
               "data": data}
        self.client.apply(self._res(), obj, dry_run=False)
