"""Where an app's notification state lives between runs: in its app record (see `record`), on its
destination cluster: the fired keys (as Argo CD's notified.notifications.argoproj.io annotation holds
them), the health they last saw and since when, and the last deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from kubectl_gitops.record import AppRecord
from kubectl_gitops.record_store import read_record, write_record

if TYPE_CHECKING:
    from kubectl_gitops.cluster import Client


@dataclass(frozen=True)
class NotifyRecord:
    fired: dict[str, int] = field(default_factory=dict)
    health: str = ""
    health_since: str = ""  # RFC 3339: when `health` was first seen
    deliveries: tuple[dict[str, Any], ...] = ()  # the last pass's sends: trigger, destination, ok, detail


class RecordStore(Protocol):
    def load(self, app: str) -> NotifyRecord: ...

    def save(self, app: str, record: NotifyRecord) -> None: ...


class AppRecordStore:
    """The notification fields of the app records in `namespace` (the config namespace)."""

    def __init__(self, client: Client, namespace: str) -> None:
        self.client, self.namespace = client, namespace

    def load(self, app: str) -> NotifyRecord:
        found = read_record(self.client, self.namespace, app)
        if found is None:
            return NotifyRecord()
        rec = found[0]
        return NotifyRecord(dict(rec.notified), rec.health_status if rec.health_since else "", rec.health_since,
                            tuple(dict(d) for d in rec.deliveries))

    def save(self, app: str, record: NotifyRecord) -> None:
        def update(prev: AppRecord | None) -> AppRecord:
            base = prev or AppRecord(app=app)
            return replace(base, notified=tuple(sorted(record.fired.items())),
                           health_status=record.health or base.health_status, health_since=record.health_since,
                           deliveries=record.deliveries)

        write_record(self.client, self.namespace, app, update)
