"""kubectl gitops list | history | rollback: the app records sync keeps on each cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from kubectl_gitops.fleet import FleetOptions
    from kubectl_gitops.kubeconfig import KubeOptions
    from kubectl_gitops.state import SyncRequest

from kubectl_gitops.cli.options import cluster_options, kube_options, output_option, progress, sync_request_options

CONTEXT = {"help_option_names": ["-h", "--help"]}
record_namespace = click.option(
    "--config-namespace", default="argocd", show_default=True,
    help="Namespace of the app records (and argocd-cm).")


@click.command("list", context_settings=CONTEXT)
@click.argument("target", required=False)
@output_option(["table", "wide", "json", "yaml"], "table")
@record_namespace
@cluster_options
@kube_options
def list_apps(target: str | None, output: str, config_namespace: str,
              kube: KubeOptions, clusters: FleetOptions) -> int:
    """List apps with their sync status, health and last deployment, like `argocd app list`.

    With TARGET (resolved as for `kubectl gitops diff`), its apps are compared with their clusters now
    and shown with what their records say was deployed. Without TARGET, every app record found on the
    cluster is listed, and on every other cluster --cluster, --clusters-file and --cluster-secrets name
    (each app's record lives on its destination cluster): apps synced from any machine, no Git needed.
    CLUSTER names the cluster each app's record was read from, as the other tables do (the kubeconfig
    context, or the cluster Secret's name). -o json|yaml prints each app as an argoproj.io Application
    document (status.sync, status.health, status.operationState, status.history).

    Exit status: 0 listed, 2 error (or a cluster did not answer: the others' apps are listed).
    """
    from kubectl_gitops.commands import run_list
    from kubectl_gitops.engine import CompareOptions

    compare = CompareOptions(target=target, config_namespace=config_namespace) if target else None
    return run_list(compare=compare, namespace=config_namespace, output=output,
                    kube=kube, log=progress, clusters=clusters)


@click.command(context_settings=CONTEXT)
@click.argument("app")
@output_option(["table", "json", "yaml"], "table")
@record_namespace
@cluster_options
@kube_options
def history(app: str, output: str, config_namespace: str,
            kube: KubeOptions, clusters: FleetOptions) -> int:
    """Show an app's deployment history (the last 10 successful syncs), like `argocd app history`.

    Read from the app's record, which sync keeps on the app's destination cluster: when APP names an
    Application here (its file, or its name in ./apps), that destination is resolved as for `kubectl
    gitops sync` (--cluster, --clusters-file, --cluster-secrets); otherwise the record is looked for on
    the current cluster (--context) and on every cluster those flags name: no Git needed, and a
    read-only user may run it.
    IDs are what `kubectl gitops rollback APP ID` takes.

    Exit status: 0 shown, 2 error (no record for APP).
    """
    from kubectl_gitops.commands import run_history

    return run_history(app=app, namespace=config_namespace, output=output,
                       kube=kube, log=progress, clusters=clusters)


@click.command(context_settings=CONTEXT)
@click.argument("app")
@click.argument("entry_id", metavar="[ID]", type=int, required=False)
@output_option(["table", "json", "yaml"], "table")
@click.option("--force", is_flag=True, help="Roll back even though the app has syncPolicy.automated.")
@click.option("--argocd-cm", "argocd_cm", type=click.Path(exists=True, dir_okay=False),
              help="Read argocd-cm settings from this YAML file instead of the cluster's ConfigMap.")
@record_namespace
@sync_request_options
@cluster_options
@kube_options
def rollback(app: str, entry_id: int | None, output: str, force: bool, argocd_cm: str | None,
             config_namespace: str, req: SyncRequest,
             kube: KubeOptions, clusters: FleetOptions) -> int:
    """Sync an app at the revision of one of its history entries, like `argocd app rollback`.

    APP names one app (its name in ./apps, or its Application file); ID is a history entry (default:
    the deployment before the current one). The app's manifests are read from Git at that entry's commit,
    as --revision reads them, so the commit must be in the repository; the sync then runs as `kubectl
    gitops sync` does (on the app's destination cluster, resolved as sync resolves it, where its
    record is) and is marked as a rollback in the app's history. An app with
    syncPolicy.automated is refused unless --force: its next automated sync would undo the rollback.

    Exit status: 0 rolled back, 1 the sync failed, 2 bad input or error before any write.
    """
    from kubectl_gitops.commands import run_rollback
    from kubectl_gitops.engine import CompareOptions

    compare = CompareOptions(target=app, argocd_cm=argocd_cm, config_namespace=config_namespace)
    return run_rollback(compare=compare, entry_id=entry_id, force=force, output=output,
                        kube=kube, req=req, log=progress, clusters=clusters)
