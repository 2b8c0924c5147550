"""kubectl gitops windows"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from kubectl_gitops.engine import CompareOptions
    from kubectl_gitops.fleet import FleetOptions
    from kubectl_gitops.kubeconfig import KubeOptions

from kubectl_gitops.cli.options import cluster_options, kube_options, output_option, progress, source_options


class _Time(click.ParamType):
    name = "TIME"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        from datetime import UTC

        if isinstance(value, datetime):
            return value
        try:
            t = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a time such as 2026-12-24T22:00:00Z or 2026-12-24T23:00+01:00", param, ctx)
        return t if t.tzinfo else t.replace(tzinfo=UTC)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@source_options
@click.option("--at", type=_Time(), help="Evaluate the windows at this time (ISO 8601; UTC unless it names an "
              "offset) instead of now.")
@output_option(["table", "json", "yaml"], "table")
@cluster_options
@kube_options
def windows(compare: CompareOptions, at: datetime | None, output: str,
            kube: KubeOptions, clusters: FleetOptions) -> int:
    """Show the sync windows that apply to each app, open or not, and whether a sync may run.

    TARGET is resolved as for `kubectl gitops diff`; projects come from the repository, the cluster's
    config namespace and --projects. For each window: its kind, schedule, duration and time zone, whether
    it is active, when it opens and closes, and whether it lets a manual sync through. The SYNC column
    is Argo CD's CanSync for a manual sync (what `kubectl gitops sync` is) at that time. Each app's
    destination is resolved as for `kubectl gitops sync` (--cluster, --clusters-file, --cluster-secrets)
    and shown as CLUSTER.

    Exit status: 0 every app may sync, 1 a window blocks one, 2 error (or a destination cluster did not
    answer: the apps of the others are shown).
    """
    from datetime import UTC

    from kubectl_gitops.commands import run_windows

    return run_windows(compare=compare, at=at or datetime.now(UTC), output=output,
                       kube=kube, log=progress, clusters=clusters)
