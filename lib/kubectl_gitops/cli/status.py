"""kubectl gitops status"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from kubectl_gitops.engine import CompareOptions
    from kubectl_gitops.fleet import FleetOptions
    from kubectl_gitops.kubeconfig import KubeOptions

from kubectl_gitops.cli.options import cluster_options, kube_options, output_option, progress, source_options


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@source_options
@output_option(["table", "json", "yaml"], "table")
@cluster_options
@kube_options
def status(compare: CompareOptions, output: str,
           kube: KubeOptions, clusters: FleetOptions) -> int:
    """Show the sync and health status of every object and app.

    TARGET is resolved as for `kubectl gitops diff`. Health follows Argo CD: built-in checks for core
    kinds, Lua health checks from argocd-cm (resource.customizations.health.<group>_<kind>), and an app's
    health is the worst of its objects' (Healthy < Suspended < Progressing < Missing < Degraded < Unknown).

    Exit status: 0 every app Synced and Healthy, 1 otherwise, 2 error.
    """
    from kubectl_gitops.commands import run_status

    return run_status(compare=compare, output=output,
                      kube=kube, log=progress, clusters=clusters)
