"""kubectl gitops diff"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from kubectl_gitops.engine import CompareOptions
    from kubectl_gitops.fleet import FleetOptions
    from kubectl_gitops.kubeconfig import KubeOptions

from kubectl_gitops.cli.options import (
    cluster_options,
    color_option,
    kube_options,
    output_option,
    progress,
    source_options,
    use_color,
)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@source_options
@output_option(["diff", "table", "json", "yaml", "markdown"], "diff")
@color_option
@cluster_options
@kube_options
def diff(compare: CompareOptions, output: str, color: str,
         kube: KubeOptions, clusters: FleetOptions) -> int:
    """Show how the live cluster differs from the desired state in Git.

    TARGET is a directory of manifests, a Kustomize directory, an Argo CD Application file, a directory of
    Application files, or the name of an app in ./apps (default: the current directory); a bare name of
    both a directory here and an app in ./apps is refused (exit 2): ./NAME is the directory, the
    Application's file the app. Objects are compared with a server-side apply dry-run, with Argo CD's
    normalizations, ignoreDifferences and Secret masking. Objects this app owns (tracking annotation)
    that Git no longer has show as Extraneous.

    Exit status: 0 no differences, 1 differences, 2 error.
    """
    from kubectl_gitops.commands import run_diff

    return run_diff(compare=compare, output=output,
                    color=use_color(color), kube=kube, log=progress, clusters=clusters)
