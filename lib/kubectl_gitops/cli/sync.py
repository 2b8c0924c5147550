"""kubectl gitops sync"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from kubectl_gitops.engine import CompareOptions

from kubectl_gitops.cli.options import kube_options, output_option, progress, source_options


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@source_options
@output_option(["table", "json", "yaml"], "table")
@click.option("--dry-run", is_flag=True, help="Validate everything and print the plan; write nothing.")
@click.option("--prune", is_flag=True, help="Delete objects of the app that Git no longer has "
              "(also enabled by syncPolicy.automated.prune).")
@click.option("--force-prune", is_flag=True, help="Prune even when the render is empty or more than half of "
              "the app's objects would be deleted.")
@click.option("--confirm-prune", is_flag=True, help="Confirm pruning objects marked Prune=confirm.")
@click.option("--timeout", type=click.FloatRange(min=1), default=300, show_default=True,
              help="Seconds the whole sync (applies and health waits) may take.")
@click.option("--lock-namespace", default="default", show_default=True,
              help="Namespace of the per-app Lease that keeps two syncs of one app apart.")
@kube_options
def sync(compare: CompareOptions, output: str, dry_run: bool,
         prune: bool, force_prune: bool, confirm_prune: bool, timeout: float, lock_namespace: str,
         kubeconfig: str | None, context: str | None, namespace: str | None) -> int:
    """Make the cluster match Git.

    Renders TARGET (as for `kubectl gitops diff`), validates every object with a server-side dry-run
    before the first write, then applies with server-side apply in phases (PreSync, Sync, PostSync) and
    sync waves, waiting for health between them; runs hooks, prunes, and runs SyncFail hooks when the
    sync fails. Sync options come from spec.syncPolicy.syncOptions and the argocd.argoproj.io/sync-options
    annotation. Only one sync per app runs at a time (a coordination.k8s.io Lease).

    Exit status: 0 synced and healthy, 1 sync or health failed, 2 bad input or error before any write.
    """
    from kubectl_gitops.cluster import KubeOptions
    from kubectl_gitops.commands import run_sync
    from kubectl_gitops.state import SyncRequest

    req = SyncRequest(prune=prune, force_prune=force_prune, confirm_prune=confirm_prune, dry_run=dry_run,
                      timeout=timeout, lock_namespace=lock_namespace)
    return run_sync(compare=compare, output=output,
                    kube=KubeOptions(kubeconfig, context, namespace), req=req, log=progress)
