"""A sync from compared states to the notifications sent after it, shared by `sync` (once) and
`watch` (each automated sync): check → lock → run → record → notify. Printing is the caller's."""

from __future__ import annotations

from collections.abc import Callable

from kubectl_gitops import pipeline
from kubectl_gitops.cluster import Client
from kubectl_gitops.errors import GitopsError
from kubectl_gitops.notify.loading import ConfigSource
from kubectl_gitops.notify.onsync import SyncNotifier
from kubectl_gitops.plan import AppPlan
from kubectl_gitops.settings import Settings
from kubectl_gitops.state import AppState, SyncRequest, SyncResult

Log = Callable[[str], None]


def notifier(source: ConfigSource, client: Client, req: SyncRequest, log: Log) -> SyncNotifier | None:
    """Notification settings are input too: a broken argocd-notifications-cm stops the sync here."""
    return SyncNotifier.prepare(source, client, req.record_namespace, log)


def check(plans: list[AppPlan], client: Client, req: SyncRequest, settings: Settings,
          notify: SyncNotifier | None) -> None:
    """Every app validated before the first write; a refusal is Argo CD's phase Error (on-sync-failed)."""
    try:
        pipeline.check(plans, client, req, settings)
    except GitopsError as e:
        if notify is not None and not req.dry_run:
            notify.refused([p.state for p in plans], str(e))
        raise


def execute(plans: list[AppPlan], states: list[AppState], settings: Settings, client: Client, req: SyncRequest,
            notify: SyncNotifier | None, log: Log) -> SyncResult:
    """Run the checked plans under their Leases (each app that wrote is recorded), then notify
    unless a signal or a lost lease stopped it."""
    checker = pipeline.assess(states, settings)
    with pipeline.locked(plans, client, req.lock_namespace):
        result = pipeline.run(plans, client, checker, req, log)
    if notify is not None and not any(a.stopped for a in result.apps):
        notify.after(result.apps, {p.app: p.state for p in plans})
    return result
