"""A sync from compared states to the notifications sent after it, shared by `sync` (once) and
`watch` (each automated sync): check → lock → run → record → notify. Printing is the caller's."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kubectl_gitops import pipeline
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.fleet import Fleet
from kubectl_gitops.notify.loading import ConfigSource, load_config
from kubectl_gitops.plan import AppPlan
from kubectl_gitops.settings import Settings
from kubectl_gitops.state import AppState, SyncRequest, SyncResult

if TYPE_CHECKING:
    from kubectl_gitops.notify.onsync import SyncNotifier
    from kubectl_gitops.notify.record import AppRecordStore, NotifyRecord

Log = Callable[[str], None]


def notifier(source: ConfigSource, fleet: Fleet, req: SyncRequest, log: Log) -> SyncNotifier | None:
    """Notification settings are input too: a broken argocd-notifications-cm stops the sync here.
    Without settings nothing is sent, and the machinery that sends (≈ 40 ms of imports) is not loaded."""
    cfg = load_config(source, fleet.management)
    if cfg is None:
        return None
    from kubectl_gitops.notify.onsync import SyncNotifier

    return SyncNotifier.prepare(cfg, fleet.management, RecordsOfEachCluster(fleet, req.record_namespace),
                                source.namespace, log)


def check(plans: list[AppPlan], fleet: Fleet, req: SyncRequest, settings: Settings,
          notify: SyncNotifier | None) -> list[AppPlan]:
    """Every app validated before the first write; a refusal is Argo CD's phase Error (on-sync-failed).
    Returns the plans still to run (not those whose cluster stopped answering)."""
    try:
        return pipeline.check(plans, fleet, req, settings)
    except GitopsError as e:
        if notify is not None and not req.dry_run:
            notify.refused([p.state for p in plans], str(e))
        raise


def execute(plans: list[AppPlan], states: list[AppState], settings: Settings, fleet: Fleet, req: SyncRequest,
            notify: SyncNotifier | None, log: Log) -> SyncResult:
    """Run the checked plans under their Leases, each on its app's cluster (each app that wrote is
    recorded), then notify unless a signal or a lost lease stopped it."""
    checker = pipeline.assess(states, settings)
    with pipeline.locked(plans, fleet, req.lock_namespace):
        result = pipeline.run(plans, fleet, checker, req, log)
    if notify is not None and not any(a.stopped for a in result.apps):
        notify.after(result.apps, {p.app: p.state for p in plans})
    return result


class RecordsOfEachCluster:
    """Notification state is kept in the app's record, which lives on the app's own cluster."""

    def __init__(self, fleet: Fleet, namespace: str) -> None:
        self.fleet, self.namespace = fleet, namespace

    def load(self, app: str) -> NotifyRecord:
        return self._store(app).load(app)

    def save(self, app: str, record: NotifyRecord) -> None:
        self._store(app).save(app, record)

    def _store(self, app: str) -> AppRecordStore:
        from kubectl_gitops.notify.record import AppRecordStore  # only once a notifier sends

        return AppRecordStore(self.fleet.client_named(app), self.namespace)
