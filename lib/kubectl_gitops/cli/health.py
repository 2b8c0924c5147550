"""kubectl gitops health [FILE...] | kubectl gitops health fetch"""

from __future__ import annotations

from typing import Any

import click

from kubectl_gitops.cli.options import customizations_option, output_option, progress

CONTEXT = {"help_option_names": ["-h", "--help"]}
ASSESS = "assess"  # the hidden default command: `health FILE...`


class HealthGroup(click.Group):
    """`health FILE...` assesses files; `health fetch` is a subcommand. A first word that names no
    subcommand is a file, and the help shows the file form with the subcommands below it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not (args and (args[0] in self.commands or args[0] in CONTEXT["help_option_names"])):
            args = [ASSESS, *args]
        return super().parse_args(ctx, args)

    @property
    def default_command(self) -> click.Command:
        return self.commands[ASSESS]

    def get_help(self, ctx: click.Context) -> str:
        own = click.Context(self.default_command, info_name=ctx.info_name, parent=ctx.parent)
        subcommands = [(n, c.get_short_help_str()) for n, c in self.commands.items() if not c.hidden]
        formatter = ctx.make_formatter()
        with formatter.section("Commands"):
            formatter.write_dl(subcommands)
        return self.default_command.get_help(own) + "\n\n" + formatter.getvalue().rstrip()


@click.group(cls=HealthGroup, context_settings=CONTEXT)
def health() -> None:
    """Show the health of objects read from files or stdin, without a cluster."""


@health.command(ASSESS, hidden=True, context_settings=CONTEXT)
@click.argument("files", nargs=-1, metavar="[FILE]...", type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--argocd-cm", "argocd_cm", type=click.Path(exists=True, dir_okay=False),
              help="Health checks from this argocd-cm style ConfigMap file "
              "(resource.customizations.health.<group>_<kind>, useOpenLibs).")
@customizations_option
@output_option(["table", "json", "yaml"], "table")
def assess(files: tuple[str, ...], argocd_cm: str | None, resource_customizations: str | None,
           output: str) -> int:
    """Show the health of objects read from files or stdin, without a cluster.

    FILE is YAML or JSON with one or more objects (a List, as `kubectl get -o yaml` prints, is read item
    by item); without FILE, or with -, stdin. Each object is assessed as Argo CD would: an argocd-cm
    check first, then one from the resource customizations directory, then the built-in check for its
    kind. For writing and testing health scripts, like `argocd admin settings resource-overrides health`.

    Exit status: 0 every object with a health check is Healthy, 1 otherwise, 2 error.
    """
    from kubectl_gitops.health_command import run_health

    return run_health(files, argocd_cm=argocd_cm, resource_customizations=resource_customizations, output=output)


@health.command("fetch", context_settings=CONTEXT,
                short_help="Download Argo CD's bundled health checks into the cache.")
@click.option("--version", "version", metavar="VERSION",
              help="The Argo CD release, e.g. v3.1.0 (default: the latest release tag).")
@click.option("--repo", "url", metavar="URL", default="https://github.com/argoproj/argo-cd.git", show_default=True,
              help="The Git repository to fetch from (a mirror, on a site without access to GitHub).")
def fetch(**kwargs: Any) -> int:
    """Download a release's resource_customizations (Argo CD's bundled health checks) into the cache.

    Only the release's snapshot is fetched, with Git. Later runs of diff, status, sync and health use it
    unless --resource-customizations names another directory.
    """
    from kubectl_gitops.health_command import run_fetch

    return run_fetch(kwargs["version"], kwargs["url"], progress)
