"""kubectl gitops sync"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from kubectl_gitops.engine import CompareOptions

from kubectl_gitops.cli.options import Duration, kube_options, output_option, progress, source_options


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@source_options
@output_option(["table", "json", "yaml"], "table")
@click.option("--dry-run", is_flag=True, help="Validate everything and print the plan; write nothing.")
@click.option("--prune", is_flag=True, help="Delete objects of the app that Git no longer has "
              "(also enabled by syncPolicy.automated.prune).")
@click.option("--force-prune", is_flag=True, help="Prune even when the render is empty or more than half of "
              "the app's objects would be deleted.")
@click.option("--confirm-prune", is_flag=True, help="Confirm pruning objects marked Prune=confirm.")
@click.option("--wait", is_flag=True, help="Wait until every object is Healthy, even in a single-step sync; "
              "exit 1 when one is Degraded or the timeout passes.")
@click.option("--timeout", type=Duration(minimum=1), default="5m", show_default=True,
              help="How long the whole sync (applies and health waits) may take: a kubectl duration "
              "(90s, 5m, 1h30m; a bare number is seconds).")
@click.option("--lock-namespace", default="default", show_default=True,
              help="Namespace of the per-app Lease that keeps two syncs of one app apart.")
@kube_options
def sync(compare: CompareOptions, output: str, dry_run: bool,
         prune: bool, force_prune: bool, confirm_prune: bool, wait: bool, timeout: float, lock_namespace: str,
         kubeconfig: str | None, context: str | None, namespace: str | None) -> int:
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

    Exit status: 0 synced (and, when awaited, healthy), 1 an apply, hook or awaited health check failed or
    timed out, 2 bad input or error before any write.
    """
    from kubectl_gitops.cluster import KubeOptions
    from kubectl_gitops.commands import run_sync
    from kubectl_gitops.state import SyncRequest

    req = SyncRequest(prune=prune, force_prune=force_prune, confirm_prune=confirm_prune, dry_run=dry_run,
                      wait=wait, timeout=timeout, lock_namespace=lock_namespace)
    return run_sync(compare=compare, output=output,
                    kube=KubeOptions(kubeconfig, context, namespace), req=req, log=progress)
