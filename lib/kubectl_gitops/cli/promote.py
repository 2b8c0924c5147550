"""`git promote`: the click commands. They only parse options; kubectl_gitops.promote does the work
and is imported when a command runs, so `git promote -h` stays fast."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kubectl_gitops import __version__

F = Callable[..., Any]


class PromoteGroup(click.Group):
    """`git promote ENV` is the main command: a first word that is not a command is an environment."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                            list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "to", self.commands["to"], args
        return super().resolve_command(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "ENV [OPTIONS]")
        formatter.write_usage(ctx.command_path, "COMMAND [ARGS]...", prefix="       ")

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [("ENV", "Promote into ENV from the environment before it (git promote ENV -h).")]
        rows += [(name, cmd.get_short_help_str(limit=formatter.width)) for name, cmd in self.commands.items()
                 if not cmd.hidden]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class EnvCommand(click.Command):
    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        assert ctx.parent is not None
        formatter.write_usage(ctx.parent.command_path, "[to] ENV [OPTIONS]")


def publish_options(f: F) -> F:
    """--dry-run, --branch and --push, shared by every command that commits."""
    f = click.option("--push", "push", is_flag=False, flag_value="origin", default=None, metavar="[REMOTE]",
                     help="Push the branch to REMOTE (default origin); a rejected push is an error.")(f)
    f = click.option("--branch", metavar="NAME",
                     help="Commit on a new branch NAME (checked out afterwards) instead of the current one.")(f)
    return click.option("--dry-run", is_flag=True, help="Show the diff and stop; write nothing.")(f)


def allow_latest_option(f: F) -> F:
    return click.option("--allow-latest", is_flag=True,
                        help="Allow images tagged latest or without tag or digest.")(f)


def _publish(dry_run: bool, branch: str | None, push: str | None) -> Any:
    from kubectl_gitops.promote.commands import Publish

    return Publish(dry_run=dry_run, branch=branch, push=push)


def _console() -> Any:
    from kubectl_gitops.promote.output import Console

    return Console.from_env()


@click.group(cls=PromoteGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="git promote")
def promote() -> None:
    """Promote pinned versions between environments, one commit per promotion.

    `git promote prod` copies what the environment before prod (e.g. staging) pins into prod's files,
    shows the diff and commits it: Kustomize images: entries (newName/newTag/digest), Helm values image
    blocks (image.tag/repository/digest) and Argo CD Application sources (targetRevision, a chart's
    version). The layout is detected (overlays/<env>, <svc>/overlays/<env>,
    services|apps/<svc>/overlays/<env>, envs|environments/<env>[/<svc>], clusters/<env>/<svc>,
    values-<env>.yaml) or read from .gitops/promotion.yaml; environments go
    dev -> test|qa -> staging -> prod unless configured.

    Exit codes: 0 promoted, 1 nothing to promote, 2 error (nothing written).
    See `man git-promote` (or `git promote --help` once the man page is installed).
    """


@promote.command("to", cls=EnvCommand, hidden=True)
@click.argument("env")
@click.option("--from", "source", metavar="ENV", help="Promote from ENV instead of the one before.")
@click.option("--service", "services", multiple=True, metavar="S", help="Only service S (repeatable).")
@click.option("--image", "images", multiple=True, metavar="NAME",
              help="Only image (or chart) NAME, full or last path segment (repeatable).")
@allow_latest_option
@publish_options
def to(env: str, source: str | None, services: tuple[str, ...], images: tuple[str, ...],
       allow_latest: bool, dry_run: bool, branch: str | None, push: str | None) -> int:
    """Promote into ENV from the environment before it.

    Copies each pin of the source environment's files to ENV's: images: entries (added when ENV does
    not have them yet), Helm values image blocks, Application source revisions. `to` is optional:
    `git promote prod`.
    """
    from kubectl_gitops.promote import commands

    return commands.promote(Path.cwd(), env, source=source, services=services, images=images,
                            allow_latest=allow_latest, publish=_publish(dry_run, branch, push),
                            console=_console())


@promote.command("set-image", short_help="Pin images in one environment (what CI runs after a build).")
@click.argument("specs", nargs=-1, required=True, metavar="NAME=TAG|NAME@DIGEST...")
@click.option("--env", metavar="ENV", help="Environment to change (default: the first, e.g. dev).")
@click.option("--service", "services", multiple=True, metavar="S",
              help="Only service S (repeatable); adds the image to its kustomization if it is missing.")
@allow_latest_option
@publish_options
def set_image(specs: tuple[str, ...], env: str | None, services: tuple[str, ...], allow_latest: bool,
              dry_run: bool, branch: str | None, push: str | None) -> int:
    """Pin images in one environment: what CI runs after a build.

    Sets the tag (NAME=TAG), digest (NAME@DIGEST) or both (NAME=TAG@DIGEST) wherever ENV pins image
    NAME: Kustomize newTag/digest (newName kept), Helm values tag/digest (repository kept; TAG@DIGEST in
    the tag when the values have no digest key), or an Application source's targetRevision (NAME=VERSION
    for a chart or repository NAME).
    """
    from kubectl_gitops.promote import commands

    return commands.set_image(Path.cwd(), specs, env=env, services=services, allow_latest=allow_latest,
                              publish=_publish(dry_run, branch, push), console=_console())


@promote.command(short_help="Table of pins per service and environment, and the layout.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def status(output: str) -> int:
    """Pins per service and environment; `*` marks an environment behind the one before it. The last
    line names the layout the files were found with."""
    from kubectl_gitops.promote import commands

    return commands.status(Path.cwd(), output=output, console=_console())


@promote.command(short_help="Revert the newest git promote commit into ENV.")
@click.argument("env")
@click.option("--service", "services", multiple=True, metavar="S",
              help="Undo only the changes to service S (repeatable).")
@publish_options
def undo(env: str, services: tuple[str, ...], dry_run: bool, branch: str | None, push: str | None) -> int:
    """Revert the newest git promote commit into ENV with a new commit.

    Refuses when a later commit changed the same lines.
    """
    from kubectl_gitops.promote import commands

    return commands.undo(Path.cwd(), env, services=services, publish=_publish(dry_run, branch, push),
                         console=_console())
