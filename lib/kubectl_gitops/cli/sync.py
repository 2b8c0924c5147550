"""kubectl gitops sync"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from kubectl_gitops.engine import CompareOptions
    from kubectl_gitops.fleet import FleetOptions
    from kubectl_gitops.kubeconfig import KubeOptions
    from kubectl_gitops.state import SyncRequest

from kubectl_gitops.cli.options import (
    cluster_options,
    kube_options,
    notification_file_options,
    output_option,
    progress,
    source_options,
    sync_request_options,
)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@source_options
@output_option(["table", "json", "yaml"], "table")
@sync_request_options
@notification_file_options
@cluster_options
@kube_options
def sync(compare: CompareOptions, output: str, req: SyncRequest,
         notifications_cm: str | None, notifications_secret: str | None, kube: KubeOptions,
         clusters: FleetOptions) -> int:
    """Make the cluster match Git.

    Renders TARGET (as for `kubectl gitops diff`), validates every object with a server-side dry-run
    before the first write, then applies with server-side apply in phases (PreSync, Sync, PostSync) and
    sync waves; runs hooks, prunes, and runs SyncFail hooks when the sync fails. Sync options come from
    spec.syncPolicy.syncOptions and the argocd.argoproj.io/sync-options annotation. Only one sync per app
    runs at a time (a coordination.k8s.io Lease).

    Health, as Argo CD waits for it: when the sync has more than one step (phase or wave), each step's
    objects must be Healthy before the next starts and the last step is awaited too; hooks are always
    awaited. A single-step sync ends when its objects are applied and reports their health as it is
    (an Ingress may stay Progressing). With --wait every object must become Healthy, whatever the steps.

    Notifications: after the sync, the triggers that argocd-notifications-cm (in --config-namespace, or
    --notifications-cm) subscribes the app to are evaluated and what newly fired is sent (see
    `kubectl gitops notify`); each fires once per state change, the fired keys kept in the app's record
    (see `kubectl gitops list`). A failed delivery is a warning, never a failed sync.

    Exit status: 0 synced (and, when awaited, healthy), 1 an apply, hook or awaited health check failed or
    timed out (or the sync lost its lease), 2 bad input or error before any write, 130/143 stopped by
    SIGINT/SIGTERM (no further write is sent, the lease is released and what was done is printed).
    """
    from kubectl_gitops.commands import run_sync
    from kubectl_gitops.notify.loading import ConfigSource

    notifications = ConfigSource(notifications_cm, notifications_secret, compare.config_namespace)
    return run_sync(compare=compare, output=output, kube=kube, req=req, log=progress, notifications=notifications,
                    clusters=clusters)
