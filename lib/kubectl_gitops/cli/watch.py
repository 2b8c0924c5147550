"""kubectl gitops watch"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from kubectl_gitops.engine import CompareOptions
    from kubectl_gitops.fleet import FleetOptions
    from kubectl_gitops.kubeconfig import KubeOptions

from kubectl_gitops.cli.options import (
    Duration,
    cluster_options,
    kube_options,
    notification_file_options,
    source_options,
)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@source_options
@click.option("--interval", type=Duration(minimum=1), default="3m", show_default=True,
              help="How often Git is read again (remote repositories fetched, the work tree checked), as Argo "
              "CD's reconciliation timeout; live objects are watched all the time.")
@click.option("--jitter", type=Duration(), default="0s", show_default=True,
              help="Add a random delay of up to this much to each --interval (Argo CD's "
              "timeout.reconciliation.jitter), so that replicas and loops started together do not all read Git "
              "at once.")
@click.option("--share-apps", is_flag=True,
              help="Share the apps out with the other watch replicas of --lock-namespace: each app is reconciled "
              "by one replica at a time (its ownership Lease), each replica holds at most its fair share, and "
              "the apps of a replica that dies are taken over once its Leases expire.")
@click.option("--share-lease", type=Duration(minimum=1), default="60s", show_default=True,
              help="With --share-apps: how long a replica's Leases last unless renewed (renewed every quarter).")
@click.option("--timeout", type=Duration(minimum=1), default="5m", show_default=True,
              help="How long one automated sync may take.")
@click.option("--lock-namespace", default="default", show_default=True,
              help="Namespace of the per-app Leases (the same as `kubectl gitops sync --lock-namespace`).")
@click.option("--webhook-addr", metavar="HOST:PORT",
              help="Listen for GitHub, GitLab, Gitea, Bitbucket Cloud and Bitbucket Server push events here "
              "(secrets from KUBECTL_GITOPS_WEBHOOK_SECRET_GITHUB, _GITLAB, _GITEA, _BITBUCKETSERVER; the "
              "Bitbucket Cloud webhook's UUID from _BITBUCKET).")
@click.option("--metrics-addr", metavar="HOST:PORT", help="Serve Prometheus /metrics and /healthz here.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="One event per line on stderr, as text or JSON.")
@click.option("--identity", default="", help="Who the app records name as having synced "
              "(default: kubectl-gitops-watch@HOSTNAME).")
@notification_file_options
@cluster_options
@kube_options
def watch(compare: CompareOptions, interval: float, jitter: float, share_apps: bool, share_lease: float,
          timeout: float, lock_namespace: str, webhook_addr: str | None,
          metrics_addr: str | None, log_format: str, identity: str, notifications_cm: str | None,
          notifications_secret: str | None, kube: KubeOptions, clusters: FleetOptions) -> int:
    """Keep the cluster matching Git: Argo CD's reconcile loop, until SIGTERM or SIGINT.

    Renders TARGET (as `kubectl gitops diff`) and compares it with the cluster, whose objects are listed
    once per kind and then watched, so a change is seen within a second. Apps whose destination is
    another cluster (--cluster, --clusters-file, --cluster-secrets, as for sync) are compared with that
    cluster's own watched objects; an app whose cluster does not answer is tried again later. Git is
    read again every --interval and on a webhook push. Apps whose spec.syncPolicy.automated is set are synced as Argo CD
    does: only when OutOfSync; once per revision (a failed sync is tried again only as
    syncPolicy.retry says: limit, backoff duration, factor, maxDuration); prune and allowEmpty as set;
    with selfHeal, drift from the synced revision is reverted (backoff 2 s, ×3, at most 5 min), without
    it only reported. Sync windows apply as to an automated sync. Other apps are only reported OutOfSync.

    Each sync is the one `kubectl gitops sync` runs: pre-flight checks, the app's Lease on the app's
    cluster (so replicas and users never sync one app at once), the app record (initiated by --identity, automated) and
    notifications. On SIGTERM or SIGINT the running sync stops before its next write, its Lease is
    released, and watch exits 0.
    """
    from dataclasses import replace

    from kubectl_gitops.fleet import Fleet
    from kubectl_gitops.notify.loading import ConfigSource
    from kubectl_gitops.watch.events import EventLog
    from kubectl_gitops.watch.loop import Loop, WatchOptions

    opts = WatchOptions(interval=interval, jitter=jitter, share_lease=share_lease if share_apps else 0.0,
                        timeout=timeout, lock_namespace=lock_namespace, webhook_addr=webhook_addr,
                        metrics_addr=metrics_addr, identity=identity,
                        notifications=ConfigSource(notifications_cm, notifications_secret, compare.config_namespace))
    fleet = Fleet.connect(kube, replace(clusters, config_namespace=compare.config_namespace))
    return Loop(fleet, compare, opts, EventLog(log_format)).run()
